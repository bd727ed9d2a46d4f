"""Environment variables: reads, and the writes module code makes before them.

A read (``os.environ.get("X", d)``, ``os.getenv("X", d)``, ``os.environ["X"]``,
``os.environ.setdefault("X", d)``) evaluates to its literal default and is recorded as an ``EnvRead``
with its file:line; a read without a default is a ``Missing`` value naming the variable (``None``-like
for ``or`` / ``is None``). Writes made earlier by the same module's code (``os.environ["X"] = v``,
``os.environ.update(...)``, ``setdefault``, ``pop``, ``del``) decide the value instead: a set variable has
the value written (no read), a ``setdefault`` becomes the default, a removed one is unset.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import libcst as cst

from falmigrate.analysis.frames import Frame
from falmigrate.analysis.source import ENVIRON, environ_like
from falmigrate.analysis.values import EnvRead, ExternalRef, Missing, Symbol, Unevaluable, fail, first_symbol

if TYPE_CHECKING:
    from falmigrate.analysis.bindings import Binding
    from falmigrate.analysis.evaluator import Evaluator

MAX_WRITES = 10_000  # earlier environment writes looked at for one read
Write = tuple[str, Any]  # ("set" | "default" | "unset", value)


def read(ev: Evaluator, qualname: str, node: cst.Call, frame: Frame) -> Any:
    from falmigrate.analysis.calls import arguments

    args, kwargs = arguments(ev, node, frame)
    if qualname == "os.getenv" and "key" in kwargs:
        args.insert(0, kwargs.pop("key"))
    if "default" in kwargs and len(args) == 1:
        args.append(kwargs.pop("default"))
    if kwargs or not 1 <= len(args) <= 2:
        fail(f"`{qualname}()` is called with arguments it does not take")
    return value(ev, args[0], args[1:], node, frame)


def value(ev: Evaluator, name: Any, default: list[Any], node: cst.CSTNode, frame: Frame) -> Any:
    """The value an environment read stands for statically, recorded as a read when it is a default."""
    if isinstance(name, Symbol):
        name.touch()
    if not isinstance(name, str):
        fail(f"an environment variable name must be a str, not {type(name).__name__}")
    location = frame.context.location(node)
    written = _written(ev, name, node, frame)
    if written is not None:
        kind, assigned = written
        if kind == "set":
            return assigned
        if kind == "default":
            default = [assigned]
        elif default:
            return default[0]
        else:
            return Missing(f"environment variable {name} is removed before it is read", location,
                           unset_env=isinstance(node, cst.Call))
    if default:
        plain = first_symbol(default[0]) is None
        ev.budget.env_reads.append(EnvRead(name, default[0] if plain else None, plain, location))
        return default[0]
    ev.budget.env_reads.append(EnvRead(name, None, False, location))
    return Missing(f"environment variable {name} is read without a default, so its value is not known "
                   "statically", location, unset_env=isinstance(node, cst.Call))


def _written(ev: Evaluator, key: str, node: cst.CSTNode, frame: Frame) -> Write | None:
    """The last write of ``key`` the module's code made before ``node`` (None: no such write)."""
    position = frame.context.source.start(node)
    for _ in range(MAX_WRITES):
        candidates = [ev.lookup(f"{ENVIRON}:{key}", position, frame), ev.lookup(ENVIRON, position, frame)]
        writes = [b for b in candidates if b is not None]
        if not writes:
            return None
        binding = max(writes, key=lambda b: b.context.source.start(b.node))
        found = _effect(ev, binding, key, frame)
        if found is not None:
            return found
        position = binding.context.source.start(binding.node)
    fail(f"more than {MAX_WRITES} environment writes come before this read")


def _effect(ev: Evaluator, binding: Binding, key: str, frame: Frame) -> Write | None:
    node = binding.node
    if not isinstance(binding.scope, cst.FunctionDef):
        frame = Frame(binding.context, binding.context.source.start(node))
    if isinstance(node, (cst.Assign, cst.AnnAssign, cst.AugAssign)):
        return _assigned(ev, node, key, frame)
    if isinstance(node, cst.Del):
        targets = node.target.elements if isinstance(node.target, (cst.Tuple, cst.List)) else [node.target]
        for target in targets:
            item = target.value if isinstance(target, cst.BaseElement) else target
            if isinstance(item, cst.BaseExpression) and _subscript_key(ev, item, frame) == key:
                return ("unset", None)
        return None
    assert isinstance(node, cst.Expr) and isinstance(node.value, cst.Call)
    return _called(ev, node.value, key, frame)


def _assigned(ev: Evaluator, node: cst.Assign | cst.AnnAssign | cst.AugAssign, key: str,
              frame: Frame) -> Write | None:
    targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
    for target in targets:
        if _subscript_key(ev, target, frame) == key:
            if isinstance(node, cst.AugAssign):
                fail(f"environment variable {key} is changed with an augmented assignment here, which is "
                     "not followed", frame.context.location(node))
            assert node.value is not None
            return ("set", ev.eval(node.value, frame))
    return None


def _subscript_key(ev: Evaluator, target: cst.BaseExpression, frame: Frame) -> Any:
    """The key of an ``os.environ[key]`` target (None when the target is something else)."""
    if not (isinstance(target, cst.Subscript) and environ_like(target.value)
            and _is_environ(ev, target.value, frame)):
        return None
    if len(target.slice) != 1 or not isinstance(target.slice[0].slice, cst.Index):
        return None
    return ev.eval(target.slice[0].slice.value, frame)


def _called(ev: Evaluator, call: cst.Call, key: str, frame: Frame) -> Write | None:
    from falmigrate.analysis.calls import arguments

    assert isinstance(call.func, cst.Attribute)
    if not _is_environ(ev, call.func.value, frame):
        return None
    method = call.func.attr.value
    args, kwargs = arguments(ev, call, frame)
    if method in ("setdefault", "__setitem__") and args and args[0] == key:
        return ("default" if method == "setdefault" else "set", args[1] if len(args) > 1 else None)
    if method in ("pop", "__delitem__") and args and args[0] == key:
        return ("unset", None)
    if method == "update":
        changes = dict(*args, **kwargs)
        return ("set", changes[key]) if key in changes else None
    if method in ("clear", "popitem"):
        fail(f"`os.environ.{method}()` here removes variables; what is left is not followed",
             frame.context.location(call))
    return None


def _is_environ(ev: Evaluator, receiver: cst.BaseExpression, frame: Frame) -> bool:
    try:
        found = ev.eval(receiver, frame)
    except Unevaluable:
        return False
    return isinstance(found, ExternalRef) and found.qualname == "os.environ"
