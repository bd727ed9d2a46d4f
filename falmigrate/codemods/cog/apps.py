"""The app classes the cog codemod writes besides rewriting a predictor class in place.

- A function predictor (``predict: "predict.py:run"``) becomes an app class with that function as its
  endpoint: the function is wrapped into a one-method class and goes through the same class rewrite.
- ``train:`` becomes a trainer app class (``/train``) that calls the user's training function as it is
  — from its own module, imported in ``setup()`` (never when fal_app is imported to read its schema).
- Module-level ``parser.parse_args()`` parses ``[]``: the parser's defaults, as under cog, instead of
  the argv of fal's runner (FM122).
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from falmigrate.render.models import safe_name
from falmigrate.spec import Endpoint, TypeRef


def function_as_class(function: cst.FunctionDef, class_name: str) -> cst.ClassDef:
    """``def run(...)`` → ``class <class_name>:`` with ``def run(self, ...)`` (rewritten like a predictor)."""
    params = function.params.with_changes(params=[cst.Param(cst.Name("self")), *function.params.params])
    method = function.with_changes(params=params, leading_lines=[])
    return cst.ClassDef(name=cst.Name(class_name), body=cst.IndentedBlock(body=[method]),
                        leading_lines=function.leading_lines)


@dataclass
class TrainerCall:
    """What the trainer class needs: its endpoint, models, and where the training function lives."""

    class_name: str
    endpoint: Endpoint
    input_class: str
    output_class: str
    wrap_model: bool
    module: str | None  # the trainer's module to import; None when it is the rewritten module itself
    function: str
    reference: str  # cog.yaml's train: as written


def _file(ref: TypeRef) -> bool:
    while ref.kind in ("optional", "list") and ref.item is not None:
        ref = ref.item
    return ref.kind == "file"


def _arguments(call: TrainerCall, request: str) -> str:
    parts = []
    for f in call.endpoint.inputs:
        value = f"{request}.{safe_name(f.name)}"
        parts.append(f"{f.name}=_falmigrate_download({value})" if _file(f.type) else f"{f.name}={value}")
    return ", ".join(parts)


def trainer_class(call: TrainerCall) -> list[cst.BaseStatement]:
    """The trainer app class (led by two blank lines)."""
    request = next(n for n in ("request", "request_", "fal_request")
                   if n not in {f.name for f in call.endpoint.inputs})
    target = "self.train_function" if call.module else call.function
    prefix, wait = ("async def", "await ") if call.endpoint.is_async else ("def", "")
    answer = (f"{call.output_class}(**_falmigrate_value(result))" if call.wrap_model
              else f"{call.output_class}(output=_falmigrate_value(result))")
    lines = [f"class {call.class_name}(fal.App):",
             (f'    """cog.yaml `train: {call.reference}` as its own app: trainings run far longer '
              'than predictions."""'),
             ""]
    if call.module:
        lines += ["    def setup(self):",
                  (f"        from {call.module} import {call.function} as train_function  "
                   "# runs as cog ran it"),
                  "",
                  "        self.train_function = train_function",
                  ""]
    lines += [f'    @fal.endpoint("{call.endpoint.path}")',
              f"    {prefix} train(self, {request}: {call.input_class}) -> {call.output_class}:",
              f"        result = {wait}{target}({_arguments(call, request)})",
              f"        return {answer}"]
    body = list(cst.parse_module("\n".join(lines) + "\n").body)
    blank = [cst.EmptyLine(indent=False), cst.EmptyLine(indent=False)]
    return [body[0].with_changes(leading_lines=blank)]


class ParseNoArgv(cst.CSTTransformer):
    """``parser.parse_args()`` / ``parse_known_args()`` at module level → ``(…)([])``."""

    def __init__(self) -> None:
        self.depth = 0
        self.changed = 0

    def _enter(self, node: cst.CSTNode) -> bool:
        self.depth += 1
        return True

    def _leave(self, original: cst.CSTNode, updated: cst.CSTNode) -> cst.CSTNode:
        self.depth -= 1
        return updated

    visit_FunctionDef = visit_ClassDef = visit_Lambda = _enter
    leave_FunctionDef = leave_ClassDef = leave_Lambda = _leave

    def visit_If(self, node: cst.If) -> bool:
        test = cst.Module([]).code_for_node(node.test)
        return not ("__name__" in test and "__main__" in test)  # a script's own block keeps its argv

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        if self.depth or updated.args or not isinstance(updated.func, cst.Attribute) \
                or updated.func.attr.value not in ("parse_args", "parse_known_args"):
            return updated
        self.changed += 1
        return updated.with_changes(args=[cst.Arg(cst.List(elements=[]))])
