"""cog.yaml ``build`` → ImageSpec + HardwareSpec, on the base image cog itself would choose.

The base comes from ``bases.cog_base`` (cog's own decision table for the release it mirrors: CUDA from
``build.cuda`` or the pinned torch, the cuDNN **devel** image, Python). On a CUDA base the project's
Python is installed with uv, as cog does. ``build.run`` steps keep cog's order; tools they call that
cog's base image has (curl, wget, git…) but ours may not are installed before them.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

from falmigrate.importers.cog import bases, mapping
from falmigrate.importers.cog.bases import CogBase, cog_base, major_minor
from falmigrate.importers.cog.config import CogConfig
from falmigrate.importers.cog.layout import cuda_build_evidence, run_step_tools
from falmigrate.spec import Copy, Decision, Finding, HardwareSpec, ImageSpec, Location, RunStep, SecretMount

_SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
_TORCH_PIN = re.compile(r"^\s*torch\s*==\s*(\d+(?:\.\d+){0,2})", re.IGNORECASE)
MIN_PYTHON = "3.10"  # fal's minimum (routes raises older pins); cog 0.23 refuses older ones too


@dataclass
class ImagePlan:
    image: ImageSpec
    hardware: HardwareSpec
    base: CogBase | None = None
    secrets: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    requirements: list[str] = field(default_factory=list)  # the requirement lines cog installs


def torch_version(requirements: list[str]) -> str | None:
    """The version of a ``torch==`` pin among requirement lines (``2.3.1``), if any."""
    for line in requirements:
        match = _TORCH_PIN.match(line.split("#", 1)[0])
        if match:
            return match.group(1)
    return None


def requirement_lines(root: Path, config: CogConfig) -> list[str]:
    lines = [str(p) for p in config.build.get("python_packages") or []]
    req = config.build.get("python_requirements")
    if req:
        path = Path(root) / str(req)
        if not path.is_file():
            raise config.error(f"build.python_requirements: {req} does not exist", "build",
                               "python_requirements")
        lines += path.read_text(encoding="utf-8").splitlines()
    return lines


def _run_steps(config: CogConfig) -> list[RunStep]:
    """``build.run`` then the deprecated ``build.pre_install``: cog's generator appends pre_install
    commands after the run commands (both after the pip install), so the image is built in cog's order."""
    steps = []
    for index, step in enumerate(config.build.get("run") or []):
        location = config.loc("build", "run", index)
        if isinstance(step, str):
            steps.append(RunStep(command=step, location=location))
            continue
        mounts = [SecretMount(id=str(m["id"]), target=m.get("target")) for m in step.get("mounts") or []]
        steps.append(RunStep(command=step["command"], secrets=mounts, location=location))
    steps += [RunStep(command=str(c), location=config.loc("build", "pre_install", i))
              for i, c in enumerate(config.build.get("pre_install") or [])]
    return steps


def weight_copies(config: CogConfig) -> list[Copy]:
    """``weights:`` entries whose target is not where ``COPY . /src`` puts the source anyway."""
    entries = config.data.get("weights")
    if entries is None:
        return []
    if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("source"), str)
                                                 for e in entries):
        raise config.error("`weights` must be a list of {source: path, target: path}", "weights")
    copies = []
    for entry in entries:
        source = posixpath.normpath(entry["source"])
        target = entry.get("target")
        if isinstance(target, str) and posixpath.normpath(target) != posixpath.join("/src", source):
            copies.append(Copy(src=source, dest=target))
    return copies


def _finding(rule: str, message: str, remediation: str, location: Location | None) -> Finding:
    return Finding(rule=rule, severity=mapping.severity(rule), message=message, remediation=remediation,
                   location=location)


def _devel_decision(root: Path, config: CogConfig, base: CogBase, image: dict, plan: ImagePlan) -> None:
    if not base.devel:
        return
    evidence = cuda_build_evidence(root, image["run_steps"], plan.requirements)
    if evidence:
        plan.decisions.append(Decision(
            source=f"the project compiles CUDA code: {', '.join(evidence[:4])}"
            + (" …" if len(evidence) > 4 else ""),
            target=f"the devel base `{base.image}` (nvcc and the CUDA headers)",
            note="a CUDA runtime base has neither: that build or start-up step would fail",
            location=config.loc("build", "gpu")))


