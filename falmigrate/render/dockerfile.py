"""Dockerfile values from an ImageSpec: base image, apt, pip, run steps, env, code copy, port.

Layers are ordered so dependencies are cached and the user's code (which changes most) comes last:
system packages → requirements → run steps → env → extra copies → ``COPY . <workdir>``. pip runs with
``PIP_BREAK_SYSTEM_PACKAGES=1`` so the file also builds on a plain Debian bookworm + python3 base
(what ``falmigrate build --base-image`` uses in tests). RUN steps that need secrets use BuildKit
``--mount=type=secret`` (no ``# syntax=`` line: Docker ≥ 20.10's built-in frontend knows it, and a
syntax line would have to pull a frontend image from Docker Hub).

What fal's runtime needs from a custom image (fal docs, "fal Platform Requirements", and
``fal/api/api.py``): ``curl`` (used when a runner starts); pydantic/protobuf/boto3 versions the fal
SDK supports, which installing ``fal`` as the last dependency step guarantees; and a ``python3`` of
the same minor version as the interpreter that runs ``fal deploy``, because the app is pickled there
and unpickled in the image. The fal step comes right before the code copy (importers opt out with
``ImageSpec.fal_runtime = False`` for images fal's runtime is not injected into). When the
renderer picks the CUDA base itself, Ubuntu's apt python3 (3.10 on 22.04) would not match the spec's
Python, so that Python is installed with uv (a pinned uv image, python-build-standalone) into
``/opt/venv``, which comes first on PATH.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from falmigrate.render import render_template
from falmigrate.spec import AppSpec, ImageSpec, RunStep, ServerSpec

TEMPLATE = "Dockerfile.j2"
DEFAULT_PYTHON = "3.11"
DEFAULT_CUDNN = "8"
# python:*-slim is Debian bookworm; apt then has python3 already
PYTHON_BASE = "python:{python}-slim-bookworm"
CUDA_BASE = "nvidia/cuda:{cuda}-cudnn{cudnn}-runtime-ubuntu22.04"
UV_IMAGE = "ghcr.io/astral-sh/uv:0.11.7"
PYTHON_VENV = "/opt/venv"
PTH_FILE = "falmigrate-app.pth"
# The fal SDK whose pyproject routes (python_entry_point + image, image-only apps) generated apps target;
# what the image pins when no other version is asked for.
TARGET_FAL_VERSION = "1.83.0"


def _cuda_version(cuda: str) -> str:
    parts = cuda.split(".")
    while len(parts) < 3:
        parts.append("0")
    return ".".join(parts[:3])


def base_image(image: ImageSpec) -> str:
    """The FROM image: the spec's, else CUDA runtime when CUDA is needed, else python slim."""
    if image.base:
        return image.base
    if image.cuda:
        return CUDA_BASE.format(cuda=_cuda_version(image.cuda), cudnn=image.cudnn or DEFAULT_CUDNN)
    return PYTHON_BASE.format(python=image.python or DEFAULT_PYTHON)


def _apt_packages(image: ImageSpec) -> list[str]:
    return sorted(dict.fromkeys(image.system_packages))


def _python_lines(image: ImageSpec, on_given_base: bool = False) -> list[str]:
    """Dockerfile lines that provide the spec's Python on a renderer-chosen CUDA base (none otherwise);
    ``on_given_base``: also on a CUDA base the importer chose (``ImageSpec.python_from_uv``)."""
    if not image.cuda or (image.base and not on_given_base):
        return []
    return uv_python_lines(image.python or DEFAULT_PYTHON)


def uv_python_lines(version: str) -> list[str]:
    """Python ``version`` (python-build-standalone, via uv) in a venv that comes first on PATH. Also
    used by importers whose platform adds a Python at a fixed point of the image chain."""
    return [
        f"COPY --from={UV_IMAGE} /uv /usr/local/bin/uv",
        # UV_NATIVE_TLS: uv trusts the system's CA certificates, as pip does (a TLS-inspecting proxy's too)
        ("RUN UV_NATIVE_TLS=1 UV_PYTHON_INSTALL_DIR=/opt/python uv venv --seed --python "
         f"{version} {PYTHON_VENV}"),
        f'ENV VIRTUAL_ENV={PYTHON_VENV} PATH="{PYTHON_VENV}/bin:$PATH"',
    ]


