"""Preflight rules about files: a RUN that needs a context file copied in only later (FM051), a
COPY/ADD source missing from the build context (FM052), a ``--from`` that names no stage (FM053),
and a CMD/ENTRYPOINT script from the context that nothing copies into the image (FM059)."""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Iterator

from falmigrate.dockerfile.model import Command, Instruction, ParsedDockerfile, Stage
from falmigrate.dockerfile.preflight.copies import CopyStep, brings, copy_step, image_path, in_context
from falmigrate.dockerfile.preflight.rules import finding
from falmigrate.dockerfile.shell import file_uses, run_script, segments
from falmigrate.spec import Finding

_LAUNCHER = re.compile(r"\.(?:sh|py|bash)$")


def _copies(stage: Stage) -> list[CopyStep]:
    return [step for ins in stage.instructions if (step := copy_step(ins)) is not None]


def _run_files(ins: Instruction) -> Iterator[tuple[str, str]]:
    """(file as written, absolute path in the image) of each file a RUN reads by name."""
    for segment in segments(run_script(ins)):
        for used in file_uses(segment):
            if "$" not in used:
                yield used, image_path(used, ins.workdir)


def _order_in_stage(model: ParsedDockerfile, stage: Stage, context: set[str] | None) -> Iterator[Finding]:
    earlier = [step for parent in model.chain(stage)[:-1] for step in _copies(parent)]
    steps = stage.instructions
    for index, ins in enumerate(steps):
        if (step := copy_step(ins)) is not None:
            earlier.append(step)
        if ins.instruction != "RUN":
            continue
        for written, target in _run_files(ins):
            if any(brings(step, target, context) for step in earlier):
                continue
            later = [s for s in (copy_step(i) for i in steps[index + 1:]) if s and brings(s, target, context)]
            if later:
                yield finding("FM051", model.path, ins.line,
                              f"this RUN uses {written} ({target}), which the COPY at line {later[0].line} "
                              "brings in only after it",
                              remediation=f"copy {written} in before this RUN (move the COPY at line "
                                          f"{later[0].line} up, or add a COPY of that file alone)")


def order_findings(model: ParsedDockerfile, context: set[str] | None) -> list[Finding]:
    return [f for stage in model.stages for f in _order_in_stage(model, stage, context)]


def context_findings(model: ParsedDockerfile, context: set[str] | None) -> list[Finding]:
    """FM052: sources of COPY/ADD (from the build context) that the context does not have."""
    if context is None:
        return []
    out = []
    for ins in model.instructions:
        step = copy_step(ins)
        if step is None or step.from_ref is not None:
            continue
        for source, judged in zip(step.sources, step.judged, strict=True):
            if judged and not in_context(source, context):
                out.append(finding("FM052", model.path, ins.line,
                                   f"{ins.instruction} source {source!r} is not in the build context",
                                   remediation="add the file to the build context (and "
                                               "not to .dockerignore), or build from the "
                                               "directory that has it"))
    return out


def reference_findings(model: ParsedDockerfile) -> list[Finding]:
    """FM053: ``--from`` values that name no earlier stage and do not look like an image."""
    return [finding("FM053", model.path, ref.line,
                    f"--from={ref.ref} names no stage defined before this line",
                    remediation=f"add the stage (FROM … AS {ref.ref}) before it, or write "
                                "the image with its tag")
            for ref in model.copy_from if not ref.resolved]


def _launched(command: Command) -> list[str]:
    words = command.words
    if not words:
        return []
    found = [words[0]] if _LAUNCHER.search(words[0]) or words[0].startswith("./") else []
    return list(dict.fromkeys(found + file_uses(shlex.join(words))))


def _may_bring(step: CopyStep, target: str, context: set[str]) -> bool:
    """Generous on purpose: a COPY from a stage, a heredoc or a variable source that lands on the path."""
    if brings(step, target, context):
        return True
    names = {posixpath.join(step.dest, posixpath.basename(s)) for s in step.sources}
    return (step.from_ref is not None or not all(step.judged)) and (target == step.dest or target in names)


def launcher_findings(model: ParsedDockerfile, context: set[str] | None) -> list[Finding]:
    """FM059: the final command runs a script the build context has but no COPY puts in the image."""
    if context is None:
        return []
    chain = model.chain()
    copies = [step for stage in chain for step in _copies(stage)]
    out = []
    for command in (c for c in model.command() if c is not None):
        for script in _launched(command):
            target = image_path(script, chain[-1].workdir)
            base = posixpath.basename(script)
            in_ctx = any(f == script.removeprefix("./") or posixpath.basename(f) == base for f in context)
            if in_ctx and "$" not in script and not any(_may_bring(s, target, context) for s in copies):
                out.append(finding("FM059", model.path, command.line,
                                   f"the image's command runs {script} ({target}), but no COPY brings it in",
                                   remediation=f"add COPY {script.removeprefix('./')} "
                                               f"{target} before this line"))
    return out
