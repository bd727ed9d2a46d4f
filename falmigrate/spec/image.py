"""The image part of the spec: what the generated Dockerfile must contain, or how a user's own
Dockerfile is patched.

Two shapes, one model. Platforms whose image is described by configuration (cog.yaml, a Modal image
chain) fill the sections (base, apt, pip, run steps, env, copies) and the renderer writes a Dockerfile
from the template in that order. Platforms that come with a Dockerfile (Docker servers, RunPod workers,
Modal ``from_dockerfile``) set ``dockerfile``: the user's file is kept as written — every stage, ARG,
ENV, comment and the order — and only the listed ``DockerfileEdit``s are applied, each one also a
decision in the report.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from falmigrate.spec.base import Frozen, Location


class SecretMount(Frozen):
    """A build-time secret (BuildKit ``RUN --mount=type=secret``); the value never enters the Dockerfile."""

    id: str
    target: str | None = None


class RunStep(Frozen):
    command: str
    secrets: list[SecretMount] = Field(default_factory=list)
    location: Location | None = None


class Copy(Frozen):
    src: str
    dest: str


EditAction = Literal["insert_before", "insert_after", "replace", "delete", "append"]


class DockerfileEdit(Frozen):
    """One minimal change to a user's Dockerfile.

    ``line`` is the 1-based first line of the instruction the edit anchors to (``append`` adds to the
    end of the file, i.e. the final stage, and has no line). ``lines`` are whole instructions as they
    will appear (continuation lines included). ``reason`` is shown in MIGRATION.md next to file:line.
    """

    action: EditAction
    line: int | None = None
    lines: list[str] = Field(default_factory=list)
    reason: str


class UserDockerfile(Frozen):
    """A Dockerfile of the user's, patched in order instead of regenerated."""

    path: str  # relative to the source root
    context: str = "."  # the build context, relative to the source root
    edits: list[DockerfileEdit] = Field(default_factory=list)
    python: str = "python3"  # the interpreter the app runs with (fal's runtime is installed into it)


class ImageSpec(Frozen):
    """What the image needs. Generated Dockerfiles follow the section order: base, apt, pip, run
    steps, env, copies, extra lines, then the code. The layout flags reproduce a platform's own layer
    order where it differs (cog: ENV right after FROM, WORKDIR after the run steps)."""

    base: str | None = None
    python: str | None = None  # "3.11": the image's Python (also the pyproject's python_version)
    cuda: str | None = None
    cudnn: str | None = None
    system_packages: list[str] = Field(default_factory=list)
    python_requirements: list[str] = Field(default_factory=list)
    requirements_file: str | None = None
    run_steps: list[RunStep] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    workdir: str = "/app"
    copies: list[Copy] = Field(default_factory=list)
    exposed_port: int | None = None
    entrypoint: list[str] | None = None  # a user's Dockerfile: what an entry-point app's image resets it to
    cmd: list[str] | None = None
    dockerfile_extra: list[str] = Field(default_factory=list)
    # Layout of a generated Dockerfile
    build_stages: list[str] = Field(default_factory=list)  # stage text written before the final stage
    env_first: bool = False  # ENV right after FROM (before apt/pip), as cog writes it
    workdir_late: bool = False  # WORKDIR after the run steps, as cog and Modal's .workdir() do
    python_from_uv: bool = False  # install `python` with uv even on a CUDA base the importer chose
    fal_runtime: bool = True  # fal's runtime needs (curl, fal) are added for the entry-point route
    # A user's own Dockerfile, patched (when set, the sections above describe it for the report only)
    dockerfile: UserDockerfile | None = None
    # Where the app's Python code sits in the image: these directories are made importable from
    # site-packages (a .pth file), so fal's runner can import the entry module from any cwd.
    code_dirs: list[str] = Field(default_factory=list)
    build_secrets: list[str] = Field(default_factory=list)  # BuildKit secret ids the build needs
