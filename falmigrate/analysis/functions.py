"""Helper functions of the project called from module code: ``TAG = make_tag("12.4")``,
``image = build_image()``.

A helper is followed when its body is simple: assignments, expression statements, ``if`` on evaluable
conditions and ``return``. Parameters are bound from the call (positional, keyword, ``*args``,
``**kwargs``) and from defaults (evaluated where the function is defined, as Python does); local names
then resolve through the body like module names do. Calls nest at most ``MAX_CALL_DEPTH`` deep.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import libcst as cst

from falmigrate.analysis.frames import Expression, Frame
from falmigrate.analysis.values import MAX_CALL_DEPTH, DefinitionRef, Known, fail

if TYPE_CHECKING:
    from falmigrate.analysis.evaluator import Evaluator

T = TypeVar("T")
_FOLLOWED = (cst.Assign, cst.AnnAssign, cst.AugAssign, cst.Expr, cst.Pass, cst.Global, cst.Nonlocal,
             cst.Import, cst.ImportFrom, cst.FunctionDef, cst.ClassDef)
_CACHES = frozenset({"functools.cache", "functools.lru_cache"})


class _NoReturn:
    """The body ends without ``return``: the call's value is None."""


NO_RETURN = _NoReturn()


def call_helper(ev: Evaluator, ref: DefinitionRef, node: cst.Call, frame: Frame) -> Any:
    function = ref.node
    assert isinstance(function, cst.FunctionDef)
    check_followable(ev, ref)
    if ev.budget.calls >= MAX_CALL_DEPTH:
        fail(f"helper calls are nested more than {MAX_CALL_DEPTH} deep (recursion is not followed)",
             transient=True)
    positional, keywords = _eager_arguments(ev, node, frame)
    bound = bind(ref, positional, keywords, lambda param: _default(ref, param),
                 lambda values: Known(tuple(v.value for v in values)),
                 lambda values: Known({k: v.value for k, v in values.items()}))
    inner = Frame(ref.context, call_position(ref, node, frame), function, bound)
    ev.budget.calls += 1
    try:
        returned = return_expression(ev, function, inner)
        return None if returned is NO_RETURN else ev.eval(returned, inner)  # type: ignore[arg-type]
    finally:
        ev.budget.calls -= 1


def check_followable(ev: Evaluator, ref: DefinitionRef) -> None:
    """Refuse helpers whose call does not simply return their body's value."""
    function = ref.node
    assert isinstance(function, cst.FunctionDef)
    where = ref.context.location(function)
    name = function.name.value
    if function.asynchronous is not None:
        fail(f"{name}() is async; calling it gives a coroutine, not a value", where)
    for decorator in function.decorators:
        target = decorator.decorator
        target = target.func if isinstance(target, cst.Call) else target
        value = ev.eval(target, Frame(ref.context, ref.context.source.start(decorator)))
        if getattr(value, "qualname", None) not in _CACHES:
            fail(f"{name}() is decorated; decorated functions are not followed", where)
    finder = _Yields()
    function.body.visit(finder)
    if finder.found:
        fail(f"{name}() is a generator; calling it gives an iterator, not a value", where)


def call_position(ref: DefinitionRef, node: cst.Call, frame: Frame) -> tuple[int, int]:
    """Where the helper's body reads module names: the call site (module code), or the caller's."""
    from falmigrate.analysis.source import END

    if ref.context is not frame.context:
        return END  # a function of another module runs after that module finished loading
    position = frame.context.source.start(node)
    inside_function = any(isinstance(r.node, cst.FunctionDef)
                          for r in frame.context.source.regions_at(position))
    return frame.position if inside_function else position


def _eager_arguments(ev: Evaluator, node: cst.Call, frame: Frame) -> tuple[list[Known], dict[str, Known]]:
    from falmigrate.analysis.calls import arguments

    if any(arg.star for arg in node.args):
        args, kwargs = arguments(ev, node, frame)
        return [Known(v) for v in args], {k: Known(v) for k, v in kwargs.items()}
    positional = [Known(ev.element(arg.value, frame)) for arg in node.args if arg.keyword is None]
    keywords = {arg.keyword.value: Known(ev.element(arg.value, frame)) for arg in node.args if arg.keyword}
    return positional, keywords


