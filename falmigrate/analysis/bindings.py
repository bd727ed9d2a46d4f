"""Which binding of a name is in effect at a position, following module code in order.

``BASE = BASE + "-cu121"`` reads the previous ``BASE``; a name bound under ``if``/``try`` is followed
when the condition (or the certainty of the ``try`` body) can be evaluated, otherwise the lookup stops
with the reason. Loops, ``with`` targets, ``del`` and ``match`` are not followed. Function bodies have
their own locals (parameters included); class bodies fall back to the module, as Python does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import libcst as cst

from falmigrate.analysis.source import (
    END,
    ENVIRON,
    Block,
    Position,
    Unit,
    changed_names,
    parameters,
    target_names,
)
from falmigrate.analysis.values import Unevaluable
from falmigrate.spec.models import Location

if TYPE_CHECKING:
    from falmigrate.analysis.context import ModuleContext

BindingKind = Literal["assign", "augassign", "import", "function", "class", "parameter", "mutation"]


@dataclass(frozen=True, eq=False)
class Binding:
    """One binding of a name, and the expression it binds where there is one.

    - ``assign``: ``value`` is the right-hand side (for ``A, B = "x", "y"`` the element of ``A``; for
      ``A, B = PAIR`` the whole ``PAIR`` and ``unpack`` the (index, length) steps into it);
    - ``augassign`` (``TAG += "-x"``) and ``mutation`` (``CHOICES.append("x")``, ``CFG["k"] = v``): the
      previous binding is changed; ``node`` is the statement, ``value`` its right-hand side (if any);
    - ``import``: ``module`` is the module as written (``"os"``, ``".config"``), ``attribute`` the name
      taken from it (``from os import environ``) or None (``import os``);
    - ``function`` / ``class``: ``node`` is the definition;
    - ``parameter``: ``node`` is the ``Param``, ``value`` its default (None without one).
    """

    name: str
    kind: BindingKind
    node: cst.CSTNode
    value: cst.BaseExpression | None
    context: ModuleContext
    unpack: tuple[tuple[int, int], ...] = ()
    module: str | None = None
    attribute: str | None = None
    scope: cst.FunctionDef | cst.ClassDef | None = None  # the body it lives in; None at module level

    @property
    def location(self) -> Location:
        return self.context.location(self.node)

    def __repr__(self) -> str:
        origin = f" from {self.module}" if self.module else ""
        return f"<Binding {self.kind} {self.name}{origin} at {self.location}>"


@dataclass
class Walk:
    """One lookup: the module, the scope being walked, and how to test conditions on the way."""

    context: ModuleContext
    truth: Callable[[cst.BaseExpression], bool]  # raises Unevaluable
    certain: Callable[[cst.BaseSmallStatement], bool]  # True when a statement cannot raise
    scope: cst.FunctionDef | cst.ClassDef | None = None

    def find(self, block: Block, name: str, position: Position) -> Binding | None:
        """The binding of ``name`` in effect at ``position`` within ``block`` (None: not bound there)."""
        for unit in block.before(name, position):
            found = self._inside(unit, name, position) if unit.end > position else self.effect(unit, name)
            if found is not None:
                return found
        return None

    def _block(self, suite: cst.BaseSuite) -> Block:
        return self.context.source.body_block(suite)

    def _contains(self, node: cst.CSTNode, position: Position) -> bool:
        return self.context.source.start(node) <= position < self.context.source.end(node)

    def _stop(self, reason: str, node: cst.CSTNode) -> Unevaluable:
        return Unevaluable(reason, self.context.location(node))

    # -- a unit that lies wholly before the position --------------------------------------------------

    def effect(self, unit: Unit, name: str) -> Binding | None:
        node = unit.node
        if isinstance(node, (cst.Assign, cst.AnnAssign, cst.AugAssign)):
            return self._assignment(node, name)
        if isinstance(node, (cst.Import, cst.ImportFrom)):
            return self._import(node, name)
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)) and node.name.value == name:
            kind: BindingKind = "function" if isinstance(node, cst.FunctionDef) else "class"
            return self.bind(name, kind, node, None)
        if isinstance(node, cst.Expr) and name in changed_names(node.value):
            return self.bind(name, "mutation", node, None)
        if isinstance(node, cst.Del) and not _deletes_name(node, name):
            return self.bind(name, "mutation", node, None)  # `del NAME[k]`, `del os.environ[k]`
        if isinstance(node, cst.If):
            return self._if(node, name)
        if isinstance(node, cst.Try):
            return self._try(node, name)
        if isinstance(node, cst.With):
            return self._with(node, name, END)
        return self._unfollowed(node, name)

    def _unfollowed(self, node: cst.CSTNode, name: str) -> Binding | None:
        if isinstance(node, cst.Del):
            raise self._stop(f"{name} is deleted or changed by `del` here", node)
        if isinstance(node, (cst.For, cst.While)):
            raise self._stop(f"{_bound(name)} inside a loop; its value after the loop is not followed", node)
        if isinstance(node, cst.Match):
            raise self._stop(f"{_bound(name)} inside a match statement, which is not followed", node)
        raise self._stop(f"{_bound(name)} here in a way that is not followed (e.g. `:=` or a target "
                         "inside another expression)", node)

    def bind(self, name: str, kind: BindingKind, node: cst.CSTNode, value: cst.BaseExpression | None,
                 **extra: object) -> Binding:
        return Binding(name, kind, node, value, self.context, scope=self.scope, **extra)  # type: ignore[arg-type]

    def _assignment(self, node: cst.Assign | cst.AnnAssign | cst.AugAssign, name: str) -> Binding | None:
        targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
        for target in reversed(targets):
            if isinstance(target, cst.Name) and target.value == name:
                kind: BindingKind = "augassign" if isinstance(node, cst.AugAssign) else "assign"
                return self.bind(name, kind, node, node.value)
            if isinstance(target, (cst.Subscript, cst.Attribute)) and name in target_names(target):
                return self.bind(name, "mutation", node, node.value)
            path = _path_to(target, name)
            if path is not None and node.value is not None:
                return self._unpacked(node, name, path)
        return self._unfollowed(node, name)

    def _unpacked(self, node: cst.BaseSmallStatement, name: str, path: list[tuple[int, int]]) -> Binding:
        if path and path[0][0] < 0:
            raise self._stop(f"{name} is unpacked with `*`, which is not followed", node)
        value = node.value  # type: ignore[attr-defined]
        while path and _is_display(value, path[0][1]):
            value = value.elements[path[0][0]].value
            path = path[1:]
        return self.bind(name, "assign", node, value, unpack=tuple(path))

    def _import(self, node: cst.Import | cst.ImportFrom, name: str) -> Binding | None:
        if isinstance(node, cst.Import):
            for alias in node.names:
                dotted = alias.evaluated_name
                if alias.evaluated_alias == name:
                    return self.bind(name, "import", node, None, module=dotted)
                if alias.asname is None and dotted.split(".")[0] == name:
                    return self.bind(name, "import", node, None, module=name)
            return None
        module = "." * len(node.relative) + (_dotted(node.module) if node.module else "")
        if isinstance(node.names, cst.ImportStar):
            if self.context.star_import_binds(node, name):
                return self.bind(name, "import", node, None, module=module, attribute=name)
            return None
        for alias in node.names:
            if (alias.evaluated_alias or alias.evaluated_name) == name:
                return self.bind(name, "import", node, None, module=module, attribute=alias.evaluated_name)
        return None

    def _if(self, node: cst.If, name: str) -> Binding | None:
        try:
            taken = self.truth(node.test)
        except Unevaluable as error:
            stop = self._stop(f"{_bound(name)} under a condition that cannot be evaluated ({error.reason})",
                              node.test)
            stop.transient = error.transient
            raise stop from None
        if taken:
            return self.find(self._block(node.body), name, END)
        if isinstance(node.orelse, cst.If):
            return self._if(node.orelse, name)
        if isinstance(node.orelse, cst.Else):
            return self.find(self._block(node.orelse.body), name, END)
        return None

    def _try(self, node: cst.Try, name: str, ran: tuple[str, ...] = ("finalbody", "orelse", "body")
             ) -> Binding | None:
        """The binding after a try statement, or after the clauses named in ``ran`` (latest first)."""
        if self._try_may_change(node, name) and not self._body_certain(node):
            raise self._stop(f"{_bound(name)} in a try statement whose body may raise, so which binding "
                             "runs is not known statically", node)
        for clause in ran:
            part = getattr(node, clause)
            suite = part if clause == "body" else (part.body if part is not None else None)
            if suite is not None:
                found = self.find(self._block(suite), name, END)
                if found is not None:
                    return found
        return None

    def _try_may_change(self, node: cst.Try, name: str) -> bool:
        handlers = any(self._block(h.body).binds(name) or _handler_name(h) == name for h in node.handlers)
        orelse = node.orelse is not None and self._block(node.orelse.body).binds(name)
        return handlers or orelse or self._block(node.body).binds(name)

    def _body_certain(self, node: cst.Try) -> bool:
        units = self._block(node.body).units
        return all(isinstance(u.node, cst.BaseSmallStatement) and self.certain(u.node) for u in units)

    def _with(self, node: cst.With, name: str, position: Position) -> Binding | None:
        for item in node.items:
            if item.asname is not None and name in target_names(item.asname.name):
                raise self._stop(f"{_bound(name)} by a `with` statement, which is not followed", node)
        return self.find(self._block(node.body), name, position)

    # -- a unit the position lies in ------------------------------------------------------------------

    def _inside(self, unit: Unit, name: str, position: Position) -> Binding | None:
        node = unit.node
        if isinstance(node, cst.If):
            return self._inside_if(node, name, position)
        if isinstance(node, cst.Try):
            return self._inside_try(node, name, position)
        if isinstance(node, cst.With) and self._contains(node.body, position):
            return self._with(node, name, position)
        if isinstance(node, (cst.For, cst.While)) and self._contains(node.body, position):
            raise self._stop(f"{_bound(name)} inside this loop; its value in the loop is not followed", node)
        return None  # a simple statement or a definition: its own binding is not in effect yet

    def _inside_if(self, node: cst.If, name: str, position: Position) -> Binding | None:
        if self._contains(node.body, position):
            return self.find(self._block(node.body), name, position)
        if isinstance(node.orelse, cst.If):
            return self._inside_if(node.orelse, name, position)
        if isinstance(node.orelse, cst.Else) and self._contains(node.orelse.body, position):
            return self.find(self._block(node.orelse.body), name, position)
        return None

    def _inside_try(self, node: cst.Try, name: str, position: Position) -> Binding | None:
        body = self._block(node.body)
        if self._contains(node.body, position):
            return self.find(body, name, position)
        for handler in node.handlers:
            if self._contains(handler.body, position):
                found = self.find(self._block(handler.body), name, position)
                if found is None and (body.binds(name) or _handler_name(handler) == name):
                    raise self._stop(f"{_bound(name)} in the try body or by the handler; which binding is in "
                                     "effect inside the handler is not known statically", handler)
                return found
        return self._try_tail(node, name, position)

    def _try_tail(self, node: cst.Try, name: str, position: Position) -> Binding | None:
        for clause, earlier in (("finalbody", ("orelse", "body")), ("orelse", ("body",))):
            tail = getattr(node, clause)
            if tail is not None and self._contains(tail.body, position):
                found = self.find(self._block(tail.body), name, position)
                return found if found is not None else self._try(node, name, earlier)
        return None


def _deletes_name(node: cst.Del, name: str) -> bool:
    elements = node.target.elements if isinstance(node.target, (cst.Tuple, cst.List)) else [node.target]
    targets = [e.value if isinstance(e, cst.BaseElement) else e for e in elements]
    return any(isinstance(t, cst.Name) and t.value == name for t in targets)


def _bound(name: str) -> str:
    if name.startswith(f"{ENVIRON}:"):
        return f"environment variable {name.partition(':')[2]} is set"
    return "an environment variable is set" if name == ENVIRON else f"{name} is bound"


def _handler_name(handler: cst.ExceptHandler) -> str | None:
    if handler.name is not None and isinstance(handler.name.name, cst.Name):
        return handler.name.name.value
    return None


def _path_to(target: cst.BaseExpression, name: str) -> list[tuple[int, int]] | None:
    """(index, length) steps from an unpacking target to ``name``; index -1 when a ``*`` is in the way."""
    if isinstance(target, cst.Name):
        return [] if target.value == name else None
    if not isinstance(target, (cst.Tuple, cst.List)):
        return None
    starred = any(isinstance(e, cst.StarredElement) for e in target.elements)
    for index, element in enumerate(target.elements):
        rest = _path_to(element.value, name)
        if rest is not None:
            return [(-1 if starred else index, len(target.elements)), *rest]
    return None


def _is_display(value: cst.BaseExpression, length: int) -> bool:
    return isinstance(value, (cst.Tuple, cst.List)) and len(value.elements) == length and not any(
        isinstance(e, cst.StarredElement) for e in value.elements)


def _dotted(node: cst.Attribute | cst.Name) -> str:
    if isinstance(node, cst.Name):
        return node.value
    return f"{_dotted(node.value)}.{node.attr.value}"  # type: ignore[arg-type]


def parameter_binding(walk: Walk, function: cst.FunctionDef, name: str) -> Binding | None:
    for param in parameters(function):
        if param.name.value == name:
            return walk.bind(name, "parameter", param, param.default)
    return None
