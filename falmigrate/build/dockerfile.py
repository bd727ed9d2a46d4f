"""The Dockerfile as the build sees it: its step count, and the base-image swap of ``--base-image``.

``--base-image REF`` replaces the base of the stage that becomes the image (so a generated
Dockerfile can be built on a locally made base image without any outside registry). In a
multi-stage Dockerfile that is the *last* stage; builder stages keep their own images. When the
last stage starts from an earlier stage (``FROM builder``), the chain is followed back to the stage
that names an outside image, and that FROM is replaced (``falmigrate.dockerfile.edits.replace_base``,
the same edit convert makes). The step count drives the progress bar. The original file is never
modified: the edited text is written to a temporary file outside the build context, which the SDK
and the CLI both send alongside the context.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from falmigrate.dockerfile import ParsedDockerfile, Stage, parse_text
from falmigrate.dockerfile.source import scan
from falmigrate.errors import SourceError


@dataclass(frozen=True)
class DockerfileInfo:
    path: Path
    text: str
    steps: int | None  # number of instructions (the classic builder's "Step i/N"); None if unreadable
    first_from_line: int | None = None


def read(path: Path) -> DockerfileInfo:
    """The file and its step count. Reading never fails on the file's content: the engine reports
    what it cannot build, with its own step numbers."""
    if not path.is_file():
        raise SourceError(f"no Dockerfile at {path}", hint="pass the directory `falmigrate convert` wrote, "
                          "or --file PATH")
    text = path.read_bytes().decode("utf-8")
    try:
        spans = scan(text, str(path)).spans
    except SourceError:
        return DockerfileInfo(path=path, text=text, steps=None)
    first_from = next((span.first_line for span in spans if span.keyword == "FROM"), None)
    return DockerfileInfo(path=path, text=text, steps=len(spans), first_from_line=first_from)


def _model(info: DockerfileInfo) -> ParsedDockerfile:
    try:
        return parse_text(info.text, str(info.path), check_references=False)
    except SourceError as exc:
        exc.hint = exc.hint or "--base-image needs a Dockerfile `docker build` accepts"
        raise


def base_from(info: DockerfileInfo) -> Stage:
    """The stage whose FROM names the outside image the final image is built on."""
    return _model(info).base_stage()


def replace_base_image(info: DockerfileInfo, image: str) -> str:
    """The Dockerfile text with the final stage's base image replaced by ``image`` (stage name kept)."""
    from falmigrate.dockerfile.edits import replace_base  # the spec (pydantic) only when --base-image is used
    from falmigrate.dockerfile.patch import apply_edits

    model = _model(info)
    edit = replace_base(model, image, reason=f"--base-image {image}")
    return apply_edits(info.text, [edit], str(info.path))


_FROM = re.compile(r"^(?P<head>\s*FROM\s+(?:--\S+\s+)*)(?P<image>\S+)(?P<tail>.*)$", re.IGNORECASE)
_INSTRUCTION = re.compile(r"^\s*([A-Za-z]+)(\s|$)")
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
