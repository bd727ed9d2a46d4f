"""Calls: what the callee is decides what happens.

- a method of a plain value (``"-".join(...)``, ``MODELS.keys()``) → ``library.call_method``;
- a project function → ``functions.call_helper`` (its return expression, parameters bound);
- something from outside the project, by the dotted name it is bound to (not by spelling: a user
  function called ``getenv`` is not ``os.getenv``) → ``library.FUNCTIONS`` or ``environment.read``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import libcst as cst

from falmigrate.analysis import environment, functions, library
from falmigrate.analysis.values import DefinitionRef, ExternalRef, ModuleRef, Symbol, check_size, fail

if TYPE_CHECKING:
    from falmigrate.analysis.evaluator import Evaluator
    from falmigrate.analysis.frames import Frame

_ENV_READS = frozenset({"os.environ.get", "os.getenv", "os.environ.setdefault"})


def call(ev: Evaluator, node: cst.Call, frame: Frame) -> Any:
    func = node.func
    if isinstance(func, cst.Attribute):
        receiver = ev.eval(func.value, frame)
        name = func.attr.value
        if isinstance(receiver, ExternalRef):
            return call_external(ev, f"{receiver.qualname}.{name}", node, frame)
        if isinstance(receiver, (ModuleRef, DefinitionRef)):
            return call_value(ev, ev.attribute_of(receiver, name), node, frame)
        args, kwargs = arguments(ev, node, frame)
        return library.call_method(ev, receiver, name, args, kwargs)
    return call_value(ev, ev.eval(func, frame), node, frame)


def call_value(ev: Evaluator, callee: Any, node: cst.Call, frame: Frame) -> Any:
    if isinstance(callee, ExternalRef):
        return call_external(ev, callee.qualname, node, frame)
    if isinstance(callee, DefinitionRef):
        if isinstance(callee.node, cst.ClassDef):
            fail(f"creating an instance of class {callee.node.name.value} is not evaluated")
        return functions.call_helper(ev, callee, node, frame)
    if isinstance(callee, Symbol):
        callee.touch()
    fail(f"a {type(callee).__name__} value is called")


def call_external(ev: Evaluator, qualname: str, node: cst.Call, frame: Frame) -> Any:
    if qualname in _ENV_READS:
        return environment.read(ev, qualname, node, frame)
    function = library.FUNCTIONS.get(qualname)
    if function is None:
        shown = qualname.removeprefix("builtins.")
        fail(f"calling `{shown}()` (not defined in the project) is not evaluated statically")
    args, kwargs = arguments(ev, node, frame)
    return check_size(function(ev, *args, **kwargs), ev.budget)


def arguments(ev: Evaluator, node: cst.Call, frame: Frame) -> tuple[list[Any], dict[str, Any]]:
    """The call's arguments, ``*`` and ``**`` expanded."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for arg in node.args:
        value = ev.eval(arg.value, frame)
        if arg.star == "*":
            args.extend(ev.iterate(value))
        elif arg.star == "**":
            if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
                fail("`**` of a value that is not a dict with str keys")
            kwargs.update(value)
        elif arg.keyword is not None:
            kwargs[arg.keyword.value] = value
        else:
            args.append(value)
    return args, kwargs
