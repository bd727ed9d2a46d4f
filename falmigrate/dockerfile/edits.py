"""The edits a deploy route makes to a user's Dockerfile, as ``DockerfileEdit``s with a reason.

Each builder reads the parsed file and returns the smallest edit(s) that do the job; nothing is
applied here (``patch.apply_edits`` does that), and each edit becomes a decision in the report
(``edit_decision``) with the file:line it touches.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from falmigrate.dockerfile.model import Instruction, ParsedDockerfile, Stage
from falmigrate.errors import SourceError
from falmigrate.spec import Decision, DockerfileEdit, Location

CommandSpec = list[str] | str  # exec form (a list) or shell form (a string)

_VERBS = {"insert_before": "inserted before it", "insert_after": "inserted after it",
          "replace": "replaced by", "delete": "deleted", "append": "appended to the final stage"}


def _lines_of(source: str) -> list[str]:
    """An instruction's source as physical lines without their endings."""
    return [line.rstrip("\r") for line in source.removesuffix("\n").split("\n")]


def append_to_final_stage(model: ParsedDockerfile, lines: list[str], reason: str) -> DockerfileEdit:
    """Add whole instructions at the end of the file, i.e. to the stage that becomes the image."""
    del model  # the end of the file is the final stage's end, whatever the stages are
    return DockerfileEdit(action="append", lines=list(lines), reason=reason)


def command_text(keyword: str, command: CommandSpec) -> str:
    """``CMD``/``ENTRYPOINT`` in exec form (JSON array) for a list, shell form for a string."""
    if isinstance(command, str):
        return f"{keyword} {command}"
    return f"{keyword} {json.dumps(command, ensure_ascii=False)}"


def _last_in_stage(stage: Stage, keyword: str) -> Instruction | None:
    found = [ins for ins in stage.instructions if ins.instruction == keyword]
    return found[-1] if found else None


def set_command(model: ParsedDockerfile, *, cmd: CommandSpec | None = None,
                entrypoint: CommandSpec | None = None, reason: str) -> list[DockerfileEdit]:
    """Set the final stage's ENTRYPOINT and/or CMD (``None`` leaves one as it is, ``[]`` resets it): the
    stage's last such instruction is replaced in place, or one is appended."""
    edits: list[DockerfileEdit] = []
    for keyword, command in (("ENTRYPOINT", entrypoint), ("CMD", cmd)):
        if command is None:
            continue
        text = command_text(keyword, command)
        current = _last_in_stage(model.final, keyword)
        if current is None:
            edits.append(DockerfileEdit(action="append", lines=[text], reason=reason))
        elif _lines_of(current.source) != [text]:
            edits.append(DockerfileEdit(action="replace", line=current.line, lines=[text], reason=reason))
    return edits


def _path_pattern(paths: list[str]) -> re.Pattern[str]:
    """The paths as written, each a whole path or the start of a longer one (``/data`` but not ``/database``
    nor ``/mnt/data``)."""
    alternatives = "|".join(re.escape(p.rstrip("/")) for p in sorted(paths, key=len, reverse=True))
    return re.compile(rf"(?<![\w.\-/])(?:{alternatives})(?![\w.\-])")


def rewrite_paths(model: ParsedDockerfile, mapping: Mapping[str, str], reason: str) -> list[DockerfileEdit]:
    """Replace each instruction that mentions a mapped path (as written) by the same text with the path
    mapped; instructions that do not mention one are left alone."""
    if not mapping:
        return []
    targets = {k.rstrip("/"): v.rstrip("/") or "/" for k, v in mapping.items()}
    pattern = _path_pattern(list(targets))
    edits = []
    for ins in model.instructions:
        rewritten = pattern.sub(lambda m: targets[m.group(0)], ins.source)
        if rewritten != ins.source:
            edits.append(DockerfileEdit(action="replace", line=ins.line,
                                        lines=_lines_of(rewritten), reason=reason))
    return edits


def _swap_image(from_ins: Instruction, written: str, image: str, path: str) -> str:
    """The FROM's source with its image word (the first word that is not FROM, a flag or a line
    continuation) replaced."""
    for match in list(re.finditer(r"\S+", from_ins.source))[1:]:
        word = match.group(0)
        if word.startswith("--") or word in ("\\", "`"):
            continue
        if word != written:
            break
        return from_ins.source[:match.start()] + image + from_ins.source[match.end():]
    raise SourceError(f"cannot find the image {written!r} in this FROM line", file=path, line=from_ins.line)


def replace_base(model: ParsedDockerfile, image: str, reason: str) -> DockerfileEdit:
    """Build the image on ``image``: the FROM that names an outside image for the final stage (followed
    back through ``FROM <stage>`` chains) gets ``image`` instead; its flags and stage name stay."""
    stage = model.base_stage()
    from_ins = stage.instructions[0]
    source = _swap_image(from_ins, stage.base_as_written, image, model.path)
    return DockerfileEdit(action="replace", line=from_ins.line, lines=_lines_of(source), reason=reason)


def replace_images(model: ParsedDockerfile, mapping: dict[str, str], reason: str) -> list[DockerfileEdit]:
    """Every ``FROM OLD`` (any stage) and ``--from=OLD`` (COPY/ADD, RUN mounts) naming an image of
    ``mapping`` as written, pointed at its replacement; stage names, flags and the rest stay."""
    edits = []
    for stage in model.stages:
        from_ins = stage.instructions[0]
        if stage.base_as_written in mapping:
            source = _swap_image(from_ins, stage.base_as_written, mapping[stage.base_as_written], model.path)
            edits.append(DockerfileEdit(action="replace", line=from_ins.line,
                                        lines=_lines_of(source), reason=reason))
        for ins in stage.instructions[1:]:
            source = re.sub(r"(?P<flag>(?:--|,)from=)(?P<image>[^\s,]+)",
                            lambda m: m.group("flag")
                            + mapping.get(m.group("image"), m.group("image")), ins.source)
            if source != ins.source:
                edits.append(DockerfileEdit(action="replace", line=ins.line,
                                            lines=_lines_of(source), reason=reason))
    return edits


def edit_decision(path: str, edit: DockerfileEdit) -> Decision:
    """The report's record of one edit: where, what, why."""
    where = f"{path}:{edit.line}" if edit.line is not None else f"{path} (end of file)"
    shown = edit.lines[0] if edit.lines else ""
    more = len(edit.lines) - 1
    target = (_VERBS[edit.action] + (f" `{shown}`" if shown else "")
              + (f" (+{more} line(s))" if more > 0 else ""))
    return Decision(source=where, target=target, note=edit.reason,
                    location=Location(file=path, line=edit.line))
