"""One predictor parameter → one request field: its type, its ``Input(...)`` constraints, its default.

Defaults and choices may be expressions (``constants.StaticValues``); an environment read among them is
an FM123 finding naming the variable and the value used. Whether ``Input(default=None)`` on a type that
is not Optional makes the input required depends on the cog release the project pins (FM118).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import libcst as cst

from falmigrate.importers.cog.constants import EnvRead, NotStatic, StaticValues
from falmigrate.importers.cog.types import Names, Unsupported, to_typeref
from falmigrate.spec import InputField, Location, TypeRef

_INPUT_KEYS = {"default", "description", "ge", "le", "min_length", "max_length", "regex",
               "choices", "deprecated"}


class Reporter(Protocol):
    names: Names
    values: StaticValues

    def loc(self, node: cst.CSTNode) -> Location: ...

    def find(self, rule: str, message: str, remediation: str,
             node: cst.CSTNode | Location | None) -> None: ...


@dataclass(frozen=True)
class InputRules:
    """What the pinned cog release means by an ``Input``: ``none_required`` — ``Input(default=None)``
    on a non-Optional type is required (cog ≥ 0.17, or the coglet runtime) or optional (older cog)."""

    none_required: bool = True
    cog_version: str | None = None


@dataclass
class _Args:
    values: dict[str, Any] = field(default_factory=dict)
    reads: list[EnvRead] = field(default_factory=list)


def is_input_call(node: cst.BaseExpression | None, names: Names) -> bool:
    return isinstance(node, cst.Call) and names.is_cog(node.func, "Input")


def _evaluate(reader: Reporter, node: cst.BaseExpression, into: _Args, key: str) -> bool:
    try:
        value, reads = reader.values.value(node)
    except NotStatic:
        return False
    into.values[key] = value
    into.reads += reads
    return True


def _input_args(reader: Reporter, call: cst.Call, param: cst.Param) -> _Args:
    found = _Args()
    for index, arg in enumerate(call.args):
        key = arg.keyword.value if arg.keyword else ("default" if index == 0 else None)
        if key is None:
            continue
        if key not in _INPUT_KEYS:
            reader.find("FM114", f"Input({key}=…) of `{param.name.value}` has no fal equivalent: dropped",
                        "check the request model in fal_app.py", arg)
        elif not _evaluate(reader, arg.value, found, key):
            reader.find("FM114", f"Input({key}=…) of `{param.name.value}` is not a literal: dropped",
                        "write the value as a literal in the request model", arg)
    return found


def _report_reads(reader: Reporter, name: str, reads: list[EnvRead]) -> None:
    for read in dict.fromkeys(reads):
        source = "set by cog.yaml's environment" if read.from_config else "the read's literal default"
        reader.find("FM123",
                    f"`{name}` is computed from the environment variable {read.name} ({read.value!r}, "
                    f"{source}): the request model fixes the result when the app is converted",
                    f"set {read.name} in cog.yaml's environment (it becomes an ENV line) or "
                    "edit the default in fal_app.py; a value set only at run time no longer "
                    "changes the request schema",
                    read.location)


def _typeref(reader: Reporter, param: cst.Param, annotation: cst.BaseExpression | None) -> TypeRef:
    try:
        return to_typeref(annotation, reader.names)
    except Unsupported as exc:
        reader.find("FM107",
                    f"input `{param.name.value}` has type {exc}, which has no fal request type: typed Any",
                    "give the field a concrete type in the request model", param)
        return TypeRef(kind="any")


def _with_choices(ref: TypeRef, choices: Any) -> TypeRef:
    literal = TypeRef(kind="literal", choices=list(choices))
    return literal if ref.kind != "optional" else TypeRef(kind="optional", item=literal)


def _special_kinds(reader: Reporter, param: cst.Param, ref: TypeRef,
                   annotation: cst.BaseExpression | None) -> None:
    name = param.name.value
    leaf = ref.item if ref.kind == "optional" and ref.item is not None else ref
    if leaf.kind == "secret":
        reader.find("FM111", f"`{name}` is a cog.Secret: a SecretStr request field",
                    "send it with each request, or move it to a fal secret (`fal secrets set`)", param)
    elif ref.kind == "file" and reader.names.resolve(annotation) == "File":
        reader.find("FM110", f"`{name}` is a cog.File (deprecated): downloaded and opened in binary mode",
                    "use a path (cog.Path) and open it yourself if you need more control", param)


def _none_default(reader: Reporter, param: cst.Param, rules: InputRules) -> bool:
    """Whether an ``Input(default=None)`` on a non-Optional type is required; FM118 says which way."""
    name = param.name.value
    release = f"cog {rules.cog_version}" if rules.cog_version else "current cog (0.23)"
    if rules.none_required:
        reader.find("FM118",
                    f"`{name}` has Input(default=None) but its type is not Optional: {release} requires "
                    "it (cog before 0.17 left it out); the fal request requires it too",
                    f"annotate it `Optional[...]` (in cog as well) if callers may omit `{name}`", param)
        return True
    reader.find("FM118", f"`{name}` has Input(default=None) but its type is not Optional: {release} (pinned) "
                         "leaves it out when the request does, so the fal request field is optional (None)",
                "annotate it `Optional[...]`: cog 0.17 and later require such an input", param)
    return False


def input_field(reader: Reporter, param: cst.Param, rules: InputRules) -> InputField:
    name = param.name.value
    annotation = param.annotation.annotation if param.annotation else None
    ref = _typeref(reader, param, annotation)
    args = _Args()
    if is_input_call(param.default, reader.names):
        args = _input_args(reader, param.default, param)  # type: ignore[arg-type]
    elif param.default is not None and not _evaluate(reader, param.default, args, "default"):
        reader.find("FM114", f"default of `{name}` is not a literal: the input is required on fal",
                    "write the default as a literal", param)
    _report_reads(reader, name, args.reads)
    values = args.values
    if values.get("choices"):
        ref = _with_choices(ref, values["choices"])
    _special_kinds(reader, param, ref, annotation)
    default = values.get("default")
    required = default is None and ref.kind != "optional"
    if required and "default" in values and is_input_call(param.default, reader.names):
        required = _none_default(reader, param, rules)
    return InputField(name=name, type=ref, required=required, default=None if required else default,
                      description=values.get("description"), ge=values.get("ge"), le=values.get("le"),
                      min_length=values.get("min_length"), max_length=values.get("max_length"),
                      pattern=values.get("regex"), deprecated=bool(values.get("deprecated")),
                      location=reader.loc(param))
