"""cog.yaml ``build`` → ImageSpec + HardwareSpec, choosing the base image the way cog does.

cog picks CUDA/cuDNN from the pinned ``torch`` version when ``build.cuda`` is not given; the
compatibility table is data (``data/compat.json``), so adding a torch or CUDA release is a data edit.
CPU apps get ``python:<python_version>-slim-bookworm`` (via the renderer); GPU apps an
``nvidia/cuda`` runtime base with Ubuntu's python3 installed by apt.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

from falmigrate.importers.cog import mapping
from falmigrate.importers.cog.config import CogConfig
from falmigrate.spec import Copy, Decision, Finding, HardwareSpec, ImageSpec, RunStep, SecretMount

_SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
_TORCH_PIN = re.compile(r"^\s*torch\s*==\s*(\d+)\.(\d+)", re.IGNORECASE)


@dataclass
class ImagePlan:
    image: ImageSpec
    hardware: HardwareSpec
    secrets: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version))


def _major_minor(version: str) -> str:
    parts = re.findall(r"\d+", version)
    return ".".join(parts[:2]) if len(parts) >= 2 else (parts[0] if parts else version)


def torch_version(requirements: list[str]) -> str | None:
    """``major.minor`` of a ``torch==`` pin among requirement lines, if any."""
    for line in requirements:
        match = _TORCH_PIN.match(line.split("#", 1)[0])
        if match:
            return f"{match.group(1)}.{match.group(2)}"
    return None


def _requirement_lines(root: Path, config: CogConfig) -> list[str]:
    lines = [str(p) for p in config.build.get("python_packages") or []]
    req = config.build.get("python_requirements")
    if req:
        path = Path(root) / str(req)
        if not path.is_file():
            raise config.error(f"build.python_requirements: {req} does not exist", "build", "python_requirements")
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


def _pick_cuda(config: CogConfig, torch: str | None, plan: ImagePlan) -> tuple[str, str]:
    """(CUDA major.minor, cuDNN major) with a base image in the table; FM113 when overriding the user."""
    data = mapping.compat()
    images = data["cuda_images"]
    torch_info = data["torch"].get(torch) if torch else None
    asked = config.text("build", "cuda")
    if asked:
        cuda = _major_minor(asked)
        if torch_info and cuda not in torch_info["cuda"]:
            _warn_compat(config, plan, f"build.cuda {asked} is not one torch {torch} was built for "
                         f"({', '.join(torch_info['cuda'])})", "cuda")
        if cuda not in images:
            same_major = [c for c in images if c.split(".")[0] == cuda.split(".")[0]
                          and _version_key(c) <= _version_key(cuda)]
            chosen = max(same_major, key=_version_key) if same_major else data["default_cuda"]
            _warn_compat(config, plan, f"no base image known for CUDA {asked}; using CUDA {chosen}", "cuda")
            cuda = chosen
    elif torch_info:
        cuda = max((c for c in torch_info["cuda"] if c in images), key=_version_key)
    else:
        cuda = data["default_cuda"]
    available = images[cuda]["cudnn"]
    asked_cudnn = config.text("build", "cudnn")
    wanted = _major_minor(asked_cudnn).split(".")[0] if asked_cudnn else (torch_info or {}).get("cudnn")
    if wanted in available:
        return cuda, wanted
    chosen = max(available, key=int)
    if asked_cudnn:
        _warn_compat(config, plan, f"no CUDA {cuda} base with cuDNN {asked_cudnn}; using cuDNN {chosen}", "cudnn")
    return cuda, chosen


def _warn_compat(config: CogConfig, plan: ImagePlan, message: str, key: str,
                 remediation: str = "check the CUDA/cuDNN your wheels need and edit the Dockerfile's FROM") -> None:
    plan.findings.append(Finding(rule="FM113", severity=mapping.severity("FM113"), message=message,
                                 remediation=remediation, location=config.loc("build", key)))


def _gpu(config: CogConfig, image: dict, torch: str | None, plan: ImagePlan) -> None:
    data = mapping.compat()
    cuda, cudnn = _pick_cuda(config, torch, plan)
    info = data["cuda_images"][cuda]
    python = config.text("build", "python_version") or data["default_python"]
    # cog installs build.python_version on the CUDA image (pyenv); the renderer installs it with uv,
    # which fal needs too: the image's Python minor version must match the one `fal deploy` runs
    image.update(base=info["cudnn"][cudnn], cuda=info["full"], cudnn=cudnn, python=python)
    why = f"torch {torch}" if torch and not config.text("build", "cuda") else "build.cuda" \
        if config.text("build", "cuda") else "default"
    plan.decisions.append(Decision(source=f"build.gpu: true (CUDA {cuda}, cuDNN {cudnn} from {why})",
                                   target=f"`FROM {info['cudnn'][cudnn]}`",
                                   note="cog builds on the larger CUDA *devel* image (with nvcc); if a build "
                                        "step compiles CUDA code, change `-runtime-` to `-devel-` in FROM",
                                   location=config.loc("build", "gpu")))
    plan.decisions.append(Decision(source=f"build.python_version {python} (GPU)",
                                   target=f"Python {python} installed with uv into /opt/venv (first on PATH)",
                                   note="cog installs it with pyenv; fal needs the same Python minor version "
                                        "as the one you run `fal deploy` with",
                                   location=config.loc("build", "python_version")))
    plan.hardware = HardwareSpec(machine_type=data["gpu_machine"], gpu=True)
    plan.findings.append(Finding(
        rule="FM102", severity=mapping.severity("FM102"),
        message=f"build.gpu: true — Replicate picks the GPU per deployment; machine_type is set to "
                f"{data['gpu_machine']}",
        remediation="set machine_type in fal_app.py to the GPU the model needs (GPU-A6000, GPU-A100, GPU-H100, …)",
        location=config.loc("build", "gpu")))


def _torch_index(config: CogConfig, image: dict, torch: str | None, plan: ImagePlan) -> None:
    """A pinned torch is installed from PyTorch's index for the image's CUDA (``cu118``…) or ``cpu``,
    as cog does: PyPI's default wheel may target another CUDA, and on CPU it carries gigabytes of CUDA
    libraries. ``PIP_EXTRA_INDEX_URL`` is set before the pip layers (an ENV the user set wins)."""
    data = mapping.compat()
    info = data["torch"].get(torch) if torch else None
    if info is None or "PIP_EXTRA_INDEX_URL" in image["env"]:
        return
    cuda = _major_minor(image["cuda"]) if image.get("cuda") else None
    if cuda is not None and cuda not in info["cuda"]:
        return  # FM113 already says the pair does not match; no index has that build
    tag = f"cu{cuda.replace('.', '')}" if cuda else "cpu"
    url = data["torch_index"].format(tag=tag)
    image["env"] = {**image["env"], "PIP_EXTRA_INDEX_URL": url}
    key = "python_requirements" if config.build.get("python_requirements") else "python_packages"
    plan.decisions.append(Decision(
        source=f"torch {torch} pinned ({f'CUDA {cuda}' if cuda else 'no GPU'})",
        target=f"`ENV PIP_EXTRA_INDEX_URL={url}` before the pip layers",
        note=f"pip takes the torch build for {f'CUDA {cuda}' if cuda else 'CPU only (no CUDA libraries)'}, "
             "from the PyTorch index cog uses too", location=config.loc("build", key)))


def _torch_python(config: CogConfig, python: str, torch: str | None, plan: ImagePlan) -> None:
    """FM113 when the pinned torch has no wheels for the image's Python (pip would fail at build)."""
    info = mapping.compat()["torch"].get(torch) if torch else None
    if info and _major_minor(python) not in info["python"]:
        _warn_compat(config, plan, f"torch {torch} has no wheels for Python {python} "
                     f"({', '.join(info['python'])})", "python_version",
                     "pin a torch release built for this Python, or change build.python_version")


