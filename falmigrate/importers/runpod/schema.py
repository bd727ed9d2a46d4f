"""``rp_validator`` schemas and plain ``job["input"]`` reads → request fields.

A schema entry ``{"type": T, "required": bool, "default": v, "constraints": lambda x: ...}`` becomes an
``InputField``: type, required, default, and — for fields without a default, the only ones whose
constraints rp_validator really checks — the constraint when it is a recognised form
(``a <= x <= b``, ``x > a``, ``len(x) <= n``, ``x in [...]``, joined by ``and``). Other constraints
stay where they are: the handler still calls ``validate``, so nothing is lost; a finding says the
request model does not check them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from falmigrate.importers.runpod.reader import InputRead, WorkerModule, string_value
from falmigrate.spec import Finding, InputField, Location, TypeRef

_TYPES = {"str": "str", "int": "int", "float": "float", "bool": "bool", "list": "list", "dict": "dict"}
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}
_OPS = {cst.LessThan: "<", cst.LessThanEqual: "<=", cst.GreaterThan: ">", cst.GreaterThanEqual: ">="}
_BOUND = {">=": "ge", ">": "gt", "<=": "le", "<": "lt"}
_LEN = {">=": ("min_length", 0), ">": ("min_length", 1), "<=": ("max_length", 0), "<": ("max_length", -1)}


class NotLiteral(Exception):
    """An expression whose value cannot be known without running the worker."""


def literal(node: cst.BaseExpression | None, mod: WorkerModule | None = None) -> Any:
    """The Python value of a literal expression (names of module constants followed once)."""
    if node is None:
        raise NotLiteral("nothing")
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString, cst.Integer, cst.Float)):
        return _scalar(node)
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        return -literal(node.expression, mod)
    if isinstance(node, cst.Name):
        return _name_value(node, mod)
    if isinstance(node, (cst.List, cst.Tuple, cst.Set)):
        return [literal(e.value, mod) for e in node.elements]
    if isinstance(node, cst.Dict):
        return _dict_value(node, mod)
    raise NotLiteral(type(node).__name__)


def _scalar(node: cst.SimpleString | cst.ConcatenatedString | cst.Integer | cst.Float) -> str | int | float:
    if isinstance(node, cst.Integer):
        return int(node.value.replace("_", ""), 0)
    if isinstance(node, cst.Float):
        return float(node.value.replace("_", ""))
    value = node.evaluated_value
    if isinstance(value, str):
        return value
    raise NotLiteral(type(node).__name__)  # bytes, or a concatenation that holds an f-string


def _name_value(node: cst.Name, mod: WorkerModule | None) -> Any:
    """True, False and None, or a module constant's value (its own names are not followed)."""
    if node.value in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[node.value]
    if mod is not None and node.value in mod.assignments:
        return literal(mod.assignments[node.value], None)
    raise NotLiteral(type(node).__name__)


def _dict_value(node: cst.Dict, mod: WorkerModule | None) -> dict:
    out = {}
    for e in node.elements:
        if not isinstance(e, cst.DictElement):
            raise NotLiteral("**")
        out[literal(e.key, mod)] = literal(e.value, mod)
    return out


def type_of_value(value: Any) -> TypeRef:
    for py, kind in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str"), (list, "list"),
                     (dict, "dict")):
        if isinstance(value, py):
            return TypeRef(kind=kind)
    return TypeRef(kind="any")


@dataclass
class Constraint:
    bounds: dict[str, Any] = field(default_factory=dict)
    choices: list[Any] | None = None


def _operand(node: cst.BaseExpression, var: str, mod: WorkerModule) -> tuple[str, Any]:
    """("x", None), ("len", None) or ("const", value)."""
    if isinstance(node, cst.Name) and node.value == var:
        return "x", None
    if (isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "len"
            and len(node.args) == 1 and isinstance(node.args[0].value, cst.Name)
        and node.args[0].value.value == var):
        return "len", None
    return "const", literal(node, mod)


def _comparison(node: cst.Comparison, var: str, mod: WorkerModule, out: Constraint) -> None:
    operands = [node.left] + [c.comparator for c in node.comparisons]
    for i, comp in enumerate(node.comparisons):
        left, right = _operand(operands[i], var, mod), _operand(operands[i + 1], var, mod)
        if isinstance(comp.operator, cst.In) and left[0] == "x" and right[0] == "const":
            out.choices = list(right[1])
            continue
        op = _OPS.get(type(comp.operator))
        if op is None:
            raise NotLiteral("operator")
        if left[0] == "const" and right[0] != "const":
            left, right, op = right, left, _FLIP[op]
        if right[0] != "const" or left[0] == "const":
            raise NotLiteral("two variables")
        if left[0] == "x":
            out.bounds[_BOUND[op]] = right[1]
        else:
            name, shift = _LEN[op]
            out.bounds[name] = int(right[1]) + shift


