"""Image operations (``images.read_chain``) → ``ImageSpec``, keeping the Modal chain's order exactly.

The Dockerfile template renders fixed sections in this order: apt packages, requirements file, pip
packages, run steps, env, copies, then raw lines (``dockerfile_extra``). Ops fill those sections
while the chain's order agrees with theirs; from the first op that would have to go *back* to an
earlier section, it and every later op become raw Dockerfile lines (``RUN``/``ENV``/``WORKDIR``/
``COPY``) in chain order. So ``.pip_install("a").pip_install_from_requirements("r.txt")`` installs
``a`` first, as on Modal, and ``.add_local_dir(..., copy=True).run_commands(...)`` copies first.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from falmigrate.importers.modal.images import ImageChain, ImageOp
from falmigrate.importers.modal.runtime import modal_requirement
from falmigrate.render.dockerfile import DEFAULT_PYTHON, PYTHON_VENV, uv_python_lines
from falmigrate.spec import Copy, Decision, ImageSpec, RunStep

# Sections of the Dockerfile template, in the order it renders them.
APT, REQUIREMENTS, PIP, RUN, ENV, COPY, RAW = range(7)
# GPU apps whose chain does not name its own base get NVIDIA's CUDA runtime + cuDNN image, chosen by
# the renderer from these (a tag that exists: 12.4.1 has no "cudnn8" variant); the renderer installs
# the spec's Python on it, so Modal's python_version is kept.
CUDA_VERSION = "12.1.1"
CUDNN_VERSION = "8"
# Modal 1.x's micromamba base (modal/builder/base-images.json, builder 2025.06) and its setup lines.
MICROMAMBA_BASE = "mambaorg/micromamba:2.1.1-debian12-slim"
# Where Modal's uv_sync keeps the project file, the lock and the venv.
UV_ROOT = "/.uv"


def _run_line(command: str) -> str:
    lines = [line.rstrip() for line in command.strip().splitlines() if line.strip()] or [""]
    if all(line.endswith("\\") for line in lines[:-1]):
        return "RUN " + "\n".join(lines)
    return "RUN " + " \\\n    && ".join(lines)


def pip_command(packages: list[str], options: list[str]) -> str:
    return "python3 -m pip install --no-cache-dir " + " ".join(shlex.quote(a) for a in [*options, *packages])


def apt_command(packages: list[str]) -> str:
    quoted = " ".join(shlex.quote(p) for p in packages)
    return (f"apt-get update && apt-get install -y --no-install-recommends {quoted} && rm -rf "
            "/var/lib/apt/lists/*")


class _Builder:
    """Folds ops into ImageSpec fields; ``cursor`` is the latest template section used so far."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {"env": {}, "run_steps": [], "copies": [], "dockerfile_extra": [],
                                     "system_packages": [], "python_requirements": []}
        self.cursor = APT
        self.copied_requirements = 0
        self.flags: dict[str, bool] = {}  # ImageSpec layout flags (workdir_late)

    def _enter(self, section: int) -> bool:
        """True (and the cursor moves) when ``section`` is not before the cursor."""
        if section < self.cursor or self.cursor == RAW:
            self.cursor = RAW
            return False
        self.cursor = section
        return True

    def raw(self, line: str) -> None:
        self.cursor = RAW
        self.data["dockerfile_extra"].append(line)

    def run(self, command: str) -> None:
        if self._enter(RUN):
            self.data["run_steps"].append(RunStep(command=command))
        else:
            self.raw(_run_line(command))

    def apt(self, packages: list[str]) -> None:
        if self._enter(APT):
            self.data["system_packages"] += packages
        else:
            self.raw(_run_line(apt_command(packages)))

    def pip(self, packages: list[str], options: list[str]) -> None:
        if not options and self._enter(PIP):
            self.data["python_requirements"] += packages
        else:
            self.run(pip_command(packages, options))

    def requirements(self, path: str, options: list[str]) -> None:
        if not options and "requirements_file" not in self.data and self._enter(REQUIREMENTS):
            self.data["requirements_file"] = path
            return
        # the project is copied last, so the file is copied in first (as Modal does)
        target = f"/tmp/falmigrate-requirements-{self.copied_requirements}.txt"
        self.copied_requirements += 1
        self.raw(f"COPY {path} {target}")
        self.raw(_run_line(pip_command(["-r", target], options)))

    def env(self, values: dict[str, str]) -> None:
        if self._enter(ENV):
            self.data["env"].update(values)
        else:
            for key, value in values.items():
                self.raw(f"ENV {key}={json.dumps(value)}")

    def workdir(self, path: str) -> None:
        # The template's WORKDIR is also where the project is copied, so it is the last Modal workdir.
        # It renders right after apt, or (flag) right after the env section; a workdir later than
        # that is repeated at its own place.
        self.data["workdir"] = path
        if self.cursor == APT:
            return
        if self.cursor <= ENV and not self.flags:
            self.flags["workdir_late"] = True
            self.cursor = ENV
            return
        self.flags.pop("workdir_late", None)
        self.raw(f"WORKDIR {path}")

    def copy(self, src: str, dest: str) -> None:
        if self._enter(COPY):
            self.data["copies"].append(Copy(src=src, dest=dest))
        else:
            self.raw(f"COPY {src} {dest}")


