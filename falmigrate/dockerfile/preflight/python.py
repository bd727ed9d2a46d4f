"""Preflight rules about the image's Python: pip/python used before any step provides one (FM056),
and a final image whose Python is older than the 3.10 fal needs (FM057)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from falmigrate.dockerfile.model import Instruction, ParsedDockerfile, Stage
from falmigrate.dockerfile.preflight.bases import Python, base_python, distro, older_than_310, provided_python
from falmigrate.dockerfile.preflight.copies import copy_step
from falmigrate.dockerfile.preflight.rules import finding
from falmigrate.dockerfile.shell import run_script, segments, uses_python
from falmigrate.spec import Finding

# a COPY --from that brings a Python along (a venv, a conda tree, an interpreter)
_PYTHON_TREE = re.compile(r"python|venv|conda|mamba|/usr/local(?:/|$)|/\.local|site-packages", re.IGNORECASE)


def _copied_python(ins: Instruction, state: Python) -> Python:
    step = copy_step(ins)
    if (step is None or step.from_ref is None
            or not any(_PYTHON_TREE.search(s) for s in (*step.sources, step.dest))):
        return state
    return Python(True, None, ins.line, f"COPY --from={step.from_ref} (line {ins.line})")


class _StageWalk:
    """Follows a stage's Python from its base through each step; remembers the first use before one."""

    def __init__(self, model: ParsedDockerfile, stage: Stage, start: Python) -> None:
        self.path = model.path
        self.release = distro(model.base_stage(stage).base)
        self.state = start
        self.too_early: Finding | None = None

    def step(self, ins: Instruction) -> None:
        if ins.instruction in ("COPY", "ADD"):
            self.state = _copied_python(ins, self.state)
        if ins.instruction != "RUN":
            return
        for segment in segments(run_script(ins)):
            version = provided_python(segment, self.release)
            if version is not None:
                self.state = Python(True, version or None, ins.line,
                                    f"the Python installed at line {ins.line}")
            elif uses_python(segment) and self.state.present is False and self.too_early is None:
                self.too_early = finding(
                    "FM056", self.path, ins.line,
                    f"`{segment[:60]}` runs before the stage has a Python ({self.state.origin})",
                    remediation="install Python first (apt-get install -y python3 python3-pip, or uv python "
                                "install), or build on an image that has one")


def _walks(model: ParsedDockerfile) -> Iterator[_StageWalk]:
    ends: dict[int, Python] = {}
    for stage in model.stages:
        start = ends[stage.parent] if stage.parent is not None else base_python(stage.base, stage.line)
        walk = _StageWalk(model, stage, start)
        for ins in stage.instructions[1:]:
            walk.step(ins)
        ends[stage.index] = walk.state
        yield walk


def python_findings(model: ParsedDockerfile) -> list[Finding]:
    walks = list(_walks(model))
    out = [walk.too_early for walk in walks if walk.too_early is not None]
    final = walks[-1].state
    if final.present and older_than_310(final.version):
        out.append(finding("FM057", model.path, final.line,
                           f"the image's Python is {final.version} ({final.origin}); fal needs "
                           "Python 3.10 or newer",
                           remediation="build on a newer base (python:3.11-slim, a CUDA base with uv python "
                                       "install 3.11) or install Python 3.10+ in the image"))
    return out
