"""One parsed module laid out for name lookups by position.

Module code runs top to bottom, so the value a name has at some point is the last binding *before* that
point. Every statement list (the module body, an ``if`` branch, a function body) becomes a ``Block`` of
``Unit``s (one per small statement or compound statement) with their positions and the names each may
bind or change, indexed by name. ``Region``s are the function and class bodies, which have scopes of
their own. Nothing here evaluates anything.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

Position = tuple[int, int]  # (1-based line, 0-based column)
END: Position = (1 << 30, 0)  # after the last statement: the module once it has run

# Methods whose call as a statement changes the receiver in place: ``CHOICES.append("x")``.
MUTATORS = frozenset({
    "append", "extend", "insert", "update", "pop", "popitem", "remove", "clear", "sort", "reverse",
    "add", "discard", "setdefault", "__setitem__", "__delitem__",
})
# The pseudo-name under which statements that may change the process environment are indexed
# (``os.environ["HF_HOME"] = ...``, ``environ.setdefault(...)``); whether the receiver really is
# ``os.environ`` is decided by binding when an environment read looks back at them.
ENVIRON = "$environ"


@dataclass(frozen=True)
class Unit:
    """A small statement or a compound statement of a block."""

    node: cst.CSTNode
    start: Position
    end: Position
    names: frozenset[str]  # names it may bind, delete or change in place ("*" for a star import)


class Block:
    """The units of one statement list, and for each name the units that may bind it, in order."""

    def __init__(self, units: list[Unit]) -> None:
        self.units = units
        self._by_name: dict[str, list[int]] = {}
        for index, unit in enumerate(units):
            for name in unit.names:
                self._by_name.setdefault(name, []).append(index)
        self._starts = [unit.start for unit in units]

    def before(self, name: str, position: Position) -> Iterator[Unit]:
        """Units that start before ``position`` and may bind ``name`` (or star-import), latest first."""
        last = bisect.bisect_left(self._starts, position)
        indices = self._by_name.get(name, [])
        stars = self._by_name.get("*", [])
        if stars:
            indices = sorted(set(indices) | set(stars))
        for at in range(bisect.bisect_left(indices, last) - 1, -1, -1):
            yield self.units[indices[at]]

    def binds(self, name: str) -> bool:
        return name in self._by_name


@dataclass(frozen=True)
class Region:
    """The body of a function or class: a scope of its own."""

    node: cst.FunctionDef | cst.ClassDef
    start: Position
    end: Position
    local_names: frozenset[str]  # for functions: parameters and assigned names, minus global/nonlocal ones


class SourceModule:
    """A parsed module with positions, blocks and scopes; nodes keep their identity (no copy)."""

    def __init__(self, module: cst.Module) -> None:
        self.module = module
        wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
        self._ranges: dict[cst.CSTNode, CodeRange] = dict(wrapper.resolve(PositionProvider))
        self._blocks: dict[int, Block] = {}
        collector = _Regions()
        module.visit(collector)
        self.walrus = collector.walrus  # any `:=` in the module: statements then need a full scan for names
        self.regions = sorted((self._region(node) for node in collector.definitions), key=lambda r: r.start)
        self._name_uses: dict[str, list[Position]] = {}
        for name in collector.names:
            self._name_uses.setdefault(name.value, []).append(self.start(name))
        for uses in self._name_uses.values():
            uses.sort()

    def mentions(self, node: cst.CSTNode, name: str) -> bool:
        """True when ``name`` occurs as a name inside ``node``."""
        uses = self._name_uses.get(name, [])
        first = bisect.bisect_left(uses, self.start(node))
        return first < len(uses) and uses[first] < self.end(node)

    def _region(self, node: cst.FunctionDef | cst.ClassDef) -> Region:
        names = {name for statement in node.body.body for name in self.bound_names(statement)
                 if name != "*" and not name.startswith(ENVIRON)}
        if isinstance(node, cst.FunctionDef):
            declared = _Declared()
            node.body.visit(declared)
            names = (names - declared.names) | {p.name.value for p in parameters(node)}
        return Region(node, self.start(node.body), self.end(node.body), frozenset(names))

    def bound_names(self, statement: cst.CSTNode) -> frozenset[str]:
        """Names a statement binds, deletes or changes in place, in its own scope."""
        if not self.walrus:
            simple = _simple_names(statement)
            if simple is not None:
                return simple
        return bound_names(statement)

    def range(self, node: cst.CSTNode) -> CodeRange | None:
        return self._ranges.get(node)

    def start(self, node: cst.CSTNode) -> Position:
        """Where a node starts; a node of another tree counts as after the module (its final state)."""
        found = self._ranges.get(node)
        return (found.start.line, found.start.column) if found else END

    def end(self, node: cst.CSTNode) -> Position:
        found = self._ranges.get(node)
        return (found.end.line, found.end.column) if found else END

    def block(self, owner: cst.CSTNode, statements: Sequence[cst.CSTNode]) -> Block:
        """The block of a statement list (cached by its owner: the module, a suite, a handler...)."""
        cached = self._blocks.get(id(owner))
        if cached is None:
            cached = Block(list(self._units(statements)))
            self._blocks[id(owner)] = cached
        return cached

    def body_block(self, suite: cst.BaseSuite) -> Block:
        return self.block(suite, suite.body)

    def module_block(self) -> Block:
        return self.block(self.module, self.module.body)

    def _units(self, statements: Sequence[cst.CSTNode]) -> Iterator[Unit]:
        for statement in statements:
            parts = statement.body if isinstance(statement, cst.SimpleStatementLine) else [statement]
            for part in parts:
                yield Unit(part, self.start(part), self.end(part), self.bound_names(part))

    def regions_at(self, position: Position) -> list[Region]:
        """The function and class bodies enclosing a position, innermost first."""
        inside = [r for r in self.regions if r.start <= position < r.end]
        return sorted(inside, key=lambda region: region.start, reverse=True)


class _Regions(cst.CSTVisitor):
    """Function and class definitions, and whether the module uses ``:=`` anywhere."""

    def __init__(self) -> None:
        self.definitions: list[cst.FunctionDef | cst.ClassDef] = []
        self.names: list[cst.Name] = []
        self.walrus = False

    def visit_Name(self, node: cst.Name) -> None:
        self.names.append(node)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.definitions.append(node)

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.definitions.append(node)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self.walrus = True


def attribute_chain(expr: cst.BaseExpression | None) -> tuple[cst.Name, list[str]] | None:
    """``a.b.c`` → (the Name ``a``, ["b", "c"]); None when the chain does not start at a plain name."""
    attributes: list[str] = []
    while isinstance(expr, cst.Attribute):
        attributes.append(expr.attr.value)
        expr = expr.value
    if not isinstance(expr, cst.Name):
        return None
    return expr, attributes[::-1]


def parameters(function: cst.FunctionDef) -> list[cst.Param]:
    """Every parameter of a function, in declaration order (``*args`` / ``**kwargs`` included)."""
    params = function.params
    found = [*params.posonly_params, *params.params, *params.kwonly_params]
    for extra in (params.star_arg, params.star_kwarg):
        if isinstance(extra, cst.Param):
            found.append(extra)
    return found


def _simple_names(node: cst.CSTNode) -> frozenset[str] | None:
    """Bound names of the common small statements, read off directly (None: use the full scan)."""
    if isinstance(node, cst.Assign):
        return frozenset(name for target in node.targets for name in target_names(target.target))
    if isinstance(node, (cst.AnnAssign, cst.AugAssign)):
        bound = node.value is not None or isinstance(node, cst.AugAssign)
        return frozenset(target_names(node.target)) if bound else frozenset()
    if isinstance(node, cst.Expr):
        return frozenset(changed_names(node.value))
    if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
        return frozenset({node.name.value})
    if isinstance(node, (cst.Pass, cst.Return, cst.Global, cst.Nonlocal, cst.Break, cst.Continue)):
        return frozenset()
    return None


class _Declared(cst.CSTVisitor):
    """Names a function declares ``global`` or ``nonlocal`` (they are not its locals)."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Global(self, node: cst.Global) -> None:
        self.names.update(item.name.value for item in node.names)

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        self.names.update(item.name.value for item in node.names)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False


