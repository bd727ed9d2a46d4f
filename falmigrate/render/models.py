"""Python source for pydantic request/response models built from the spec's fields.

Shared by every codemod and template that writes a fal endpoint, so a constraint (``ge``, ``pattern``,
``choices``…) is spelled the same way whichever platform it came from.
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field

from falmigrate.spec import InputField, TypeRef

# TypeRef kind -> annotation; the fal.toolkit types are pydantic models fal already knows.
_SIMPLE = {
    "str": "str",
    "int": "int",
    "float": "float",
    "bool": "bool",
    "dict": "dict",
    "json": "dict[str, Any]",
    "any": "Any",
    "none": "None",
    "secret": "SecretStr",
}
_TOOLKIT = {"file": "File", "image": "Image", "audio": "File", "video": "File"}


@dataclass
class ModelSource:
    """Generated class source plus the names it needs imported."""

    code: str
    typing_names: set[str] = field(default_factory=set)
    pydantic_names: set[str] = field(default_factory=set)
    toolkit_names: set[str] = field(default_factory=set)

    def merge(self, other: ModelSource) -> None:
        self.typing_names |= other.typing_names
        self.pydantic_names |= other.pydantic_names
        self.toolkit_names |= other.toolkit_names

    def import_lines(self) -> list[str]:
        lines = []
        if self.typing_names:
            lines.append(f"from typing import {', '.join(sorted(self.typing_names))}")
        if self.pydantic_names:
            lines.append(f"from pydantic import {', '.join(sorted(self.pydantic_names))}")
        if self.toolkit_names:
            lines.append(f"from fal.toolkit import {', '.join(sorted(self.toolkit_names))}")
        return lines


def annotation(ref: TypeRef, needs: ModelSource, *, file_inputs_as_url: bool = False) -> str:
    """The annotation for ``ref``; records needed imports in ``needs``.

    ``file_inputs_as_url``: request fields for files are URLs (fal's convention: the client sends a
    URL, the app downloads it), so they are typed ``str``.
    """
    kind = ref.kind
    if kind in _SIMPLE:
        return _simple(kind, needs)
    if kind in _TOOLKIT:
        if file_inputs_as_url:
            return "str"
        needs.toolkit_names.add(_TOOLKIT[kind])
        return _TOOLKIT[kind]
    if kind in ("list", "optional"):
        return _container(ref, needs, file_inputs_as_url=file_inputs_as_url)
    if kind == "literal":
        needs.typing_names.add("Literal")
        return f"Literal[{', '.join(repr(c) for c in (ref.choices or []))}]"
    if kind == "model":
        return ref.name or "dict"
    raise ValueError(f"unknown type kind {kind!r}")


def _simple(kind: str, needs: ModelSource) -> str:
    if kind in ("json", "any"):
        needs.typing_names.add("Any")
    if kind == "secret":
        needs.pydantic_names.add("SecretStr")
    return _SIMPLE[kind]


def _container(ref: TypeRef, needs: ModelSource, *, file_inputs_as_url: bool) -> str:
    """``list[X]`` or ``X | None`` (an item of unknown type is ``Any``)."""
    inner = annotation(ref.item, needs, file_inputs_as_url=file_inputs_as_url) if ref.item else "Any"
    if ref.kind == "optional":
        return f"{inner} | None"
    if ref.item is None:
        needs.typing_names.add("Any")
    return f"list[{inner}]"


def _field_call(f: InputField, needs: ModelSource) -> str | None:
    args: list[str] = []
    if not f.required:
        default = f.default
        if isinstance(default, (list, dict)):
            args.append(f"default_factory=lambda: {default!r}")
        else:
            args.append(f"default={default!r}")
    for name in ("description", "ge", "le", "gt", "lt", "min_length", "max_length", "pattern"):
        value = getattr(f, name)
        if value is not None:
            args.append(f"{name}={value!r}")
    if f.deprecated:
        args.append("deprecated=True")
    if not args:
        return None
    if f.required:
        args.insert(0, "...")
    needs.pydantic_names.add("Field")
    return f"Field({', '.join(args)})"


def safe_name(name: str) -> str:
    """A field name pydantic and Python both accept; ``alias`` keeps the wire name."""
    if name.startswith("_"):  # pydantic refuses leading underscores: "_x" -> "x_"
        name = name.lstrip("_") or "field"
        return name if name.endswith("_") else f"{name}_"
    return f"{name}_" if keyword.iskeyword(name) or name in {"model_config"} else name


def unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name2``, ``name3``, ... when it is taken; the name returned is added to ``taken``."""
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}{n}", n + 1
    taken.add(candidate)
    return candidate


def model_source(
    class_name: str,
    fields: list[InputField],
    *,
    docstring: str | None = None,
    file_inputs_as_url: bool = False,
    indent: str = "    ",
) -> ModelSource:
    """``class <class_name>(BaseModel): ...`` with one annotated, constrained line per field."""
    out = ModelSource(code="")
    out.pydantic_names.add("BaseModel")
    lines = [f"class {class_name}(BaseModel):"]
    if docstring:
        lines.append(f'{indent}"""{docstring}"""')
    for f in fields:
        ann = annotation(f.type, out, file_inputs_as_url=file_inputs_as_url)
        name = safe_name(f.name)
        call = _field_call(f, out)
        if name != f.name:
            out.pydantic_names.add("Field")
            call = (call[:-1] + f", alias={f.name!r})") if call else f"Field(alias={f.name!r})"
        lines.append(f"{indent}{name}: {ann}" + (f" = {call}" if call else ""))
    if not fields and not docstring:
        lines.append(f"{indent}pass")
    out.code = "\n".join(lines) + "\n"
    return out
