"""What a worker's image runs on, read from its Dockerfile: the Python (version and interpreter command)
and the evidence that it needs a GPU.

fal's runner needs Python >= 3.10 in the image, and its runtime (``pip install fal``, the ``.pth`` file)
must go into the interpreter the worker runs with: ``python3.11 -u handler.py`` on a ``runpod/base``
image with several Pythons means ``python3.11``. The version comes, in order, from an interpreter the
Dockerfile names (``python3.11 -m pip``, ``CMD python3.10 -u …``), a tool that installs one (``uv venv
--python 3.11``, ``conda create python=3.10``, ``pyenv install 3.11``), then the base image's tag
(``mapping.BASE_PYTHONS``). A GPU is evident from a CUDA base image or GPU packages installed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from falmigrate.dockerfile import ParsedDockerfile
from falmigrate.dockerfile.shell import segments, words
from falmigrate.importers.runpod.mapping import BASE_PYTHONS, GPU_BASES, GPU_PACKAGES

_INTERPRETER = re.compile(r"(?<![\w.-])(?:/\S*/)?python(3\.\d{1,2})(?![\w.])")
_INSTALLERS = (
    re.compile(r"\buv\s+(?:venv|python\s+install)\b[^\n]*?(?:--python[= "
               r"]|install\s+)(?:python|cpython-)?(3\.\d{1,2})"),
    re.compile(r"\bconda\s+(?:create|install)\b[^\n]*\bpython=+(3\.\d{1,2})"),
    re.compile(r"\bpyenv\s+(?:install|global)\b[^\n]*?\b(3\.\d{1,2})"),
)
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass
class ImagePython:
    version: str | None  # "3.11"; None when the Dockerfile does not say
    interpreter: str = "python3"
    evidence: str = ""  # what decided it, for the report
    line: int | None = None


def _commands(parsed: ParsedDockerfile) -> list[tuple[str, int]]:
    """(shell text, line) of every RUN/CMD/ENTRYPOINT along the final stage's chain, in order."""
    out = []
    for stage in parsed.chain():
        for ins in stage.instructions:
            if ins.instruction in ("RUN", "CMD", "ENTRYPOINT"):
                out.append((ins.expanded, ins.line))
    return out


def image_python(parsed: ParsedDockerfile) -> ImagePython:
    """The Python the worker runs with, and why we think so."""
    named = [(m.group(1), line) for text, line in _commands(parsed) for m in _INTERPRETER.finditer(text)]
    if named:
        version, line = named[-1]  # the last one named is the one the worker is started with
        return ImagePython(version, f"python{version}", f"the Dockerfile runs python{version}", line)
    for text, line in _commands(parsed):
        for pattern in _INSTALLERS:
            if m := pattern.search(text):
                return ImagePython(m.group(1), "python3",
                                   f"the Dockerfile installs Python {m.group(1)}", line)
    base = parsed.external_base()
    for pattern, version in BASE_PYTHONS:
        if m := re.search(pattern, base):
            if not version:
                break
            found = m.expand(version)
            return ImagePython(found, "python3", f"python3 of the base image {base}",
                               parsed.base_stage().line)
    return ImagePython(None, "python3", f"the base image {base} does not say which Python python3 is",
                       parsed.base_stage().line)


@dataclass
class GpuEvidence:
    reasons: list[str] = field(default_factory=list)  # "CUDA base image nvidia/cuda:12.1.0 (Dockerfile:1)"

    def add(self, reason: str) -> None:
        if reason not in self.reasons:
            self.reasons.append(reason)


def _requirement_names(root: Path, context: str, files: list[str], workdir: str) -> list[tuple[str, str]]:
    """(package, file) of requirement files a pip step reads that exist in the build context."""
    out = []
    for name in files:
        rel = name.removeprefix(workdir.rstrip("/") + "/") if name.startswith("/") else name
        candidates = [Path(context) / rel, Path(context) / Path(rel).name]
        for candidate in candidates:
            path = root / candidate
            if path.is_file():
                for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                    if m := _REQUIREMENT_NAME.match(line.split("#", 1)[0]):
                        out.append((m.group(1).lower(), candidate.as_posix()))
                break
    return out


def gpu_evidence(parsed: ParsedDockerfile, root: Path, context: str) -> GpuEvidence:
    """Why the worker needs a GPU: a CUDA base, GPU packages installed by the Dockerfile or its
    requirement files."""
    evidence = GpuEvidence()
    base = parsed.external_base()
    if any(re.search(pattern, base) for pattern in GPU_BASES):
        evidence.add(f"CUDA base image {base} ({parsed.path}:{parsed.base_stage().line})")
    for stage in parsed.stages:
        for ins in stage.instructions:
            if ins.instruction != "RUN":
                continue
            for segment in segments(ins.expanded):
                installed = [w.split("==")[0].split(">")[0].split("<")[0].split("[")[0].lower()
                             for w in words(segment)]
                if "install" in installed:
                    for package in sorted(set(installed) & GPU_PACKAGES):
                        evidence.add(f"{package} installed ({parsed.path}:{ins.line})")
        for package, file in _requirement_names(root, context, stage.pip_requirement_files,
                                                stage.workdir or "/"):
            if package in GPU_PACKAGES:
                evidence.add(f"{package} in {file}")
    return evidence


def requirements_gpu_evidence(root: Path, files: list[str]) -> GpuEvidence:
    """GPU packages in the requirement files of a worker that has no Dockerfile."""
    evidence = GpuEvidence()
    for package, file in _requirement_names(root, ".", files, "/"):
        if package in GPU_PACKAGES:
            evidence.add(f"{package} in {file}")
    return evidence
