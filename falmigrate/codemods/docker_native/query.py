"""Query parameters of a non-POST FastAPI route → a request-body model for its fal endpoint.

fal endpoints answer POST with a JSON body, so a ``GET /count?upto=4`` route's scalar query
parameters become fields of ``CountQuery`` (same annotations and defaults) and the endpoint reads
them from the body. Only for routes whose other parameters are path parameters: a route that
already has a body (or Depends, Request, *args…) keeps its parameters as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import libcst as cst

_SCALAR = re.compile(r"^(?:Optional\[)?(int|float|str|bool)(?:\])?(?:\s*\|\s*None)?$"
                     r"|^(?:list|List)\[(int|float|str|bool)\](?:\s*\|\s*None)?$")
_LITERAL = (cst.Integer, cst.Float, cst.SimpleString, cst.Name, cst.UnaryOperation, cst.List, cst.Tuple)


@dataclass
class QueryPlan:
    model_name: str
    model_code: str  # class source (module level)
    params: str  # the endpoint's parameters after self
    call: str  # arguments for the handler call


def _code(module: cst.Module, node: cst.CSTNode) -> str:
    return module.code_for_node(node).strip()


def _movable(param: cst.Param, module: cst.Module) -> bool:
    if param.annotation is None or not _SCALAR.match(_code(module, param.annotation.annotation)):
        return False
    return param.default is None or isinstance(param.default, _LITERAL)


def plan_query(fn: cst.FunctionDef, path: str, module: cst.Module, taken_names: set[str]) -> QueryPlan | None:
    params = fn.params
    if params.posonly_params or params.star_kwarg is not None or isinstance(params.star_arg, cst.Param):
        return None
    path_names = set(re.findall(r"\{(\w+)(?::[^}]*)?\}", path))
    every = [*params.params, *params.kwonly_params]
    in_path = [p for p in every if p.name.value in path_names]
    moved = [p for p in every if p.name.value not in path_names]
    if not moved or not all(_movable(p, module) for p in moved):
        return None
    base = "".join(part.capitalize() for part in fn.name.value.split("_") if part) or "Route"
    name = f"{base}Query"
    while name in taken_names:
        name += "_"
    taken_names.add(name)
    fields = []
    for p in moved:
        default = f" = {_code(module, p.default)}" if p.default is not None else ""
        fields.append(f"    {p.name.value}: {_code(module, p.annotation.annotation)}{default}")
    model = f"class {name}(pydantic.BaseModel):\n" + "\n".join(fields) + "\n"
    var = "query"
    while var in {p.name.value for p in every}:
        var += "_"
    kept = [_code(module, p.with_changes(comma=cst.MaybeSentinel.DEFAULT)) for p in in_path]
    call = ([f"{p.name.value}={p.name.value}" for p in in_path]
            + [f"{p.name.value}={var}.{p.name.value}" for p in moved])
    return QueryPlan(name, model, ", ".join([f"{var}: {name}", *kept]), ", ".join(call))
