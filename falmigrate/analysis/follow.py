"""Following names without evaluating them, for callers that walk expressions themselves (the Modal
importer follows ``img = img.pip_install(...)`` chains and ``def make_image(): return modal.Image...``).

``find_binding`` goes through imports of project modules to the binding that defines a name;
``follow_expression`` goes from a name, a ``module.NAME`` or a helper call to the expression it stands
for; ``expand_call`` gives a helper's return expression with its parameters bound to the call's
argument expressions (lazily: nothing is evaluated unless the caller asks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from falmigrate.analysis.bindings import Binding
from falmigrate.analysis.frames import Expression, Frame
from falmigrate.analysis.functions import NO_RETURN, bind, call_position, check_followable, return_expression
from falmigrate.analysis.library import BUILTIN_NAMES
from falmigrate.analysis.source import END, Position
from falmigrate.analysis.values import MAX_DEPTH, DefinitionRef, Known, ModuleRef, Unevaluable, fail

if TYPE_CHECKING:
    from falmigrate.analysis.context import ModuleContext
    from falmigrate.analysis.evaluator import Evaluator


def find_binding(ev: Evaluator, name: str, position: Position, frame: Frame, follow_imports: bool) -> Binding:
    binding = ev.lookup(name, position, frame)
    if binding is None:
        builtin = " (it is one of Python's builtins)" if name in BUILTIN_NAMES else ""
        fail(f"{name} is not bound in {frame.context.file}{builtin}")
    for _ in range(MAX_DEPTH):
        if not follow_imports or binding.kind != "import" or binding.attribute is None:
            return binding
        assert binding.module is not None
        target = binding.context.project.sibling(binding.context, binding.module)
        if target is None:
            return binding  # from outside the project
        found = ev.lookup(binding.attribute, END, Frame(target))
        if found is None:
            if target.submodule(binding.attribute) is not None:
                return binding
            fail(f"module {target.name} does not bind {binding.attribute}", binding.location)
        binding = found
    fail(f"the imports of {name} form a cycle", transient=True)


def follow_expression(ev: Evaluator, node: cst.BaseExpression, frame: Frame,
                      follow_calls: bool) -> Expression:
    current = _expression(node, frame)
    for _ in range(MAX_DEPTH):
        following = _step(ev, current, follow_calls)
        if following is None:
            return current
        current = following
    fail("the names refer to each other in a cycle", current.location, transient=True)


def _step(ev: Evaluator, current: Expression, follow_calls: bool) -> Expression | None:
    node, frame = current.node, current.frame()
    if isinstance(node, cst.Name) and node.value not in ("True", "False", "None"):
        binding = find_binding(ev, node.value, current.context.source.start(node), frame, True)
        return _bound_expression(binding, frame)
    if isinstance(node, cst.Attribute):
        module = _module_of(ev, node.value, frame)
        if module is None:
            return None
        binding = find_binding(ev, node.attr.value, END, Frame(module), True)
        return _bound_expression(binding, Frame(module))
    if isinstance(node, cst.Call) and follow_calls:
        callee = _callee(ev, node.func, frame)
        return _expand(ev, callee, node, frame) if callee is not None else None
    return None


def _bound_expression(binding: Binding, frame: Frame) -> Expression | None:
    """The expression a binding binds, in the frame its names are read in; None: the name is final."""
    if binding.kind == "parameter":
        argument = frame.arguments.get(binding.name) if frame.function is binding.scope else None
        if isinstance(argument, Expression):
            return argument
        fail(f"{binding.name} is a parameter of {getattr(binding.scope, 'name', cst.Name('?')).value}(); "
             "what it stands for is only known at a call", binding.location)
    if binding.kind in ("augassign", "mutation"):
        fail(f"{binding.name} is changed in place here; it stands for no single expression (evaluate it)",
             binding.location)
    if binding.kind != "assign":
        return None
    if binding.unpack:
        fail(f"{binding.name} is unpacked from a value here; it stands for no single expression",
             binding.location)
    assert binding.value is not None
    if isinstance(binding.scope, cst.FunctionDef):
        return Expression(binding.value, binding.context, frame.function, frame.arguments, frame.position)
    return Expression(binding.value, binding.context, position=binding.context.source.start(binding.node))


def _expression(node: cst.BaseExpression, frame: Frame) -> Expression:
    return Expression(node, frame.context, frame.function, frame.arguments, frame.position)


def _module_of(ev: Evaluator, node: cst.BaseExpression, frame: Frame) -> ModuleContext | None:
    """The project module an expression names (``config``, ``pkg.sub``), if it names one."""
    if not isinstance(node, (cst.Name, cst.Attribute)):
        return None
    if isinstance(node, cst.Attribute):
        outer = _module_of(ev, node.value, frame)
        return outer.submodule(node.attr.value) if outer is not None else None
    binding = ev.lookup(node.value, frame.context.source.start(node), frame)
    if binding is None or binding.kind != "import":
        return None
    try:
        value = ev.binding_value(binding, frame)
    except Unevaluable:
        return None
    return value.context if isinstance(value, ModuleRef) else None


def _callee(ev: Evaluator, func: cst.BaseExpression, frame: Frame) -> DefinitionRef | None:
    binding: Binding | None = None
    if isinstance(func, cst.Name):
        position = frame.context.source.start(func)
        if ev.lookup(func.value, position, frame) is None:
            return None  # a builtin
        binding = find_binding(ev, func.value, position, frame, True)
    elif isinstance(func, cst.Attribute):
        module = _module_of(ev, func.value, frame)
        if module is not None:
            binding = find_binding(ev, func.attr.value, END, Frame(module), True)
    if binding is None or binding.kind != "function":
        return None
    return DefinitionRef(binding.context, binding.node)  # type: ignore[arg-type]


def expand_call(ev: Evaluator, call: cst.Call, frame: Frame) -> Expression:
    callee = _callee(ev, call.func, frame)
    if callee is None:
        fail("this is not a call of a function defined in the project", frame.context.location(call))
    return _expand(ev, callee, call, frame)


def _expand(ev: Evaluator, callee: DefinitionRef, call: cst.Call, frame: Frame) -> Expression:
    function = callee.node
    assert isinstance(function, cst.FunctionDef)
    check_followable(ev, callee)
    if any(arg.star for arg in call.args):
        fail(f"{function.name.value}() is called with `*`/`**` arguments; they are not followed",
             frame.context.location(call))
    positional = [_expression(arg.value, frame) for arg in call.args if arg.keyword is None]
    keywords = {arg.keyword.value: _expression(arg.value, frame) for arg in call.args if arg.keyword}
    bound = bind(callee, positional, keywords,
                 lambda param: Expression(param.default, callee.context,  # type: ignore[arg-type]
                                          position=callee.context.source.start(function)),
                 lambda extra: _packed(extra, function), lambda extra: _packed(extra, function))
    inner = Frame(callee.context, call_position(callee, call, frame), function, bound)
    returned = return_expression(ev, function, inner)
    node = cst.Name("None") if returned is NO_RETURN else returned
    return Expression(node, callee.context, function, bound, inner.position)  # type: ignore[arg-type]


def _packed(extra: object, function: cst.FunctionDef) -> Known:
    if extra:
        fail(f"arguments packed into *args/**kwargs of {function.name.value}() are not followed")
    return Known(() if isinstance(extra, list) else {})


def import_resolves(context: ModuleContext, statement: cst.Import | cst.ImportFrom) -> bool:
    try:
        if isinstance(statement, cst.Import):
            return all(context.project.sibling(context, alias.evaluated_name) is not None
                       for alias in statement.names)
        module = "." * len(statement.relative) + (
            cst.Module([]).code_for_node(statement.module) if statement.module else "")
        target = context.project.sibling(context, module)
        if target is None or isinstance(statement.names, cst.ImportStar):
            return target is not None
        return all(target.source.module_block().binds(alias.evaluated_name)
                   or target.submodule(alias.evaluated_name) is not None for alias in statement.names)
    except Unevaluable:
        return False


def star_import_binds(context: ModuleContext, statement: cst.ImportFrom, name: str) -> bool:
    module = "." * len(statement.relative) + (
        cst.Module([]).code_for_node(statement.module) if statement.module else "")
    try:
        target = context.project.sibling(context, module)
    except Unevaluable:
        return False
    return target is not None and not name.startswith("_") and target.source.module_block().binds(name)