def plan_image(root: Path, config: CogConfig) -> ImagePlan:
    """The ImageSpec/HardwareSpec for ``config`` plus the findings and decisions made on the way."""
    build = config.build
    requirements = _requirement_lines(root, config)
    env, secrets = {}, []
    for item in config.data.get("environment") or []:
        key, value = item.split("=", 1)
        if _SECRET_NAME.search(key):
            secrets.append(key)
            continue
        env[key] = value
    image: dict = {
        "python": config.text("build", "python_version") or mapping.compat()["default_python"],
        "system_packages": [str(p) for p in build.get("system_packages") or []],
        "python_requirements": [str(p) for p in build.get("python_packages") or []],
        "requirements_file": str(build["python_requirements"]) if build.get("python_requirements") else None,
        "run_steps": _run_steps(config),
        "env": env,
        "workdir": "/src",
        "copies": weight_copies(config),
    }
    plan = ImagePlan(image=ImageSpec(), hardware=HardwareSpec(machine_type=mapping.compat()["cpu_machine"]),
                     secrets=sorted(secrets))
    for index, item in enumerate(config.data.get("environment") or []):
        if item.split("=", 1)[0] in secrets:
            plan.findings.append(Finding(
                rule="FM117", severity=mapping.severity("FM117"),
                message=f"environment {item.split('=', 1)[0]} looks like a secret: its value is not copied",
                remediation=f"create it in fal: `fal secrets set {item.split('=', 1)[0]}=…` (the app lists it in `secrets`)",
                location=config.loc("environment", index)))
    torch = torch_version(requirements)
    if build.get("gpu") is True:
        _gpu(config, image, torch, plan)
    elif build.get("gpu") not in (None, False):
        raise config.error("`build.gpu` must be true or false", "build", "gpu")
    _torch_index(config, image, torch, plan)
    _torch_python(config, image["python"], torch, plan)
    for step in image["run_steps"]:
        if step.secrets:
            first = step.secrets[0].id
            plan.decisions.append(Decision(
                source=f"build.run with secret mount(s) {', '.join(s.id for s in step.secrets)}",
                target=f"`RUN --mount=type=secret,id={first},…` (BuildKit)",
                note=f"pass each secret when building: `docker build --secret id={first},src=FILE`; "
                     "it is never stored in a layer", location=step.location))
    plan.image = ImageSpec(**image)
    return plan
