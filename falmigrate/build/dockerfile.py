"""Small, careful edits and reads of a Dockerfile before it goes to the engine.

``--base-image REF`` replaces the base of the stage that becomes the image (so a generated
Dockerfile can be built on a locally made base image without any outside registry). In a
multi-stage Dockerfile that is the *last* stage; builder stages keep their own images. When the
last stage starts from an earlier stage (``FROM builder``), the chain is followed back to the stage
that names an outside image, and that FROM is replaced. The step count drives the progress bar.
The original file is never modified: the edited text is written to a temporary file outside the
build context, which the SDK and the CLI both send alongside the context.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from falmigrate.errors import SourceError

_FROM = re.compile(r"^(?P<head>\s*FROM\s+(?:--\S+\s+)*)(?P<image>\S+)(?P<tail>.*)$", re.IGNORECASE)
_STAGE_NAME = re.compile(r"^\s+AS\s+(?P<name>\S+)\s*$", re.IGNORECASE)
_INSTRUCTION = re.compile(r"^\s*([A-Za-z]+)(\s|$)")


@dataclass(frozen=True)
class FromLine:
    line: int  # 1-based
    image: str  # as written (may name an earlier stage)
    stage: str | None  # the `AS name`, lower-cased (stage names are case-insensitive)
    problem: str | None = None  # why this line could not be read (only an error for --base-image)


@dataclass(frozen=True)
class DockerfileInfo:
    path: Path
    text: str
    steps: int  # number of instructions (the classic builder's "Step i/N")
    froms: tuple[FromLine, ...] = ()

    @property
    def first_from_line(self) -> int | None:
        return self.froms[0].line if self.froms else None


def read(path: Path) -> DockerfileInfo:
    if not path.is_file():
        raise SourceError(f"no Dockerfile at {path}", hint="pass the directory `falmigrate convert` wrote, "
                          "or --file PATH")
    text = path.read_text(encoding="utf-8")
    steps = 0
    froms: list[FromLine] = []
    for number, line in _logical_lines(text):
        match = _INSTRUCTION.match(line)
        if not match:
            continue
        steps += 1
        if match.group(1).upper() == "FROM":
            froms.append(_from_line(number, line))
    return DockerfileInfo(path=path, text=text, steps=steps, froms=tuple(froms))


def _from_line(number: int, line: str) -> FromLine:
    match = _FROM.match(line.rstrip("\r\n"))
    if not match or match.group("image").endswith("\\"):
        return FromLine(number, "", None, "cannot read this FROM line (write it on one line: "
                                          "FROM [--platform=…] IMAGE [AS NAME])")
    stage = None
    if match.group("tail").strip():
        named = _STAGE_NAME.match(match.group("tail"))
        if not named:
            return FromLine(number, match.group("image"), None,
                            f"unexpected text after the image in FROM: {match.group('tail').strip()!r}")
        stage = named.group("name").lower()
    return FromLine(line=number, image=match.group("image"), stage=stage)


def base_from(info: DockerfileInfo) -> FromLine:
    """The FROM whose outside image the final image is built on (see the module docstring)."""
    if not info.froms:
        raise SourceError("the Dockerfile has no FROM instruction", file=info.path)
    for line in info.froms:  # every stage name matters for following the chain
        if line.problem:
            raise SourceError(line.problem, file=info.path, line=line.line,
                              hint="--base-image needs every FROM on one line")
    index = len(info.froms) - 1
    while True:
        current = info.froms[index]
        earlier = [i for i in range(index) if info.froms[i].stage == current.image.lower()]
        if not earlier:
            return current
        index = earlier[-1]  # the latest stage of that name defined before this FROM


def replace_base_image(info: DockerfileInfo, image: str) -> str:
    """The Dockerfile text with the final stage's base image replaced by ``image`` (stage name kept)."""
    target = base_from(info)
    lines = info.text.splitlines(keepends=True)
    index = target.line - 1
    match = _FROM.match(lines[index].rstrip("\r\n"))
    assert match is not None  # read() parsed this very line
    ending = lines[index][len(lines[index].rstrip("\r\n")):]
    lines[index] = f"{match.group('head')}{image}{match.group('tail')}{ending}"
    return "".join(lines)


_COPY_FROM = re.compile(r"(?P<flag>--from=)(?P<image>[^\s]+)")


def replace_images(text: str, mapping: dict[str, str]) -> str:
    """``text`` with every ``FROM OLD`` and ``COPY --from=OLD`` naming an image of ``mapping`` pointed at
    its replacement (stage names and everything else kept): for images the engine cannot pull."""
    lines = text.splitlines(keepends=True)
    for number, line in _logical_lines(text):
        index = number - 1
        ending = lines[index][len(lines[index].rstrip("\r\n")):]
        body = lines[index].rstrip("\r\n")
        match = _FROM.match(body)
        if match and match.group("image") in mapping:
            body = f"{match.group('head')}{mapping[match.group('image')]}{match.group('tail')}"
        elif _INSTRUCTION.match(body) and _INSTRUCTION.match(body).group(1).upper() in ("COPY", "ADD"):
            body = _COPY_FROM.sub(lambda m: m.group("flag") + mapping.get(m.group("image"), m.group("image")), body)
        lines[index] = body + ending
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
