"""Which file outputs are images: ``cog.Path`` outputs become fal ``Image`` or ``File`` fields.

cog has one output type for files (``Path``), fal has ``File`` and ``Image`` (an Image is a File with
width/height that fal's playground shows as a picture). The annotation alone cannot tell them apart,
so the predictor's body decides: when the string literals of ``predict``/``run`` name files only with
image suffixes (``"out.png"``, ``f"{i}.webp"``, ``format="PNG"``), its file outputs are typed
``Image``; any other file suffix (``.wav``, ``.txt``, …) or none at all keeps ``File``. The generated
helper then uploads every returned path as an ``Image`` (an Image is a File, so mixed responses fit).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import libcst as cst

from falmigrate.spec import InputField, TypeRef

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff")
IMAGE_FORMATS = {"png", "jpeg", "jpg", "webp", "gif", "bmp", "tiff"}
# a literal that ends like a file name: "x.wav", "/tmp/out.mp4", f"{name}.png"
_SUFFIX = re.compile(r"\.([A-Za-z0-9]{2,5})$")


@dataclass
class FileEvidence:
    """File suffixes a method's string literals name (lower case, with the dot)."""

    suffixes: set[str]

    @property
    def images_only(self) -> bool:
        return bool(self.suffixes) and all(s in IMAGE_SUFFIXES for s in self.suffixes)


class _Literals(cst.CSTVisitor):
    def __init__(self) -> None:
        self.suffixes: set[str] = set()

    def _text(self, text: str) -> None:
        match = _SUFFIX.search(text.strip())
        if match:
            self.suffixes.add("." + match.group(1).lower())

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        value = node.evaluated_value
        if isinstance(value, str):
            self._text(value)

    def visit_FormattedString(self, node: cst.FormattedString) -> None:
        last = node.parts[-1] if node.parts else None
        if isinstance(last, cst.FormattedStringText):
            self._text(last.value)

    def visit_Arg(self, node: cst.Arg) -> None:
        # PIL's image.save(path, format="PNG") / save(buffer, "JPEG")
        if isinstance(node.value, cst.SimpleString) and isinstance(node.value.evaluated_value, str):
            word = node.value.evaluated_value.strip().lower()
            if word in IMAGE_FORMATS and (node.keyword is None or node.keyword.value == "format"):
                self.suffixes.add("." + ("jpg" if word == "jpeg" else word))


def file_evidence(function: cst.FunctionDef) -> FileEvidence:
    visitor = _Literals()
    function.body.visit(visitor)
    return FileEvidence(suffixes=visitor.suffixes)


def has_file(ref: TypeRef) -> bool:
    """Whether an output type carries a file anywhere (items, optional, model fields)."""
    if ref.kind == "file":
        return True
    if ref.item is not None and has_file(ref.item):
        return True
    return any(has_file(f.type) for f in ref.fields or [])


def as_images(ref: TypeRef) -> TypeRef:
    """``ref`` with every ``file`` leaf typed ``image`` (lists, optionals and model fields included)."""
    if ref.kind == "file":
        return TypeRef(kind="image")
    changes: dict = {}
    if ref.item is not None:
        changes["item"] = as_images(ref.item)
    if ref.fields:
        changes["fields"] = [_field_as_image(f) for f in ref.fields]
    return ref.model_copy(update=changes) if changes else ref


def _field_as_image(field: InputField) -> InputField:
    return field.model_copy(update={"type": as_images(field.type)})