def bound_names(node: cst.CSTNode) -> frozenset[str]:
    """Names a statement binds, deletes or changes in place, in its own scope."""
    collector = _Targets()
    node.visit(collector)
    return frozenset(collector.names)


def target_names(target: cst.BaseExpression) -> set[str]:
    """Names an assignment target binds; for ``x[k]`` / ``x.a`` targets, the name changed in place
    (and ``ENVIRON`` for ``os.environ[k]``-like targets)."""
    if isinstance(target, cst.Name):
        return {target.value}
    if isinstance(target, (cst.Tuple, cst.List)):
        found: set[str] = set()
        for element in target.elements:
            found |= target_names(element.value)
        return found
    if isinstance(target, cst.StarredElement):
        return target_names(target.value)
    if isinstance(target, cst.Subscript):
        written = ({environ_name(target.slice[0].slice)}
                   if environ_like(target.value) and target.slice else set())
        return written | _container(target.value)
    if isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name):
        return {target.value.value}
    return set()  # `torch.backends.x = y`, `os.environ.x = y`: no name of this module changes


def _container(node: cst.BaseExpression) -> set[str]:
    """The name whose container a subscript target changes: ``NAME[k]``, ``NAME[k][j]`` (not through
    attributes: ``os.environ[k] = v`` changes the environment, not what ``os`` names)."""
    if isinstance(node, cst.Name):
        return {node.value}
    return _container(node.value) if isinstance(node, cst.Subscript) else set()


