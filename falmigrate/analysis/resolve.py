"""From a name to its value: the scope it belongs to, the binding in effect, and that binding's value.

Module- and class-level bindings are evaluated once per module and cached (with the environment reads
they made); a binding met again while it is being evaluated (``A = B`` / ``B = A`` across imports) stops
with a reason instead of recursing. Names the module never binds fall back to Python's builtins,
``__name__`` and the few module attributes whose value is fixed (``os.sep``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import libcst as cst

from falmigrate.analysis import mutations
from falmigrate.analysis.bindings import Binding, Walk, parameter_binding
from falmigrate.analysis.frames import Frame
from falmigrate.analysis.library import BUILTIN_NAMES, EXTERNAL_CONSTANTS
from falmigrate.analysis.operators import augmented
from falmigrate.analysis.source import END, Position
from falmigrate.analysis.values import (
    Budget,
    DefinitionRef,
    ExternalRef,
    Known,
    ModuleRef,
    Unevaluable,
    fail,
)

if TYPE_CHECKING:
    from falmigrate.analysis.context import ModuleContext

MAX_CHAIN = 10_000  # links of one self-extending chain evaluated in a loop


def _key(binding: Binding) -> tuple[int, int, str]:
    return (id(binding.context), id(binding.node), f"{binding.name}{binding.unpack}")


def extends_previous(binding: Binding) -> bool:
    """True when a binding is computed from the previous binding of the same name."""
    if binding.kind in ("augassign", "mutation"):
        return True
    if binding.kind != "assign" or binding.value is None:
        return False
    return binding.context.source.mentions(binding.value, binding.name)


class Resolver:
    """Name lookups and binding values; the evaluator subclasses it with ``eval`` and ``truth``."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.active: set[tuple[int, int, str]] = set()

    def eval(self, node: cst.CSTNode, frame: Frame) -> Any:
        raise NotImplementedError

    def truth(self, node: cst.BaseExpression, frame: Frame) -> bool:
        raise NotImplementedError

    def element(self, node: cst.BaseExpression, frame: Frame) -> Any:
        raise NotImplementedError

    # -- which binding ----------------------------------------------------------------------------

    def lookup(self, name: str, position: Position, frame: Frame) -> Binding | None:
        """The binding of ``name`` in effect at ``position`` of ``frame.context`` (None: not bound)."""
        context = frame.context
        source = context.source
        in_function = in_scope = False  # class bodies do not see enclosing class bodies, functions none
        for region in source.regions_at(position):
            if isinstance(region.node, cst.FunctionDef):
                if name in region.local_names:
                    if in_function:
                        fail(f"{name} is a variable of the enclosing function {region.node.name.value}(); "
                             "closures are not followed", context.location(region.node))
                    return self._local(region.node, name, position, frame)
                in_function = in_scope = True
            elif not in_scope:
                in_scope = True
                walk = self.walk(context, region.node, None)
                found = walk.find(source.body_block(region.node.body), name, position)
                if found is not None:
                    return found
        module_position = frame.position if in_function else position
        return self.walk(context, None, None).find(source.module_block(), name, module_position)

    def _local(self, function: cst.FunctionDef, name: str, position: Position, frame: Frame) -> Binding:
        walk = self.walk(frame.context, function, replace(frame, values={}))
        found = walk.find(frame.context.source.body_block(function.body), name, position)
        found = found or parameter_binding(walk, function, name)
        if found is None:
            fail(f"local variable {name} is read before it is assigned")
        return found

    def walk(self, context: ModuleContext, scope: cst.FunctionDef | cst.ClassDef | None,
             frame: Frame | None) -> Walk:
        """A lookup walk; conditions are tested in ``frame`` (a function's) or at their own place."""

        def frame_at(node: cst.CSTNode) -> Frame:
            return frame if frame is not None else Frame(context, context.source.start(node))

        return Walk(context, truth=lambda test: self.truth(test, frame_at(test)),
                    certain=lambda statement: self.certain(statement, frame_at(statement)), scope=scope)

    def certain(self, statement: cst.BaseSmallStatement, frame: Frame) -> bool:
        """A try-body statement that cannot raise: a project import that resolves, an evaluable assignment."""
        reads = len(self.budget.env_reads)
        try:
            if isinstance(statement, (cst.Import, cst.ImportFrom)):
                return frame.context.import_resolves(statement)
            if isinstance(statement, (cst.Assign, cst.AnnAssign)) and statement.value is not None:
                self.eval(statement.value, frame)
                return True
            return isinstance(statement, cst.Pass) or (
                isinstance(statement, cst.Expr) and isinstance(statement.value, cst.SimpleString))
        except Unevaluable:
            return False
        finally:
            del self.budget.env_reads[reads:]

    # -- which value ------------------------------------------------------------------------------

    def name_value(self, name: str, position: Position, frame: Frame) -> Any:
        binding = self.lookup(name, position, frame)
        if binding is not None:
            return self.binding_value(binding, frame)
        if name == "__name__":
            return "__main__" if frame.context.main else frame.context.name
        if name == "__file__":
            fail("`__file__` depends on where the module is installed; it is not known statically")
        if name in BUILTIN_NAMES:
            return ExternalRef(f"builtins.{name}")
        fail(f"name {name} is not defined in {frame.context.file}")

    def binding_value(self, binding: Binding, frame: Frame) -> Any:
        if binding.kind == "parameter":
            return self._parameter(binding, frame)
        if isinstance(binding.scope, cst.FunctionDef):
            return self._compute(binding, frame)
        return self._cached(binding)

    def _cached(self, binding: Binding, warm: bool = True) -> Any:
        context = binding.context
        key = _key(binding)
        if key not in context.cache and warm:
            self._warm(binding)
        if key in context.cache:
            value, reads = context.cache[key]
            self.budget.env_reads.extend(reads)
            if isinstance(value, Unevaluable):
                raise Unevaluable(value.reason, value.location)
            return value
        if key in self.active:
            fail(f"{binding.name} refers to itself (through imports or functions); it is not followed",
                 binding.location, transient=True)
        self.active.add(key)
        start = len(self.budget.env_reads)
        try:
            value = self._compute(binding, Frame(context, context.source.start(binding.node)))
        except Unevaluable as error:
            if not error.transient:
                context.cache[key] = (error, tuple(self.budget.env_reads[start:]))
            raise
        finally:
            self.active.discard(key)
        context.cache[key] = (value, tuple(self.budget.env_reads[start:]))
        return value

    def _warm(self, binding: Binding) -> None:
        """Evaluate the earlier links of a chain that builds on itself (``PACKAGES += [...]``,
        ``S["k"] = v``, ``TAG = f"{TAG}-x"``) oldest first, so a long chain is a loop, not deep recursion."""
        chain: list[Binding] = []
        current = binding
        try:
            while len(chain) < MAX_CHAIN and extends_previous(current):
                start = current.context.source.start(current.node)
                previous = self.lookup(current.name, start, Frame(current.context, start))
                if previous is None or isinstance(previous.scope, cst.FunctionDef) \
                        or _key(previous) in previous.context.cache:
                    break
                chain.append(previous)
                current = previous
            for earlier in reversed(chain):
                self._cached(earlier, warm=False)
        except Unevaluable:
            return  # the binding's own evaluation meets the same stop and reports it

    def _compute(self, binding: Binding, frame: Frame) -> Any:
        if binding.kind == "assign":
            assert binding.value is not None
            return self._unpack(self.eval(binding.value, frame), binding)
        if binding.kind == "augassign":
            assert isinstance(binding.node, cst.AugAssign)
            previous = self._previous(binding, frame)
            return augmented(binding.node.operator, previous,
                             self.eval(binding.node.value, frame), self.budget)
        if binding.kind == "mutation":
            return mutations.replay(self, binding, self._previous(binding, frame), frame)
        if binding.kind == "import":
            return self._imported(binding)
        return DefinitionRef(binding.context, binding.node)  # type: ignore[arg-type]

    def _previous(self, binding: Binding, frame: Frame) -> Any:
        """The value the name had just before the statement that changes it."""
        return self.name_value(binding.name, binding.context.source.start(binding.node), frame)

    def _unpack(self, value: Any, binding: Binding) -> Any:
        for index, length in binding.unpack:
            items = self.iterate(value)
            if len(items) != length:
                fail(f"{binding.name} is unpacked from {len(items)} values into {length} names",
                     binding.location)
            value = items[index]
        return value

    def iterate(self, value: Any) -> list[Any]:
        raise NotImplementedError

    def _parameter(self, binding: Binding, frame: Frame) -> Any:
        argument = frame.arguments.get(binding.name) if frame.function is binding.scope else None
        if isinstance(argument, Known):
            self.budget.env_reads.extend(argument.env_reads)
            return argument.value
        if argument is not None:
            return self.eval(argument.node, argument.frame())
        function = binding.scope.name.value if binding.scope is not None else "?"
        fail(f"{binding.name} is a parameter of {function}(); its value is only known when it is called",
             binding.location)

    def _imported(self, binding: Binding) -> Any:
        assert binding.module is not None
        context = binding.context
        try:
            target = context.project.sibling(context, binding.module)
        except Unevaluable as error:
            fail(f"{binding.module} cannot be read: {error.reason}", binding.location)
        if target is None:
            if binding.module.startswith("."):
                fail(f"module {binding.module} is not found in the project", binding.location)
            dotted = binding.module if binding.attribute is None else f"{binding.module}.{binding.attribute}"
            return self.external(dotted)
        if binding.attribute is None:
            return ModuleRef(target)
        return self.module_attribute(target, binding.attribute)

    def module_attribute(self, context: ModuleContext, attribute: str) -> Any:
        """``config.GPU``: the module's final binding of the name, or its submodule."""
        found = self.lookup(attribute, END, Frame(context))
        if found is not None:
            return self.binding_value(found, Frame(context))
        submodule = context.submodule(attribute)
        if submodule is not None:
            return ModuleRef(submodule)
        fail(f"module {context.name} does not bind {attribute}", context.location(None))

    def class_attribute(self, owner: DefinitionRef, attribute: str) -> Any:
        """``Config.GPU``: the last binding in the class body (inherited attributes are not followed)."""
        assert isinstance(owner.node, cst.ClassDef)
        walk = self.walk(owner.context, owner.node, None)
        found = walk.find(owner.context.source.body_block(owner.node.body), attribute, END)
        if found is None:
            fail(f"class {owner.node.name.value} does not set {attribute} in its body (inherited attributes "
                 "are not followed)", owner.context.location(owner.node))
        return self.binding_value(found, Frame(owner.context))

    def external(self, qualname: str) -> Any:
        """A name from outside the project: a fixed constant (``os.sep``) or a reference to it."""
        if qualname in EXTERNAL_CONSTANTS:
            return EXTERNAL_CONSTANTS[qualname]
        return ExternalRef(qualname)