def _default(ref: DefinitionRef, param: cst.Param) -> Expression:
    assert param.default is not None
    return Expression(param.default, ref.context, position=ref.context.source.start(ref.node))


def bind(ref: DefinitionRef, positional: list[T], keywords: dict[str, T],
         default: Callable[[cst.Param], T | Expression], pack_tuple: Callable[[list[T]], T | Known],
         pack_dict: Callable[[dict[str, T]], T | Known]) -> dict[str, T | Expression | Known]:
    """Parameters of ``ref`` bound to the call's arguments the way Python binds them."""
    assert isinstance(ref.node, cst.FunctionDef)
    params, name = ref.node.params, ref.node.name.value
    ordered = [*params.posonly_params, *params.params]
    bound: dict[str, T | Expression | Known] = {p.name.value: v
                                                for p, v in zip(ordered, positional, strict=False)}
    star = params.star_arg if isinstance(params.star_arg, cst.Param) else None
    if len(positional) > len(ordered) and star is None:
        fail(f"{name}() takes {len(ordered)} positional arguments but {len(positional)} are given")
    if star is not None:
        bound[star.name.value] = pack_tuple(positional[len(ordered):])
    _bind_keywords(ref.node, keywords, bound, pack_dict)
    for param in [*ordered, *params.kwonly_params]:
        if param.name.value not in bound:
            if param.default is None:
                fail(f"{name}() is called without its parameter {param.name.value}")
            bound[param.name.value] = default(param)
    return bound


def _bind_keywords(function: cst.FunctionDef, keywords: dict[str, T],
                   bound: dict[str, T | Expression | Known],
                   pack_dict: Callable[[dict[str, T]], T | Known]) -> None:
    params, name = function.params, function.name.value
    by_keyword = {p.name.value for p in [*params.params, *params.kwonly_params]}
    for key, value in keywords.items():
        if key in by_keyword:
            if key in bound:
                fail(f"{name}() gets two values for {key}")
            bound[key] = value
    extra = {key: value for key, value in keywords.items() if key not in by_keyword}
    if extra and params.star_kwarg is None:
        fail(f"{name}() has no parameter {next(iter(extra))}")
    if params.star_kwarg is not None:
        bound[params.star_kwarg.name.value] = pack_dict(extra)


def return_expression(ev: Evaluator, function: cst.FunctionDef, frame: Frame,
                      suite: cst.BaseSuite | None = None) -> cst.BaseExpression | _NoReturn:
    """The expression the body returns on the path its ``if`` conditions take (``NO_RETURN``: none)."""
    for statement in (suite or function.body).body:
        parts = statement.body if isinstance(statement, cst.SimpleStatementLine) else [statement]
        for part in parts:
            if isinstance(part, cst.Return):
                return part.value if part.value is not None else cst.Name("None")
            if isinstance(part, cst.If):
                found = _branch(ev, function, part, frame)
                if found is not NO_RETURN:
                    return found
            elif not isinstance(part, _FOLLOWED):
                kind = type(part).__name__.lower()
                fail(f"{function.name.value}() has a `{kind}` statement; only assignments, `if` and "
                     "`return` are followed in helper functions", frame.context.location(part))
    return NO_RETURN


def _branch(ev: Evaluator, function: cst.FunctionDef, node: cst.If, frame: Frame
            ) -> cst.BaseExpression | _NoReturn:
    if ev.truth(node.test, frame):
        return return_expression(ev, function, frame, node.body)
    if isinstance(node.orelse, cst.If):
        return _branch(ev, function, node.orelse, frame)
    if isinstance(node.orelse, cst.Else):
        return return_expression(ev, function, frame, node.orelse.body)
    return NO_RETURN


class _Yields(cst.CSTVisitor):
    def __init__(self) -> None:
        self.found = False

    def visit_Yield(self, node: cst.Yield) -> None:
        self.found = True

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False