def _base(b: _Builder, value: dict[str, Any], chain: ImageChain) -> None:
    data = b.data
    data["python"] = value.get("python")
    kind = value["kind"]
    if kind in ("registry", "dockerfile"):
        data["base"] = value.get("ref")
        if value.get("workdir"):  # the project is copied where that Dockerfile's steps left the cwd
            data["workdir"] = value["workdir"]
        for line in value.get("lines", []):
            b.raw(line)
        if value.get("python"):
            # Modal's add_python copies a standalone CPython of that version into the image; uv installs
            # the same builds (python-build-standalone) into a venv that comes first on PATH.
            for line in uv_python_lines(str(value["python"])):
                b.raw(line)
            chain.decisions.append(Decision(
                source=f"add_python={value['python']!r}", location=value.get("location"),
                target=f"Python {value['python']} installed with uv into {PYTHON_VENV} (first on PATH)",
                note="the same standalone CPython builds Modal uses; downloaded while the image builds"))
    elif kind == "micromamba":
        python = value.get("python") or DEFAULT_PYTHON
        data["base"] = MICROMAMBA_BASE
        # The same setup Modal's micromamba image runs; USER root so later apt/pip steps can write.
        for line in ('SHELL ["/usr/local/bin/_dockerfile_shell.sh"]', "USER root",
                     "ENV MAMBA_DOCKERFILE_ACTIVATE=1",
                     (f"RUN micromamba install -n base -y python={python} pip -c conda-forge && "
                      "micromamba clean -a -y"),
                     "ENV PATH=/opt/conda/bin:$PATH"):
            b.raw(line)


def _uv_sync(b: _Builder, value: dict[str, Any]) -> None:
    """Modal's uv_sync: the project's pyproject.toml (+ uv.lock) synced into a venv first on PATH. uv comes
    from PyPI (Modal copies it from its container image); the venv is seeded with pip and synced
    ``--inexact`` so later ``pip install`` steps (fal's) still work in it."""
    folder = "" if value["dir"] in (".", "./") else value["dir"].rstrip("/") + "/"
    b.raw(_run_line(pip_command([f"uv=={value['uv']}" if value["uv"] else "uv"], [])))
    b.raw(f"COPY {folder}pyproject.toml {UV_ROOT}/pyproject.toml")
    if value["lock"]:
        b.raw(f"COPY {folder}uv.lock {UV_ROOT}/uv.lock")
    args = [f"--project={UV_ROOT}", "--inexact", "--no-install-workspace", "--compile-bytecode"]
    args += [f"--group={g}" for g in value["groups"]] + [f"--extra={e}" for e in value["extras"]]
    args += ((["--frozen"] if value["lock"] and value["frozen"] else [])
             + ([value["options"]] if value["options"] else []))
    # UV_NATIVE_TLS: uv trusts the system's CA certificates, as pip does (a TLS-inspecting proxy's too)
    b.raw(f"RUN export UV_NATIVE_TLS=1 && uv venv --seed {UV_ROOT}/.venv && uv sync {' '.join(args)}")
    b.raw(f'ENV VIRTUAL_ENV={UV_ROOT}/.venv PATH="{UV_ROOT}/.venv/bin:$PATH"')


def _call(b: _Builder, value: dict[str, Any]) -> None:
    """Image.run_function: the project's code at this point, and a RUN that
    imports the module and calls it."""
    workdir = b.data.get("workdir") or "/app"
    script = f"import {value['module']}; {value['call']}"
    b.raw(f"COPY . {workdir}")
    b.raw(_run_line(f"{pip_command([modal_requirement()], [])} && cd {workdir} && python3 -c "
                    f"{shlex.quote(script)}"))


def _copy_modules(b: _Builder, modules: list[str]) -> None:
    workdir = b.data.get("workdir") or "/app"
    for module in modules:
        path = module.replace(".", "/")
        b.raw(f"COPY {path} {workdir}/{path}")


def _todo(b: _Builder, value: tuple[str, str]) -> None:
    rule, message = value
    b.raw(f"# TODO(falmigrate {rule}): {message}")


def _steps(b: _Builder, op: ImageOp, chain: ImageChain) -> None:
    value = op.value
    handlers: dict[str, Any] = {
        "base": lambda: _base(b, value, chain),
        "apt": lambda: b.apt(value),
        "pip": lambda: b.pip([*(x for r in value["requirements"] for x in ("-r", r)), *value["packages"]],
                             value["options"]),
        "pip_requirements": lambda: b.requirements(value["path"], value["options"]),
        "run": lambda: [b.run(c) for c in (value if isinstance(value, list) else [value])],
        "env": lambda: b.env(value),
        "workdir": lambda: b.workdir(value),
        "copy": lambda: b.copy(*value),
        "extra": lambda: [b.raw(line) for line in value],
        "todo": lambda: _todo(b, value),
        "uv_sync": lambda: _uv_sync(b, value),
        "call": lambda: _call(b, value),
        "copy_modules": lambda: _copy_modules(b, value),
    }
    handlers[op.kind]()


def to_image_spec(chain: ImageChain, *, gpu: bool, env: dict[str, str] | None = None) -> ImageSpec:
    """The IR image for a chain, in the chain's order (see the module docstring)."""
    b = _Builder()
    if chain.base_unknown:
        b.cursor = RAW  # the TODO for the base comes first; every later step keeps its place after it
    for op in chain.ops:
        _steps(b, op, chain)
    data = b.data
    if env:  # the function's env= applies to the running container, after the image is built
        b.env(env)
    if gpu and data.get("base") is None and not chain.base_unknown:
        data["cuda"], data["cudnn"] = CUDA_VERSION, CUDNN_VERSION
        data["python"] = data.get("python") or DEFAULT_PYTHON
    chain.render_flags.update(b.flags)
    return ImageSpec(**{k: v for k, v in data.items() if v is not None})