def environ_name(key: cst.BaseSlice | cst.BaseExpression | None) -> str:
    """The pseudo-name of an environment write: ``ENVIRON:KEY`` for a literal key, else ``ENVIRON``."""
    value = key.value if isinstance(key, cst.Index) else key
    if isinstance(value, cst.SimpleString) and "f" not in value.prefix.lower():
        literal = value.evaluated_value
        if isinstance(literal, str):
            return f"{ENVIRON}:{literal}"
    return ENVIRON


def environ_like(node: cst.BaseExpression) -> bool:
    """``os.environ`` / ``environ`` as written (whether it is ``os.environ`` is decided by binding)."""
    return (isinstance(node, cst.Attribute) and node.attr.value == "environ") or (
        isinstance(node, cst.Name) and node.value == "environ")


class _Targets(cst.CSTVisitor):
    """Collects bound names without entering nested scopes (their names stay theirs)."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.names.add(node.name.value)
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self.names.add(node.name.value)
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        self.names |= target_names(node.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self.names |= target_names(node.target)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self.names |= target_names(node.target)

    def visit_For(self, node: cst.For) -> None:
        self.names |= target_names(node.target)

    def visit_CompFor(self, node: cst.CompFor) -> bool:
        return False

    def visit_AsName(self, node: cst.AsName) -> None:
        if isinstance(node.name, cst.Name):  # with ... as x, except E as x, import a as x
            self.names.add(node.name.value)
        elif isinstance(node.name, (cst.Tuple, cst.List)):
            self.names |= target_names(node.name)

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            if alias.asname is None:
                self.names.add(alias.evaluated_name.split(".")[0])

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if isinstance(node.names, cst.ImportStar):
            self.names.add("*")
            return
        for alias in node.names:
            if alias.asname is None:
                self.names.add(alias.evaluated_name)

    def visit_Del(self, node: cst.Del) -> None:
        self.names |= target_names(node.target)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self.names |= target_names(node.target)

    def visit_MatchAs(self, node: cst.MatchAs) -> None:
        if node.name is not None:
            self.names.add(node.name.value)

    def visit_MatchStar(self, node: cst.MatchStar) -> None:
        if node.name is not None:
            self.names.add(node.name.value)

    def visit_Expr(self, node: cst.Expr) -> None:
        self.names |= changed_names(node.value)


def changed_names(expression: cst.BaseExpression) -> set[str]:
    """Names a call statement changes in place: ``NAME.append(...)`` changes NAME; a mutating call on an
    ``os.environ``-like receiver changes the environment (keyed by its literal first argument)."""
    if not (isinstance(expression, cst.Call) and isinstance(expression.func, cst.Attribute)):
        return set()
    receiver, method = expression.func.value, expression.func.attr.value
    if method not in MUTATORS:
        return set()
    changed = {receiver.value} if isinstance(receiver, cst.Name) else set()
    if environ_like(receiver):
        keyed = method in ("setdefault", "pop", "__setitem__", "__delitem__") and expression.args
        changed.add(environ_name(expression.args[0].value) if keyed else ENVIRON)
    return changed
