"""The libcst edits of the predictor class: base → ``fal.App``, ``setup``, endpoint(s).

The class gets no deploy settings (image, machine, scaling, secrets): fal reads them from the generated
pyproject.toml and never loads the class on the deploying machine.

``predict``/``run`` keeps its body: its parameters are bound from the request model at the top (files
downloaded first), each ``return X`` becomes ``return <Output>(output=_falmigrate_value(X))`` (or the
output model's fields), and a generator body moves to ``_<method>_items`` behind two endpoints:
``/`` (the whole list) and ``/stream`` (server-sent events).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from falmigrate.codemods.cog import support
from falmigrate.importers.cog.types import Names
from falmigrate.render.models import safe_name
from falmigrate.spec import Endpoint, TypeRef


@dataclass
class EndpointPlan:
    endpoint: Endpoint
    input_class: str
    output_class: str
    wrap_model: bool  # the output is a model: its fields, not a single `output` field
    request: str  # the endpoint parameter's name
    setup_weights: bool
    todos: dict[str, list[str]] = field(default_factory=dict)  # "class"/"setup"/"endpoint" → comments


def _comment_lines(texts: list[str], indent: bool = False) -> list[cst.EmptyLine]:
    return [cst.EmptyLine(indent=indent, comment=cst.Comment(t)) for t in texts]


def _is_docstring(statement: cst.BaseStatement) -> bool:
    return (isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
            and isinstance(statement.body[0], cst.Expr)
            and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))


def _insert_after_docstring(body: list[cst.BaseStatement], new: list[cst.BaseStatement]) -> list:
    at = 1 if body and _is_docstring(body[0]) else 0
    return [*body[:at], *new, *body[at:]]


class _Returns(cst.CSTTransformer):
    """Wrap ``return X`` of one function scope (nested defs, lambdas and classes are left alone)."""

    def __init__(self, plan: EndpointPlan) -> None:
        self.plan = plan
        self.depth = 0

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.depth += 1
        return self.depth == 1

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef) -> cst.FunctionDef:
        self.depth -= 1
        return updated

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def leave_Return(self, original: cst.Return, updated: cst.Return) -> cst.Return:
        if updated.value is None:
            return updated
        value = cst.Call(func=cst.Name("_falmigrate_value"), args=[cst.Arg(updated.value)])
        tight = cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                whitespace_after=cst.SimpleWhitespace(""))
        arg = cst.Arg(value, star="**") if self.plan.wrap_model else \
            cst.Arg(value, keyword=cst.Name("output"), equal=tight)
        return updated.with_changes(value=cst.Call(func=cst.Name(self.plan.output_class), args=[arg]))


def _file_input(ref: TypeRef) -> bool:
    while ref.kind in ("optional", "list") and ref.item is not None:
        ref = ref.item
    return ref.kind == "file"


class _Uses(cst.CSTVisitor):
    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)


def _bindings(plan: EndpointPlan, opened: set[str], body: cst.BaseSuite) -> list[cst.BaseStatement]:
    """``name = request.name`` for each input the body uses (unused ones stay in the request model)."""
    uses = _Uses()
    body.visit(uses)
    lines = []
    for f in plan.endpoint.inputs:
        if f.name not in uses.names:
            continue
        source = f"{plan.request}.{safe_name(f.name)}"
        if _file_input(f.type):
            extra = ", open_file=True" if f.name in opened else ""
            source = f"_falmigrate_download({source}{extra})"
        lines.append(cst.parse_statement(f"{f.name} = {source}\n"))
    return lines


def _params(plan: EndpointPlan) -> cst.Parameters:
    annotation = cst.Annotation(cst.Name(plan.input_class))
    return cst.Parameters(params=[cst.Param(cst.Name("self")), cst.Param(cst.Name(plan.request), annotation)])


def _endpoint_decorator(path: str) -> cst.Decorator:
    return cst.Decorator(cst.parse_expression(f'fal.endpoint("{path}")'))


def endpoint_defs(function: cst.FunctionDef, plan: EndpointPlan, opened: set[str],
                  kept: list[cst.Decorator] | None = None) -> list[cst.FunctionDef]:
    """The endpoint method(s) replacing ``function`` (the user's predict/run); ``kept`` are the user's
    own decorators (``@torch.inference_mode()``…), applied under ``@fal.endpoint`` as before."""
    kept = list(kept or [])
    body = list(function.body.body)
    statements = _insert_after_docstring(body, _bindings(plan, opened, function.body))
    leading = [*function.leading_lines, *_comment_lines(plan.todos.get("endpoint", []), indent=True)]
    name = function.name.value
    if plan.endpoint.output_mode != "stream":
        new = function.with_changes(
            decorators=[_endpoint_decorator("/"), *kept], params=_params(plan), leading_lines=leading,
            whitespace_before_params=cst.SimpleWhitespace(""),
            returns=cst.Annotation(cst.Name(plan.output_class)),
            body=function.body.with_changes(body=statements))
        return [new.visit(_Returns(plan))]
    is_async = function.asynchronous is not None
    items = function.with_changes(name=cst.Name(f"_{name}_items"), decorators=kept, params=_params(plan),
                                  whitespace_before_params=cst.SimpleWhitespace(""),
                                  leading_lines=leading,
                                  body=function.body.with_changes(body=statements))
    call = f"self._{name}_items({plan.request})"
    collect = (f"[_falmigrate_value(item) async for item in {call}]" if is_async
               else f"[_falmigrate_value(item) for item in {call}]")
    prefix = "async def" if is_async else "def"
    events = "_falmigrate_aevents" if is_async else "_falmigrate_events"
    text = (f'class _X:\n'
            f'    @fal.endpoint("/")\n'
            f'    {prefix} {name}(self, {plan.request}: {plan.input_class}) -> {plan.output_class}:\n'
            f'        return {plan.output_class}(output={collect})\n\n'
            f'    @fal.endpoint("/stream")\n'
            f'    {prefix} {name}_stream(self, {plan.request}: {plan.input_class}) -> StreamingResponse:\n'
            f'        return StreamingResponse({events}({call}), media_type="text/event-stream")\n')
    generated = cst.parse_module(text).body[0].body.body
    first = generated[0].with_changes(leading_lines=[cst.EmptyLine(indent=False)])
    return [items, first, *generated[1:]]


def setup_def(function: cst.FunctionDef, plan: EndpointPlan) -> cst.FunctionDef:
    """``setup(self, weights)`` → ``setup(self)`` with ``weights`` bound like cog bound it."""
    if not plan.setup_weights:
        return function
    kept = [p.with_changes(comma=cst.MaybeSentinel.DEFAULT) for p in function.params.params
            if p.name.value == "self"]
    params = function.params.with_changes(params=kept)
    uses = _Uses()
    function.body.visit(uses)
    todo = _comment_lines(plan.todos.get("setup", []), indent=True)
    statements = list(function.body.body)
    if "weights" in uses.names:
        binding = cst.parse_statement("weights = _falmigrate_weights()\n").with_changes(leading_lines=todo)
        body = _insert_after_docstring(statements, [binding])
    else:  # not read: no binding (ruff F841), the TODO goes above the first statement
        at = 1 if statements and _is_docstring(statements[0]) else 0
        if at < len(statements):
            statements[at] = statements[at].with_changes(leading_lines=[*statements[at].leading_lines, *todo])
        body = statements
    return function.with_changes(params=params, body=function.body.with_changes(body=body))


class _SelfAttrs(cst.CSTVisitor):
    def __init__(self) -> None:
        self.attrs: set[str] = set()

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if isinstance(node.value, cst.Name) and node.value.value == "self":
            self.attrs.add(node.attr.value)


def _uses_self_attr(cls: cst.ClassDef, attr: str) -> bool:
    visitor = _SelfAttrs()
    cls.body.visit(visitor)
    return attr in visitor.attrs


def _is_cog_concurrent(decorator: cst.Decorator, names: Names) -> bool:
    """cog's ``@concurrent(max=N)``: it became ``max_multiplexing``, so the decorator goes."""
    node = decorator.decorator
    return names.is_cog(node.func if isinstance(node, cst.Call) else node, "concurrent")


def rewrite_class(cls: cst.ClassDef, plan: EndpointPlan, names: Names, opened: set[str]) -> cst.ClassDef:
    bases = []
    for base in cls.bases:
        if names.is_cog(base.value, "BasePredictor") or names.is_cog(base.value, "BaseRunner"):
            base = base.with_changes(value=cst.parse_expression("fal.App"))
        bases.append(base)
    if not any(cst.Module([]).code_for_node(b.value) == "fal.App" for b in bases):
        bases.insert(0, cst.Arg(cst.parse_expression("fal.App")))
    method = plan.endpoint.handler.rsplit(".", 1)[-1]
    body: list[cst.BaseStatement] = []
    for statement in cls.body.body:
        if isinstance(statement, cst.FunctionDef) and statement.name.value == method:
            kept = [d for d in statement.decorators if not _is_cog_concurrent(d, names)]
            body.extend(endpoint_defs(statement, plan, opened, kept))
        elif isinstance(statement, cst.FunctionDef) and statement.name.value == "setup":
            body.append(setup_def(statement, plan))
        else:
            body.append(statement)
    if _uses_self_attr(cls, support.RECORD_METRIC) and not any(
            isinstance(st, cst.FunctionDef) and st.name.value == support.RECORD_METRIC for st in body):
        body.append(support.record_metric_method())
    blank = [line for line in cls.leading_lines if line.comment is None]
    comments = [line for line in cls.leading_lines if line.comment is not None]
    leading = [*([cst.EmptyLine(indent=False)] * max(2, len(blank))), *comments,
               *_comment_lines(plan.todos.get("class", []))]
    return cls.with_changes(bases=bases, body=cls.body.with_changes(body=body), leading_lines=leading)
