"""Small, careful edits and reads of a Dockerfile before it goes to the engine.

``--base-image REF`` replaces the image of the first ``FROM`` (so a generated Dockerfile can be built
on a locally made base image without any outside registry); the step count drives the progress bar.
The original file is never modified: the edited text is written to a temporary file outside the
build context, which the SDK and the CLI both send alongside the context.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from falmigrate.errors import SourceError

_FROM = re.compile(r"^(?P<head>\s*FROM\s+(?:--\S+\s+)*)(?P<image>\S+)(?P<tail>.*)$", re.IGNORECASE)
_INSTRUCTION = re.compile(r"^\s*([A-Za-z]+)(\s|$)")


@dataclass(frozen=True)
class DockerfileInfo:
    path: Path
    text: str
    steps: int  # number of instructions (the classic builder's "Step i/N")
    first_from_line: int | None  # 1-based


def read(path: Path) -> DockerfileInfo:
    if not path.is_file():
        raise SourceError(f"no Dockerfile at {path}", hint="pass the directory `falmigrate convert` wrote, "
                          "or --file PATH")
    text = path.read_text(encoding="utf-8")
    steps = 0
    first_from = None
    for number, line in _logical_lines(text):
        match = _INSTRUCTION.match(line)
        if not match:
            continue
        steps += 1
        if first_from is None and match.group(1).upper() == "FROM":
            first_from = number
    return DockerfileInfo(path=path, text=text, steps=steps, first_from_line=first_from)


def replace_base_image(info: DockerfileInfo, image: str) -> str:
    """The Dockerfile text with the first FROM's image replaced by ``image`` (stage name kept)."""
    if info.first_from_line is None:
        raise SourceError("the Dockerfile has no FROM instruction", file=info.path)
    lines = info.text.splitlines(keepends=True)
    index = info.first_from_line - 1
    match = _FROM.match(lines[index].rstrip("\r\n"))
    if not match:
        raise SourceError("cannot read the first FROM line", file=info.path, line=info.first_from_line)
    ending = lines[index][len(lines[index].rstrip("\r\n")):]
    lines[index] = f"{match.group('head')}{image}{match.group('tail')}{ending}"
    return "".join(lines)


def _logical_lines(text: str):
    """(line number, text) of each instruction start, skipping comments, blanks and continuations."""
    continued = False
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if continued:
            continued = stripped.endswith("\\") or (not stripped or stripped.startswith("#"))
            continue
        if not stripped or stripped.startswith("#"):
            continue
        continued = stripped.endswith("\\")
        yield number, raw