def read_constraint(node: cst.BaseExpression, mod: WorkerModule) -> Constraint | None:
    """A recognised ``lambda x: ...`` constraint, or None."""
    if not isinstance(node, cst.Lambda) or len(node.params.params) != 1:
        return None
    var = node.params.params[0].name.value
    out = Constraint()
    todo = [node.body]
    try:
        while todo:
            expr = todo.pop()
            if isinstance(expr, cst.BooleanOperation) and isinstance(expr.operator, cst.And):
                todo += [expr.left, expr.right]
            elif isinstance(expr, cst.Comparison):
                _comparison(expr, var, mod, out)
            else:
                return None
    except (NotLiteral, TypeError, ValueError):
        return None
    return out


def _schema_field(name: str, rules: cst.Dict, mod: WorkerModule, loc: Location,
                  findings: list[Finding]) -> InputField:
    entries = {string_value(e.key): e.value for e in rules.elements if isinstance(e, cst.DictElement)}
    type_node = entries.get("type")
    kind = _TYPES.get(type_node.value) if isinstance(type_node, cst.Name) else None
    ref = TypeRef(kind=kind or "any")
    if kind is None:
        findings.append(Finding(rule="FM303", severity="warning", location=loc,
                                message=f"schema field {name!r} has a type falmigrate "
                                        "does not know; typed Any",
                                remediation="give the request model field its real type"))
    try:
        required = bool(literal(entries.get("required"), mod)) if "required" in entries else True
    except NotLiteral:
        required = True
    default = None
    if "default" in entries:
        try:
            default = literal(entries["default"], mod)
        except NotLiteral:
            findings.append(Finding(rule="FM304", severity="info", location=loc,
                                    message=f"the default of {name!r} is computed; the request "
                                            "model leaves it unset",
                                    remediation="the handler's validate() call still fills it in"))
    update: dict[str, Any] = {}
    if "constraints" in entries and "default" in entries:
        # rp_validator (checked in runpod 1.10.0) skips every check, constraints included, of a field
        # with a default when the value has the default's type: a request model enforcing the
        # constraint would refuse requests RunPod accepts.
        findings.append(Finding(rule="FM304", severity="info", location=loc,
                                message=f"the constraint on {name!r} is not enforced by RunPod "
                                        "(rp_validator skips constraints of fields with a "
                                        "default); the request model does not add it",
                                remediation="add a pydantic Field constraint if the check was intended"))
    elif "constraints" in entries:
        constraint = read_constraint(entries["constraints"], mod)
        if constraint is None:
            findings.append(Finding(rule="FM304", severity="info", location=loc,
                                    message=f"the constraint on {name!r} is not a form falmigrate translates",
                                    remediation="the handler's validate() call still "
                                                "checks it; add a pydantic Field constraint to reject bad "
                                                "input before the handler runs"))
        else:
            update = dict(constraint.bounds)
            if (constraint.choices is not None
                    and all(isinstance(c, (str, int, float, bool)) for c in constraint.choices)):
                ref = TypeRef(kind="literal", choices=constraint.choices)
    return InputField(name=name, type=ref, required=required, default=None if required else default,
                      location=loc, **update)


def schema_fields(mod: WorkerModule, schema_name: str, findings: list[Finding]) -> list[InputField] | None:
    """The request fields of the module-level schema ``schema_name``; None when it is not a literal dict."""
    return dict_fields(mod, mod.assignments.get(schema_name), findings)


def dict_fields(mod: WorkerModule, node: cst.BaseExpression | None,
                findings: list[Finding]) -> list[InputField] | None:
    """The request fields of a schema dict literal found in ``mod``; None when it is not one."""
    if not isinstance(node, cst.Dict):
        return None
    fields = []
    for element in node.elements:
        key = string_value(element.key) if isinstance(element, cst.DictElement) else None
        if key is None or not isinstance(element.value, cst.Dict):
            return None
        loc = Location(file=mod.path, line=mod.line(element))
        fields.append(_schema_field(key, element.value, mod, loc, findings))
    return fields


def _plain_annotation(text: str) -> str:
    """``int | None`` / ``Optional[int]`` / ``builtins.int`` → ``int`` (the field is optional anyway)."""
    text = text.replace(" ", "").removeprefix("builtins.")
    for wrapper in ("Optional[", "typing.Optional["):
        if text.startswith(wrapper) and text.endswith("]"):
            text = text[len(wrapper):-1]
    parts = [part for part in text.split("|") if part != "None"]
    return parts[0] if len(parts) == 1 else text


def read_fields(mod: WorkerModule, reads: list[InputRead]) -> list[InputField]:
    """Keys read from ``job["input"]`` → optional fields; a literal ``.get`` default gives the type.
    Parameters of a function called with ``**job["input"]`` keep their annotation and requiredness."""
    fields = []
    for read in reads:
        ref, default = TypeRef(kind="any"), None
        if read.has_default:
            try:
                default = literal(read.default, mod)
                if default is not None:
                    ref = type_of_value(default)
            except NotLiteral:
                default = None
        if read.annotation is not None:
            ref = TypeRef(kind=_TYPES.get(_plain_annotation(read.annotation), ref.kind))
        fields.append(InputField(name=read.key, type=ref, required=read.required,
                                 default=None if read.required else default,
                                 location=Location(file=mod.path, line=read.line)))
    return fields