def _run_line(step: RunStep) -> str:
    mounts = []
    for secret in step.secrets:
        mount = f"--mount=type=secret,id={secret.id}"
        if secret.target:
            mount += f",target={secret.target}"
        mounts.append(mount)
    lines = [line.rstrip() for line in step.command.strip().splitlines()] or [""]
    if all(line.endswith("\\") for line in lines[:-1]):
        command = "\n".join(lines)
    else:  # a multi-line script: one shell command per line, stop at the first failure
        command = " \\\n    && ".join(line for line in lines if line.strip())
    return " ".join(["RUN", *mounts, command])


def _json_list(values: list[str] | None) -> str | None:
    return json.dumps(list(values)) if values is not None else None


def pth_command(code_dirs: list[str], python: str = "python3") -> str:
    """A RUN command writing a .pth file into the image Python's site-packages, so the app's code
    imports from any working directory (fal's runner may replace PYTHONPATH, never site-packages)."""
    lines = "".join(f"{folder}\\n" for folder in code_dirs)
    script = ("import pathlib, site; pathlib.Path(site.getsitepackages()[0], "
              f"'{PTH_FILE}').write_text('{lines}')")
    return f'{python} -c "{script}"'


def needs_fal_runtime(spec: AppSpec) -> bool:
    """fal's runner imports an entry point inside the image: it needs curl, fal and importable code."""
    return spec.image.fal_runtime and any(app.route == "entry_point" for app in spec.served_apps())


def launched_servers(spec: AppSpec) -> list[ServerSpec]:
    """Servers of image-only apps that run through a launcher module written next to the Dockerfile."""
    return [app.server for app in spec.served_apps()
            if app.route == "image_only" and app.server is not None and app.server.launcher]


def launcher_file(launcher: str) -> str:
    """The file name a launcher module (``falmigrate/apptemplates/<launcher>.py``) gets in the output."""
    return f"falmigrate_{launcher}.py"


def context(spec: AppSpec, fal_version: str) -> dict[str, Any]:
    image = spec.image
    workdir = image.workdir or "/app"
    launched = launched_servers(spec)
    requirements = list(dict.fromkeys(r for server in launched for r in server.requirements))
    cmd = image.cmd if image.cmd is not None or not launched else launched[0].command
    return {
        "platform": spec.source.platform,
        "base": base_image(image),
        "cuda": image.cuda,
        "python_lines": _python_lines(image, image.python_from_uv),
        "apt_packages": _apt_packages(image),
        "workdir": workdir,
        "requirements_file": image.requirements_file,
        "requirements_target": "/tmp/falmigrate-requirements.txt",
        "pip_packages": [shlex.quote(p) for p in image.python_requirements],
        "run_lines": [_run_line(step) for step in image.run_steps],
        "uses_secrets": any(step.secrets for step in image.run_steps),
        "secret_ids": sorted({s.id for step in image.run_steps for s in step.secrets}),
        "env": [(key, json.dumps(value)) for key, value in sorted(image.env.items())],
        "copies": [(c.src, c.dest) for c in image.copies],
        "exposed_port": image.exposed_port or (launched[0].port if launched else None),
        "fal_runtime": needs_fal_runtime(spec),
        "fal_requirement": shlex.quote(f"fal=={fal_version}"),
        "pth_command": pth_command(list(image.code_dirs) or [workdir]),
        "entrypoint": _json_list(image.entrypoint),
        "cmd": _json_list(cmd),
        # an image-only app whose server runs through a launcher (falmigrate_<launcher>.py, copied with the
        # project): what the launcher needs beyond the app's own dependencies
        "server_requirements": [shlex.quote(r) for r in requirements],
        "launchers": sorted({launcher_file(server.launcher) for server in launched if server.launcher}),
        "extra_lines": list(image.dockerfile_extra),
        # build stages the final stage copies from (multi-stage Dockerfiles), rendered before its FROM
        "stages": list(image.build_stages),
        # an importer matching its platform's layer order (cog: ENV right after FROM so installs and
        # run steps see it; WORKDIR after the run steps, which run in the base image's directory)
        "env_first": image.env_first,
        "workdir_late": image.workdir_late,
    }


def render(spec: AppSpec, *, fal_version: str = TARGET_FAL_VERSION, user_text: str | None = None) -> str:
    """The Dockerfile text without the generated-file header; ``fal_version`` is the fal it installs;
    ``user_text`` is the user's own Dockerfile when the spec patches one (``ImageSpec.dockerfile``)."""
    if spec.image.dockerfile is not None:
        from falmigrate.render import userdockerfile

        if user_text is None:
            raise ValueError(f"the spec patches {spec.image.dockerfile.path}: its text is needed")
        return userdockerfile.patched(spec, user_text, fal_version=fal_version)
    return render_template(TEMPLATE, **context(spec, fal_version))
