"""What a project's build steps and scripts expect of cog's image that the converted image may not have.

Two checks, both on text (nothing is run):

- ``run_step_tools``: the apt packages a ``build.run`` command calls (``curl``, ``wget``, ``git``, ``xz``…).
  cog's base image always has curl (cog installs it to fetch tini) and, on its CUDA path, wget, git and
  xz-utils; a plain ``python:*-slim`` or a swapped base has none of them, so they are installed first.
- ``cuda_build_evidence``: what in the project compiles CUDA code (``.cu`` sources, ``nvcc``, torch's
  ``cpp_extension``): the reason cog's *devel* base (nvcc, headers) matters, said in a decision.
- ``layout_findings``: run steps and the project's scripts that name paths of cog's own layout — the
  pyenv Python of older cog releases (``/root/.pyenv``), a hard-coded ``site-packages`` of cog's Python,
  cog's HTTP server (``cog.server.http``) or ``/.cog`` — which the converted image does not have (FM119).
"""

from __future__ import annotations

import re
from pathlib import Path

from falmigrate.importers.cog import mapping
from falmigrate.spec import Finding, Location, RunStep

_TOOLS = (
    ("curl", re.compile(r"(?:^|[\s;&|(`$])curl\s")),
    ("wget", re.compile(r"(?:^|[\s;&|(`$])wget\s")),
    ("git", re.compile(r"(?:^|[\s;&|(`$])git\s+(?:clone|fetch|checkout|submodule|lfs|init|pull)\b|git\+https?://")),
    ("xz-utils", re.compile(r"(?:^|[\s;&|(`$])(?:xz|unxz)\s|\btar\s+-?[a-zA-Z]*J[a-zA-Z]*\s|\.tar\.xz\b")),
    ("unzip", re.compile(r"(?:^|[\s;&|(`$])unzip\s")),
)
_NEEDS_CA = {"curl", "wget", "git"}
_LAYOUT = (
    (re.compile(r"/root/\.pyenv|\$PYENV_ROOT|\bpyenv\s+(?:global|local|install|exec|shell)\b"),
     "cog's pyenv Python (older cog releases installed Python with pyenv under /root/.pyenv)"),
    (re.compile(r"/usr/local/lib/python3\.\d+/(?:site|dist)-packages"),
     "the site-packages of cog's Python (the converted image's Python lives elsewhere on CUDA bases)"),
    (re.compile(r"\bcog\.server\.http\b|\bpython3? -m cog\b"),
     "cog's own HTTP server (fal runs the app itself)"),
    (re.compile(r"(?<![\w.])/\.cog/"), "cog's /.cog folder"),
)
_SCRIPT_SUFFIXES = (".sh", ".bash", ".py")
_SKIP_DIRS = {".git", "__pycache__", ".venv", "venv", "node_modules", ".cog"}


_CUDA_BUILD = re.compile(r"\bnvcc\b|cpp_extension|CUDAExtension|\bflash[-_]attn\b")


def cuda_build_evidence(root: Path, steps: list[RunStep], requirements: list[str]) -> list[str]:
    """What compiles CUDA code (file names, ``nvcc`` in a script or step), for the devel-base decision."""
    found: list[str] = []
    for path in sorted(Path(root).rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or _SKIP_DIRS & set(rel.parts):
            continue
        if path.suffix in (".cu", ".cuh"):
            found.append(f"{rel.as_posix()} (CUDA source)")
        elif path.suffix in _SCRIPT_SUFFIXES:
            try:
                match = _CUDA_BUILD.search(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError):
                continue
            if match:
                found.append(f"`{match.group(0)}` in {rel.as_posix()}")
    found += [f"`{_CUDA_BUILD.search(s.command).group(0)}` in a build.run step" for s in steps  # type: ignore[union-attr]
              if _CUDA_BUILD.search(s.command)]
    found += [f"the requirement `{line.strip()}`" for line in requirements
              if _CUDA_BUILD.search(line.split("#")[0])]
    return found


def run_step_tools(command: str) -> list[str]:
    """The apt packages ``command`` needs, in a stable order (ca-certificates with network tools)."""
    found = [package for package, pattern in _TOOLS if pattern.search(command)]
    if _NEEDS_CA & set(found):
        found.append("ca-certificates")
    return found


def _finding(what: str, location: Location) -> Finding:
    return Finding(rule="FM119", severity=mapping.severity("FM119"), location=location,
                   message=f"this assumes {what}: the converted image does not have it",
                   remediation="use the image's own `python3`/`pip` (on PATH) and paths "
                               "relative to /src, or adapt the step to the Dockerfile falmigrate wrote")


def _scan(text: str, file: str, first_line: int = 1) -> list[Finding]:
    found = []
    for offset, line in enumerate(text.splitlines()):
        for pattern, what in _LAYOUT:
            if pattern.search(line):
                found.append(_finding(what, Location(file=file, line=first_line + offset)))
                break
    return found


def layout_findings(root: Path, steps: list[RunStep], config_file: str) -> list[Finding]:
    """FM119 for each run step and project script line that names cog's own image layout."""
    found: list[Finding] = []
    for step in steps:
        line = step.location.line if step.location and step.location.line else 1
        found += [f.model_copy(update={"location": step.location})
                  for f in _scan(step.command, config_file, line)]
    for path in sorted(Path(root).rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or path.suffix not in _SCRIPT_SUFFIXES or _SKIP_DIRS & set(rel.parts):
            continue
        try:
            found += _scan(path.read_text(encoding="utf-8"), rel.as_posix())
        except (OSError, UnicodeDecodeError):
            continue
    return found
