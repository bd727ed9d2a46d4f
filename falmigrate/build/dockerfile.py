"""The Dockerfile as the build sees it: its step count, and the base-image swap of ``--base-image``.

``--base-image REF`` replaces the base of the stage that becomes the image (so a generated
Dockerfile can be built on a locally made base image without any outside registry). In a
multi-stage Dockerfile that is the *last* stage; builder stages keep their own images. When the
last stage starts from an earlier stage (``FROM builder``), the chain is followed back to the stage
that names an outside image, and that FROM is replaced (``falmigrate.dockerfile.edits.replace_base``,
the same edit convert makes). ``--replace-image OLD=NEW`` points every ``FROM OLD`` and ``COPY
--from=OLD`` at a stand-in (images the engine cannot pull). The step count drives the progress bar.
The original file is never modified: the edited text is written to a temporary file outside the
build context, which the SDK and the CLI both send alongside the context.
"""

from __future__ import annotations

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


def replace_images(info: DockerfileInfo, text: str, mapping: dict[str, str]) -> str:
    """``text`` (``info``'s file, possibly already edited) with every ``FROM OLD`` and ``--from=OLD``
    naming an image of ``mapping`` pointed at its replacement: for images the engine cannot pull."""
    from falmigrate.dockerfile.edits import replace_images as image_edits
    from falmigrate.dockerfile.patch import apply_edits

    if not mapping:
        return text
    model = _model(DockerfileInfo(path=info.path, text=text, steps=info.steps))
    return apply_edits(text, image_edits(model, mapping, reason="--replace-image"), str(info.path))
