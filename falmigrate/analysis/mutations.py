"""Module code that builds a container in steps: ``SCHEDULERS["DDIM"] = DDIMScheduler``,
``CHOICES.append("x")``, ``CFG.update(extra)``, ``COUNTS["a"] += 1``. The change is replayed on a copy of
the previous value; changes that are not replayed (``pop``, ``sort``, attribute assignment, nested keys)
stop with a reason naming the line.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import libcst as cst

from falmigrate.analysis.values import DefinitionRef, ExternalRef, ModuleRef, Symbol, check_size, fail

if TYPE_CHECKING:
    from falmigrate.analysis.bindings import Binding
    from falmigrate.analysis.frames import Frame
    from falmigrate.analysis.resolve import Resolver

_REPLAYED = frozenset({"append", "extend", "insert", "update"})


def replay(resolver: Resolver, binding: Binding, previous: Any, frame: Frame) -> Any:
    """The value of ``binding.name`` after the statement ``binding.node`` changed ``previous``."""
    if isinstance(previous, ExternalRef):
        return previous  # `os.environ[k] = v`, `torch.backends.x = y`: the name still means that module
    if isinstance(previous, (ModuleRef, DefinitionRef)):
        fail(f"{binding.name} is changed from outside its own body here (`{binding.name}.X = ...`); such "
             "changes are not followed", binding.location)
    if isinstance(previous, Symbol):
        previous.touch()
    node = binding.node
    if isinstance(node, cst.Expr) and isinstance(node.value, cst.Call):
        return _method(resolver, binding, node.value, previous, frame)
    if isinstance(node, (cst.Assign, cst.AnnAssign, cst.AugAssign)):
        return _item(resolver, binding, node, previous, frame)
    if isinstance(node, cst.Del):
        fail(f"{binding.name} is changed by `del` here, which is not followed", binding.location)
    fail(f"{binding.name} is changed here in a way that is not followed", binding.location)


def _method(resolver: Resolver, binding: Binding, call: cst.Call, previous: Any, frame: Frame) -> Any:
    assert isinstance(call.func, cst.Attribute)
    method = call.func.attr.value
    if method not in _REPLAYED or not isinstance(previous, (list, dict)):
        fail(f"{binding.name}.{method}() changes {binding.name} here; such changes are not followed",
             binding.location)
    if any(arg.star or arg.keyword for arg in call.args):
        fail(f"{binding.name}.{method}() with keyword or starred arguments is not followed", binding.location)
    args = [resolver.eval(arg.value, frame) for arg in call.args]
    changed = copy.copy(previous)
    getattr(changed, method)(*args)
    return check_size(changed, resolver.budget)


def _item(resolver: Resolver, binding: Binding, node: cst.Assign | cst.AnnAssign | cst.AugAssign,
          previous: Any, frame: Frame) -> Any:
    targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
    target = next(t for t in targets if not isinstance(t, cst.Name))
    if not (isinstance(target, cst.Subscript) and isinstance(target.value, cst.Name)
            and len(target.slice) == 1 and isinstance(target.slice[0].slice, cst.Index)):
        fail(f"{binding.name} is changed here through an attribute, slice or nested key, which is not "
             "followed", binding.location)
    if not isinstance(previous, (list, dict)):
        fail(f"{binding.name}[...] is assigned but {binding.name} is not a list or dict", binding.location)
    key = resolver.eval(target.slice[0].slice.value, frame)
    assert node.value is not None
    value = resolver.element(node.value, frame)
    changed = copy.copy(previous)
    if isinstance(node, cst.AugAssign):
        from falmigrate.analysis.operators import augmented

        value = augmented(node.operator, changed[key], value, resolver.budget)
    changed[key] = value
    return check_size(changed, resolver.budget)