def _base_findings(config: CogConfig, base: CogBase, plan: ImagePlan) -> None:
    """FM113 for what cog would warn about; the decision says how cog chose the base."""
    key = "cuda" if config.text("build", "cuda") else "python_version"
    for problem in base.problems:
        plan.findings.append(_finding("FM113", problem,
                                      "pin a torch release built for this CUDA and Python, or "
                                      "change build.cuda / build.python_version", config.loc("build", key)))
    flavour = f"CUDA {base.cuda}, cuDNN {base.cudnn} devel image" if base.gpu else "CPU image"
    said = config.build.get("gpu")
    plan.decisions.append(Decision(
        source=(f"build.gpu: {str(said).lower()}" if said is not None else "no build.gpu")
        + f" ({'; '.join(base.reasons)})",
        target=f"`FROM {base.image}`",
        note=f"the {flavour} cog {bases.mirrored_cog_version()} builds on"
             + (" (nvcc and headers included, so build steps that compile CUDA code work as under cog); "
                f"Python {base.python} installed with uv into /opt/venv, first on PATH" if base.gpu else
                " (Debian bookworm pinned)"),
        location=config.loc("build", "gpu" if said is not None else "python_version")))


def _gpu_hardware(config: CogConfig, plan: ImagePlan) -> None:
    data = bases.table()["machines"]
    plan.hardware = HardwareSpec(machine_type=data["gpu"], gpu=True)
    plan.findings.append(_finding(
        "FM102",
        f"build.gpu: true — Replicate picks the GPU per deployment; machine_type is set to {data['gpu']}",
        "set machine_type in pyproject.toml to the GPU the model needs (GPU-A6000, GPU-A100, GPU-H100, …)",
        config.loc("build", "gpu")))


def _torch_index(config: CogConfig, image: dict, base: CogBase, plan: ImagePlan) -> None:
    """A pinned torch is installed from PyTorch's index for the image's CUDA (``cu121``…) or ``cpu``,
    as cog does: PyPI's default wheel may target another CUDA, and on CPU it carries gigabytes of CUDA
    libraries. ``PIP_EXTRA_INDEX_URL`` is set before the pip layers (an ENV the user set wins)."""
    if base.torch is None or not bases.torch_cudas(base.torch) or "PIP_EXTRA_INDEX_URL" in image["env"]:
        return
    if base.gpu and base.torch_cuda is None:
        return  # FM113 already says the pair does not match; no index has that build
    url = bases.torch_index(base.torch_cuda if base.gpu else None)
    image["env"] = {**image["env"], "PIP_EXTRA_INDEX_URL": url}
    build = f"CUDA {base.torch_cuda}" if base.gpu else "CPU only (no CUDA libraries)"
    key = "python_requirements" if config.build.get("python_requirements") else "python_packages"
    plan.decisions.append(Decision(
        source=f"torch {base.torch} pinned ({build})",
        target=f"`ENV PIP_EXTRA_INDEX_URL={url}` before the pip layers",
        note=f"pip takes the torch build for {build}, from the PyTorch index cog uses too",
        location=config.loc("build", key)))


def _run_tools(image: dict, base: CogBase, plan: ImagePlan) -> None:
    """Tools the run steps call (curl, wget, git…) go into the apt layer, which comes before them."""
    have = set(image["system_packages"])
    for step in image["run_steps"]:
        for package in run_step_tools(step.command):
            if package in have:
                continue
            have.add(package)
            image["system_packages"] = [*image["system_packages"], package]
            plan.decisions.append(Decision(
                source=f"build.run step uses `{package}`",
                target=f"`{package}` in the apt layer, before the run steps",
                note="cog's base image has it" + (" (cog's CUDA path installs wget, curl, git and xz-utils)"
                                                   if base.gpu else " (curl: cog installs it for tini)")
                     + f"; {base.image.split(':')[0]} may not", location=step.location))


