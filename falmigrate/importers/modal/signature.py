"""Function signatures → request fields (``InputField``) and output types (``TypeRef``), statically.

Annotations are read as written: builtins, ``typing`` generics, ``X | None``, ``Literal[...]`` and the
module's own pydantic models (kept by name). Defaults are evaluated only when they are literals or
module-level constants; ``pydantic.Field(...)``/``fastapi.Query(...)``-style defaults give their
``default=`` and constraints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from falmigrate.importers.modal.reader import ModalModule, NotLiteral
from falmigrate.spec import Finding, InputField, Location, TypeRef

_SIMPLE = {"str": "str", "int": "int", "float": "float", "bool": "bool", "dict": "dict", "Dict": "dict",
           "Any": "any", "None": "none", "bytes": "str", "Path": "file"}
_LISTS = {"list", "List", "Sequence", "tuple", "Tuple", "Iterable"}
_STREAMS = {"Iterator", "Generator", "AsyncIterator", "AsyncGenerator", "Iterable"}
_CONSTRAINTS = ("description", "ge", "le", "gt", "lt", "min_length", "max_length", "pattern")


@dataclass
class Signature:
    fields: list[InputField] = field(default_factory=list)
    body_param: str | None = None  # the one parameter that *is* the request body (a model or dict)
    body_type: str | None = None
    output: TypeRef = field(default_factory=lambda: TypeRef(kind="any"))
    output_model: str | None = None  # a module BaseModel class returned as-is
    stream: bool = False
    findings: list[Finding] = field(default_factory=list)


def module_models(mod: ModalModule) -> dict[str, cst.ClassDef]:
    """Classes in the module that derive from a pydantic BaseModel (by name)."""
    out: dict[str, cst.ClassDef] = {}
    for stmt in mod.module.body:
        if isinstance(stmt, cst.ClassDef):
            bases = {cst.helpers.get_full_name_for_node(b.value) for b in stmt.bases}
            if bases & {"BaseModel", "pydantic.BaseModel"} or bases & set(out):
                out[stmt.name.value] = stmt
    return out


def _union(mod: ModalModule, ann: cst.BinaryOperation, models: dict[str, cst.ClassDef]) -> TypeRef:
    left, right = ann.left, ann.right
    if isinstance(right, cst.Name) and right.value == "None":
        return TypeRef(kind="optional", item=type_ref(mod, left, models))
    if isinstance(left, cst.Name) and left.value == "None":
        return TypeRef(kind="optional", item=type_ref(mod, right, models))
    return TypeRef(kind="any")


def _generic(mod: ModalModule, ann: cst.Subscript, models: dict[str, cst.ClassDef]) -> TypeRef:
    base = (cst.helpers.get_full_name_for_node(ann.value) or "").rsplit(".", 1)[-1]
    items = [e.slice.value for e in ann.slice if isinstance(e.slice, cst.Index)]
    if base in ("Optional", "Annotated", *_LISTS) and items:
        inner = type_ref(mod, items[0], models)
        return (inner if base == "Annotated"
                else TypeRef(kind="optional" if base == "Optional" else "list", item=inner))
    if base == "Literal":
        try:
            return TypeRef(kind="literal", choices=[mod.literal(i) for i in items])
        except NotLiteral:
            return TypeRef(kind="any")
    return TypeRef(kind="dict") if base in ("dict", "Dict") else TypeRef(kind="any")


def type_ref(mod: ModalModule, ann: cst.BaseExpression | None, models: dict[str, cst.ClassDef]) -> TypeRef:
    if ann is None:
        return TypeRef(kind="any")
    if isinstance(ann, cst.BinaryOperation) and isinstance(ann.operator, cst.BitOr):
        return _union(mod, ann, models)
    if isinstance(ann, cst.Subscript):
        return _generic(mod, ann, models)
    name = (cst.helpers.get_full_name_for_node(ann) or "").rsplit(".", 1)[-1]
    if name in models:
        return TypeRef(kind="model", name=name)
    if name in _SIMPLE:
        return TypeRef(kind=_SIMPLE[name])  # type: ignore[arg-type]
    return TypeRef(kind="list") if name in ("list", "List") else TypeRef(kind="any")


def _field_call_defaults(mod: ModalModule, call: cst.Call) -> dict[str, Any]:
    out: dict[str, Any] = {}
    positional = [a for a in call.args if a.keyword is None]
    if positional and not (isinstance(positional[0].value, cst.Ellipsis)):
        out["default"] = mod.literal(positional[0].value)
    for arg in call.args:
        if arg.keyword is None:
            continue
        key = {"regex": "pattern"}.get(arg.keyword.value, arg.keyword.value)
        if key == "default" or key in _CONSTRAINTS:
            out[key] = mod.literal(arg.value)
    return out


def input_field(mod: ModalModule, param: cst.Param,
                models: dict[str, cst.ClassDef]) -> tuple[InputField, Finding | None]:
    name = param.name.value
    ann = param.annotation.annotation if param.annotation else None
    tref = type_ref(mod, ann, models)
    loc = Location(file=mod.path, line=mod.line_of(param))
    data: dict[str, Any] = {"name": name, "type": tref, "location": loc}
    finding = None
    if param.default is not None:
        try:
            if (isinstance(param.default, cst.Call)
                    and (cst.helpers.get_full_name_for_node(param.default.func) or "").rsplit(".", 1)[-1]
                    in ("Field", "Query", "Body")):
                extra = _field_call_defaults(mod, param.default)
                if "default" in extra:
                    data["required"] = False
                data.update(extra)
            else:
                data["default"] = mod.literal(param.default)
                data["required"] = False
        except NotLiteral:
            data["required"] = False
            finding = Finding(rule="FM219", severity="warning", location=loc,
                              message=f"default of {name!r} is computed at run time; the request "
                                      "model has no default",
                              remediation="set a literal default in the generated input model")
    return InputField(**data), finding


def read_signature(mod: ModalModule, fn: cst.FunctionDef, *, is_method: bool) -> Signature:
    models = module_models(mod)
    sig = Signature()
    params = list(fn.params.params)
    if is_method and params:
        params = params[1:]
    params += list(fn.params.kwonly_params)
    variadic = [p.name.value for p in (fn.params.star_arg, fn.params.star_kwarg) if isinstance(p, cst.Param)]
    if variadic:
        sig.findings.append(Finding(
            rule="FM219", severity="warning", location=Location(file=mod.path, line=mod.line_of(fn)),
            message=f"{fn.name.value}: variadic parameters ({', '.join(variadic)}) are not part "
                    "of the request model",
            remediation="add named fields for them to the generated input model"))
    for param in params:
        fld, finding = input_field(mod, param, models)
        sig.fields.append(fld)
        if finding:
            sig.findings.append(finding)
    if len(sig.fields) == 1 and sig.fields[0].type.kind in ("model", "dict"):
        only = sig.fields[0]
        sig.body_param = only.name
        sig.body_type = only.type.name if only.type.kind == "model" else "dict"
        if only.type.kind == "model":
            sig.fields = model_fields(mod, models[only.type.name], models)
    ret = fn.returns.annotation if fn.returns else None
    if (isinstance(ret, cst.Subscript)
            and (cst.helpers.get_full_name_for_node(ret.value) or "").rsplit(".", 1)[-1] in _STREAMS):
        sig.stream = True
        items = [e.slice.value for e in ret.slice if isinstance(e.slice, cst.Index)]
        sig.output = TypeRef(kind="list", item=type_ref(mod, items[0], models) if items else None)
    else:
        sig.output = type_ref(mod, ret, models)
        if sig.output.kind == "model":
            sig.output_model = sig.output.name
    if _has_yield(fn):
        sig.stream = True
    return sig


def model_fields(mod: ModalModule, cls: cst.ClassDef, models: dict[str, cst.ClassDef]) -> list[InputField]:
    """Fields of a user's pydantic model class, for the spec (the class itself is kept in the code)."""
    out = []
    for stmt in cls.body.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
                param = cst.Param(name=small.target, annotation=small.annotation, default=small.value)
                fld, _ = input_field(mod, param, models)
                out.append(fld)
    return out


class _YieldFinder(cst.CSTVisitor):
    def __init__(self) -> None:
        self.found = False

    def visit_Yield(self, node: cst.Yield) -> None:
        self.found = True

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return not self.found and node is self.root  # do not descend into nested functions

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False


def _has_yield(fn: cst.FunctionDef) -> bool:
    finder = _YieldFinder()
    finder.root = fn  # type: ignore[attr-defined]
    fn.visit(finder)
    return finder.found
