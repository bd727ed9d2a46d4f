"""The image a converted worker runs in: its own Dockerfile kept and patched (``image``), or, when the
repository has none, a generated one installing its requirements.

For a kept Dockerfile this decides what the fal route needs from it: the Python the worker runs with
(>= 3.10 for fal), the folder the worker module lands in (``ImageSpec.code_dirs``: fal_app.py is
copied next to it and the folder made importable), the endpoint's environment pinned with an ``ENV``
edit (RunPod set it at run time), and whether the image's CUDA base or packages call for a GPU.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from falmigrate.dockerfile.edits import append_to_final_stage, edit_decision
from falmigrate.errors import UsageError
from falmigrate.importers.base import ImportRequest
from falmigrate.importers.runpod.image import PatchedDockerfile, image_path_of, locate, patch_dockerfile
from falmigrate.importers.runpod.project import Project, template_image
from falmigrate.importers.runpod.runtime import (
    GpuEvidence,
    gpu_evidence,
    image_python,
    requirements_gpu_evidence,
)
from falmigrate.spec import Decision, Finding, ImageSpec, Location, UserDockerfile, VolumeSpec

TEMPLATE_WORKDIR = "/app"
MIN_PYTHON = (3, 10)
_CUDA = re.compile(r"cuda:?-?(\d+\.\d+(?:\.\d+)?)")


@dataclass
class WorkerImage:
    image: ImageSpec
    patch: PatchedDockerfile | None = None
    findings: list[Finding] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    gpu: GpuEvidence = field(default_factory=GpuEvidence)
    volumes: list[VolumeSpec] = field(default_factory=list)


def _template(root: Path, entry_dir: str, project: Project) -> WorkerImage:
    image = template_image(root, entry_dir, project)
    dirs = [TEMPLATE_WORKDIR] + ([f"{TEMPLATE_WORKDIR}/{entry_dir}"] if entry_dir else [])
    gpu = requirements_gpu_evidence(root, [image.requirements_file] if image.requirements_file else [])
    return WorkerImage(image=image.model_copy(update={"code_dirs": dirs}), gpu=gpu)


def _python_findings(built: WorkerImage, patch: PatchedDockerfile) -> tuple[str | None, str]:
    python = image_python(patch.parsed)
    where = Location(file=patch.path, line=python.line)
    if python.version is None:
        built.findings.append(Finding(
            rule="FM320", severity="warning", location=where,
            message=f"{python.evidence}; the pyproject says Python 3.11 and fal's "
                    "runtime goes into `python3`",
            remediation="set python_version in pyproject.toml to the image's python3 (fal needs >= 3.10)"))
        return None, python.interpreter
    if tuple(int(p) for p in python.version.split(".")) < MIN_PYTHON:
        built.findings.append(Finding(
            rule="FM320", severity="error", location=where,
            message=f"the image runs Python {python.version} ({python.evidence}); fal runs "
                    "apps on Python >= 3.10, so `pip install fal` in this image fails",
            remediation="move the Dockerfile to a base with Python >= 3.10 (or install one, "
                        "e.g. with uv, and run the worker with it)"))
    else:
        built.decisions.append(Decision(source=python.evidence,
                                        target=f"python_version = \"{python.version}\"; "
                                               f"fal's runtime is installed with {python.interpreter}",
                                        location=where))
    return python.version, python.interpreter


def _code_dir(built: WorkerImage, patch: PatchedDockerfile, entry_file: str) -> str:
    found = image_path_of(patch, entry_file)
    if found is not None:
        folder, line = found
        built.decisions.append(Decision(source=f"{entry_file} copied to {folder} ({patch.path}:{line})",
                                        target=f"fal_app.py next to it in {folder}, made importable from any "
                                               "working directory (a .pth file)",
                                        location=Location(file=patch.path, line=line)))
        return folder
    workdir = patch.parsed.final.workdir or TEMPLATE_WORKDIR
    folder = posixpath.dirname(entry_file) or "."  # the output folder (the source root) is the build context
    edit = append_to_final_stage(patch.parsed, [f"COPY {folder}/ {workdir}/"],
                                 "the Dockerfile does not copy the worker module; fal's runner "
                                 "imports it from the image")
    patch.edits.append(edit)
    built.decisions.append(edit_decision(patch.path, edit))
    built.findings.append(Finding(rule="FM321", severity="warning", location=Location(file=patch.path),
                                  message=f"no COPY/ADD of {patch.path} brings {entry_file} "
                                          f"into the image; it is copied to {workdir} at the "
                                          "end of the Dockerfile",
                                  remediation="check that the worker's files and what it "
                                              "reads are in the image"))
    return workdir


def _command_decision(built: WorkerImage, patch: PatchedDockerfile) -> None:
    started = patch.parsed.effective_argv()
    if started is None:
        return
    argv, line = started
    built.decisions.append(Decision(
        source=f"the image's command `{' '.join(argv)}` ({patch.path}:{line})",
        target="kept as written; fal's runner imports fal_app (python_entry_point) instead of running it",
        note="what it started before the worker runs in setup() (FM323)", location=Location(file=patch.path,
                                                                                          line=line)))


def _endpoint_env(built: WorkerImage, patch: PatchedDockerfile, env: dict[str, str]) -> None:
    missing = {k: v for k, v in env.items() if patch.parsed.final.env.get(k) != v}  # RunPod's value wins
    if not missing:
        return
    line = "ENV " + " ".join(f"{key}={_quoted(value)}" for key, value in missing.items())
    edit = append_to_final_stage(patch.parsed, [line],
                                 "RunPod set the endpoint's environment (.runpod) when the "
                                 "container started; fal runs the image as built")
    patch.edits.append(edit)
    built.decisions.append(edit_decision(patch.path, edit))


def _quoted(value: str) -> str:
    return value if re.fullmatch(r"[A-Za-z0-9_./:@+-]+", value) else '"' + value.replace('"', '\\"') + '"'


def _volumes(patch: PatchedDockerfile, worker_source: str) -> list[VolumeSpec]:
    mentioned = "/runpod-volume" in patch.parsed.text or "/runpod-volume" in worker_source
    return ([VolumeSpec(name="runpod-volume", source_path="/runpod-volume", fal_path="/data")]
            if mentioned else [])


def worker_image(root: Path, entry_file: str, request: ImportRequest, project: Project,
                 worker_source: str, *, route_needs_fal: bool = True) -> WorkerImage:
    """The worker's image: its Dockerfile patched in place (``--dockerfile``/``--context`` pick it), else
    a generated one."""
    entry_dir = PurePosixPath(entry_file).parent.as_posix()
    entry_dir = "" if entry_dir == "." else entry_dir
    path = locate(root, entry_dir, request)
    if path is None:
        if request.context is not None:
            raise UsageError("--context applies to a Dockerfile, and this worker has none",
                             hint="add --dockerfile PATH, or drop --context")
        return _template(root, entry_dir, project)
    patch = patch_dockerfile(root, path, request)
    built = WorkerImage(image=ImageSpec(), patch=patch, findings=list(patch.findings),
                        decisions=list(patch.decisions), gpu=gpu_evidence(patch.parsed, root, patch.context))
    built.findings.append(Finding(
        rule="FM315", severity="info", location=Location(file=patch.path, line=patch.parsed.final.line),
        message=f"the worker's Dockerfile is kept as written (stages, ARGs, ENV, order) and patched; "
                f"build context: {patch.context}",
        remediation="review the patches listed under \"What was mapped\""))
    version, interpreter = _python_findings(built, patch) if route_needs_fal else (None, "python3")
    code = _code_dir(built, patch, entry_file) if route_needs_fal else (patch.parsed.final.workdir or "/")
    if route_needs_fal:
        _command_decision(built, patch)
    _endpoint_env(built, patch, project.env)
    built.volumes = _volumes(patch, worker_source)
    base = patch.parsed.external_base()
    cuda = _CUDA.search(base)
    built.image = ImageSpec(
        base=base, python=version, cuda=cuda.group(1) if cuda else None,
        workdir=patch.parsed.final.workdir or "/", code_dirs=[code], build_secrets=list(patch.build_secrets),
        # context ".": COPY sources of a subfolder context are prefixed with it, so the output folder (the
        # source root) is the patched file's build context
        dockerfile=UserDockerfile(path=patch.path, context=".", edits=list(patch.edits),
                                  python=interpreter))
    return built