def _environment(config: CogConfig, plan: ImagePlan) -> dict[str, str]:
    env: dict[str, str] = {}
    for index, item in enumerate(config.data.get("environment") or []):
        key, value = item.split("=", 1)
        if not _SECRET_NAME.search(key):
            env[key] = value
            continue
        plan.secrets.append(key)
        plan.findings.append(_finding(
            "FM117", f"environment {key} looks like a secret: its value is not copied",
            f"create it in fal: `fal secrets set {key}=…` (the app lists it in `secrets`)",
            config.loc("environment", index)))
    plan.secrets.sort()
    return env


def _secret_mount_decisions(steps: list[RunStep], plan: ImagePlan) -> None:
    for step in steps:
        if step.secrets:
            first = step.secrets[0].id
            plan.decisions.append(Decision(
                source=f"build.run with secret mount(s) {', '.join(s.id for s in step.secrets)}",
                target=f"`RUN --mount=type=secret,id={first},…` (BuildKit); the "
                       f"pyproject's image table passes the fal secret `{first}` to the build",
                note=f"create it once with `fal secrets set {first}=…`; locally: `docker build --secret "
                     f"id={first},src=FILE`; it is never stored in a layer", location=step.location))


def plan_image(root: Path, config: CogConfig, *, gpu: bool | None = None) -> ImagePlan:
    """The ImageSpec/HardwareSpec for ``config`` plus the findings and decisions made on the way;
    ``gpu`` overrides ``build.gpu`` (GPU evidence found in a project whose cog.yaml does not say)."""
    build = config.build
    if build.get("gpu") not in (None, True, False):
        raise config.error("`build.gpu` must be true or false", "build", "gpu")
    requirements = requirement_lines(root, config)
    plan = ImagePlan(image=ImageSpec(), hardware=HardwareSpec(machine_type=bases.table()["machines"]["cpu"]),
                     requirements=requirements)
    pinned = config.text("build", "python_version")
    python = (pinned if pinned is None or bases.version_key(pinned) >= bases.version_key(MIN_PYTHON)
              else MIN_PYTHON)
    use_gpu = bool(build.get("gpu")) if gpu is None else gpu
    base = cog_base(gpu=use_gpu, python=python, cuda=config.text("build", "cuda"),
                    cudnn=config.text("build", "cudnn"), torch=torch_version(requirements))
    plan.base = base
    image: dict = {
        "base": base.image, "python": pinned or base.python,
        "cuda": base.cuda, "cudnn": base.cudnn,
        "system_packages": [str(p) for p in build.get("system_packages") or []],
        "python_requirements": [str(p) for p in build.get("python_packages") or []],
        "requirements_file": str(build["python_requirements"]) if build.get("python_requirements") else None,
        "run_steps": _run_steps(config), "env": _environment(config, plan), "workdir": "/src",
        "copies": weight_copies(config),
    }
    if use_gpu:
        _gpu_hardware(config, plan)
    _base_findings(config, base, plan)
    _devel_decision(root, config, base, image, plan)
    _torch_index(config, image, base, plan)
    _run_tools(image, base, plan)
    _secret_mount_decisions(image["run_steps"], plan)
    if pinned and python != pinned:
        plan.decisions.append(Decision(
            source=f"build.python_version {pinned}",
            target=f"Python {python} for cog's base and torch pairing",
            note=f"cog {bases.mirrored_cog_version()} itself refuses Python below {MIN_PYTHON} "
                 "(the project was built with an older cog); pinned packages are checked "
                 "against the raised version",
            location=config.loc(
                     "build", "python_version")))
    if not pinned:
        plan.findings.append(_finding(
            "FM127",
            f"cog.yaml sets no build.python_version: the image gets Python {base.python}, the default of "
            f"cog {bases.mirrored_cog_version()} (older cog releases defaulted to older Pythons)",
            "pin build.python_version to the Python the model was built with", config.loc("build")))
    plan.image = ImageSpec(**image)
    return plan


__all__ = ["ImagePlan", "major_minor", "plan_image", "requirement_lines", "torch_version", "weight_copies"]
