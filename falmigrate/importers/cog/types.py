"""cog annotations (libcst nodes) → the spec's TypeRef, using the type table in ``data/mapping.json``.

Names are resolved through the module's cog imports (``from cog import Path as P``, ``import cog``),
so ``cog.Path``, ``P`` and ``Path`` from cog all mean a file; a ``pathlib.Path`` is a file too.
Iterator-like return annotations make a stream (``is_stream``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from falmigrate.importers.cog import mapping
from falmigrate.spec import InputField, TypeRef

STREAM_NAMES = {"Iterator", "AsyncIterator", "Generator", "AsyncGenerator", "Iterable", "AsyncIterable",
                "ConcatenateIterator", "AsyncConcatenateIterator"}
OPTIONAL_NAMES = {"Optional"}
UNION_NAMES = {"Union"}
LIST_NAMES = {"list", "List", "Sequence", "tuple", "Tuple"}


@dataclass
class Names:
    """How the module spells cog: local alias → cog name, and the module aliases of ``import cog``."""

    cog: dict[str, str] = field(default_factory=dict)
    modules: set[str] = field(default_factory=set)
    models: dict[str, list[InputField]] = field(default_factory=dict)  # output classes by name

    def resolve(self, node: cst.BaseExpression) -> str | None:
        """The plain name an annotation head means (``cog.Path`` → ``Path``, ``typing.List`` → ``List``)."""
        if isinstance(node, cst.Name):
            return self.cog.get(node.value, node.value)
        if isinstance(node, cst.Attribute) and isinstance(node.attr, cst.Name):
            return node.attr.value
        return None

    def is_cog(self, node: cst.BaseExpression, name: str) -> bool:
        if isinstance(node, cst.Name):
            return self.cog.get(node.value) == name
        return (isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name)
                and node.value.value in self.modules and node.attr.value == name)


class Unsupported(Exception):
    """An annotation with no fal equivalent; the message names it."""


def _args(node: cst.Subscript) -> list[cst.BaseExpression]:
    return [el.slice.value for el in node.slice if isinstance(el.slice, cst.Index)]


def _literal_value(node: cst.BaseExpression) -> object:
    import ast

    return ast.literal_eval(cst.Module([]).code_for_node(node))


def _is_none(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"


def to_typeref(node: cst.BaseExpression | None, names: Names) -> TypeRef:
    """The TypeRef of an annotation; raises ``Unsupported`` for what fal cannot express."""
    if node is None:
        return TypeRef(kind="any")
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.BitOr):
        return _union_typeref(node, names)
    if _is_none(node):
        return TypeRef(kind="none")
    if isinstance(node, cst.Subscript):
        return _subscript_typeref(node, names)
    return _named_typeref(node, names)


def _union_typeref(node: cst.BinaryOperation, names: Names) -> TypeRef:
    """``X | None`` is optional X; any other union has no fal form."""
    rest = [p for p in (node.left, node.right) if not _is_none(p)]
    if len(rest) == 1:
        return TypeRef(kind="optional", item=to_typeref(rest[0], names))
    raise Unsupported(cst.Module([]).code_for_node(node))


def _subscript_typeref(node: cst.Subscript, names: Names) -> TypeRef:
    head = names.resolve(node.value)
    args = _args(node)
    if head in OPTIONAL_NAMES and len(args) == 1:
        return TypeRef(kind="optional", item=to_typeref(args[0], names))
    if head in UNION_NAMES:
        rest = [a for a in args if not _is_none(a)]
        if len(rest) == 1 and len(args) == 2:
            return TypeRef(kind="optional", item=to_typeref(rest[0], names))
    if head in LIST_NAMES and args:
        return TypeRef(kind="list", item=to_typeref(args[0], names))
    if head in STREAM_NAMES and args:
        return to_typeref(args[0], names)
    if head == "Literal":
        return TypeRef(kind="literal", choices=[_literal_value(a) for a in args])
    if head in ("dict", "Dict"):
        return TypeRef(kind="json")
    raise Unsupported(cst.Module([]).code_for_node(node))


def _named_typeref(node: cst.BaseExpression, names: Names) -> TypeRef:
    head = names.resolve(node)
    if head in names.models:
        return TypeRef(kind="model", name=head, fields=names.models[head])
    kind = mapping.mapping()["types"].get(head or "")
    if kind == "list":
        return TypeRef(kind="list", item=TypeRef(kind="any"))
    if kind:
        return TypeRef(kind=kind)
    raise Unsupported(cst.Module([]).code_for_node(node))


def is_stream(node: cst.BaseExpression | None, names: Names) -> bool:
    return isinstance(node, cst.Subscript) and names.resolve(node.value) in STREAM_NAMES


def file_kind(ref: TypeRef) -> bool:
    """Whether a request field carries a file (directly, optional, or a list of them)."""
    while ref.kind in ("optional", "list") and ref.item is not None:
        ref = ref.item
    return ref.kind == "file"
