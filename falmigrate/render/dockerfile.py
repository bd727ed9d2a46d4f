"""Dockerfile values from an ImageSpec: base image, apt, pip, run steps, env, code copy, port.

Layers are ordered so dependencies are cached and the user's code (which changes most) comes last:
system packages → requirements → run steps → env → extra copies → ``COPY . <workdir>``. pip runs with
``PIP_BREAK_SYSTEM_PACKAGES=1`` so the file also builds on a plain Debian bookworm + python3 base
(what ``falmigrate build --base-image`` uses in tests). RUN steps that need secrets use BuildKit
``--mount=type=secret`` (no ``# syntax=`` line: Docker ≥ 20.10's built-in frontend knows it, and a
syntax line would have to pull a frontend image from Docker Hub).
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from falmigrate.render import render_template
from falmigrate.spec import AppSpec, ImageSpec, RunStep

TEMPLATE = "Dockerfile.j2"
DEFAULT_PYTHON = "3.11"
DEFAULT_CUDNN = "8"
# python:*-slim is Debian bookworm; apt then has python3 already
PYTHON_BASE = "python:{python}-slim-bookworm"
CUDA_BASE = "nvidia/cuda:{cuda}-cudnn{cudnn}-runtime-ubuntu22.04"
CUDA_PYTHON_PACKAGES = ["python3", "python3-pip", "python-is-python3"]


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
    packages = list(image.system_packages)
    if image.cuda and not image.base:
        packages = CUDA_PYTHON_PACKAGES + [p for p in packages if p not in CUDA_PYTHON_PACKAGES]
    return sorted(dict.fromkeys(packages))


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


def context(spec: AppSpec) -> dict[str, Any]:
    image = spec.image
    workdir = image.workdir or "/app"
    return {
        "platform": spec.source.platform,
        "base": base_image(image),
        "cuda": image.cuda,
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
        "exposed_port": image.exposed_port,
        "entrypoint": _json_list(image.entrypoint),
        "cmd": _json_list(image.cmd),
        "extra_lines": list(image.dockerfile_extra),
        # build stages the final stage copies from (multi-stage Dockerfiles), rendered before its FROM
        "stages": [str(stage) for stage in spec.extra.get("build_stages") or []],
        # an importer matching its platform's layer order (cog: ENV right after FROM so installs and
        # run steps see it; WORKDIR after the run steps, which run in the base image's directory)
        "env_first": bool(spec.extra.get("dockerfile_env_first")),
        "workdir_late": bool(spec.extra.get("dockerfile_workdir_late")),
    }


def render(spec: AppSpec) -> str:
    """The Dockerfile text without the generated-file header."""
    return render_template(TEMPLATE, **context(spec))
