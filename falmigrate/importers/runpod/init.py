"""Which module-level statements of a worker are initialisation (model loading, clients, globals).

RunPod workers load models at import time, before ``start``. fal imports the app module where it is
deployed from, so that work moves into ``setup()``: the statements are kept verbatim and in order in
a ``_falmigrate_init()`` function that declares the names it binds ``global``, so every function of
the module keeps reading them as module globals. A statement is initialisation when it calls or
awaits something (outside lambdas and nested defs), or reads a name an earlier moved statement binds.
Imports, defs, classes, docstrings, literal constants and ``if __name__ == "__main__":`` stay put.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import libcst as cst

from falmigrate.importers.runpod.reader import START, WorkerModule


@dataclass
class InitPlan:
    indices: list[int] = field(default_factory=list)  # positions in module.body
    names: list[str] = field(default_factory=list)  # globals the moved statements bind
    lines: list[int] = field(default_factory=list)
    guard: int | None = None  # index of an ``if __name__ == "__main__":`` whose body (minus start) moves too


class _Scan(cst.CSTVisitor):
    """Calls, reads and module-scope bindings of one statement (nested scopes skipped)."""

    def __init__(self) -> None:
        self.calls = False
        self.reads: set[str] = set()
        self.binds: list[str] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            self._bind(node.name.value)
            return False
        if isinstance(node, cst.Lambda):  # runs later: its reads count, its calls do not
            inner = _Scan()
            node.body.visit(inner)
            self.reads |= inner.reads
            return False
        if isinstance(node, (cst.Call, cst.Await)):
            self.calls = True
        elif isinstance(node, cst.Name):
            self.reads.add(node.value)
        elif isinstance(node, (cst.AssignTarget, cst.AnnAssign, cst.AugAssign, cst.AsName, cst.NamedExpr)):
            target = getattr(node, "target", None) or getattr(node, "name", None)
            self._targets(target)
        elif isinstance(node, cst.For):
            self._targets(node.target)
        elif isinstance(node, (cst.Import, cst.ImportFrom)) and not isinstance(node.names, cst.ImportStar):
            self._import_targets(node.names)
        return True

    def _import_targets(self, aliases: Sequence[cst.ImportAlias]) -> None:
        """``import a.b`` binds ``a``; an alias with ``as`` is bound where its AsName is visited."""
        for alias in aliases:
            if alias.asname is None:
                name = alias.name
                while isinstance(name, cst.Attribute):
                    name = name.value
                self._targets(name)

    def _bind(self, name: str) -> None:
        if name not in self.binds:
            self.binds.append(name)

    def _targets(self, target: cst.CSTNode | None) -> None:
        if isinstance(target, cst.Name):
            self._bind(target.value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._targets(element.value)
        elif isinstance(target, cst.StarredElement):
            self._targets(target.value)


def _stays(stmt: cst.CSTNode, index: int) -> bool:
    if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
        return True
    if isinstance(stmt, cst.If) and _is_main_guard(stmt):
        return True
    if isinstance(stmt, cst.SimpleStatementLine):
        return all(
            isinstance(s, (cst.Import, cst.ImportFrom, cst.Pass))
            or (isinstance(s, cst.Expr) and isinstance(s.value, (cst.SimpleString, cst.ConcatenatedString)))
            for s in stmt.body
        )
    return False


def _is_main_guard(stmt: cst.If) -> bool:
    test = stmt.test
    return (isinstance(test, cst.Comparison) and isinstance(test.left, cst.Name)
            and test.left.value == "__name__"
            and any(isinstance(c.comparator, cst.SimpleString) and "__main__" in c.comparator.value
                    for c in test.comparisons))


def is_start_statement(mod: WorkerModule, stmt: cst.CSTNode) -> bool:
    """A simple statement that is only ``runpod.serverless.start(...)``."""
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Expr)
            and mod.is_call_to(stmt.body[0].value, START))


def _called(node: cst.CSTNode, functions: dict[str, cst.FunctionDef]) -> set[str]:
    names: set[str] = set()

    class _Visit(cst.CSTVisitor):
        def visit_Call(self, call: cst.Call) -> None:
            if isinstance(call.func, cst.Name) and call.func.value in functions:
                names.add(call.func.value)

    node.visit(_Visit())
    return names


def start_functions(mod: WorkerModule) -> set[str]:
    """Module functions that call ``runpod.serverless.start``, directly or through other module functions."""
    lines = [start.line for start in mod.starts]
    found = set()
    for name, fn in mod.functions.items():
        span = mod.positions[fn]
        if any(span.start.line <= line <= span.end.line for line in lines):
            found.add(name)
    changed = True
    while changed:
        changed = False
        for name, fn in mod.functions.items():
            if name not in found and _called(fn, mod.functions) & found:
                found.add(name)
                changed = True
    return found


def guard_statements(mod: WorkerModule, stmt: cst.CSTNode) -> list[cst.BaseStatement] | None:
    """The other statements of a main guard that starts the worker (they are its startup), else None.
    A guard that starts it through a function (``main()`` calling ``start``) moves whole: the function
    runs in setup() and its nested ``start`` becomes ``pass``."""
    if not (isinstance(stmt, cst.If) and _is_main_guard(stmt) and stmt.orelse is None
            and isinstance(stmt.body, cst.IndentedBlock)):
        return None
    body = list(stmt.body.body)
    rest = [s for s in body if not is_start_statement(mod, s)]
    if rest and len(rest) < len(body):
        return rest
    through = start_functions(mod)
    return rest if rest and through and any(_called(s, mod.functions) & through for s in rest) else None


def main_guard(mod: WorkerModule) -> cst.If | None:
    """The module's ``if __name__ == "__main__":`` block, if any."""
    return next((s for s in mod.module.body if isinstance(s, cst.If) and _is_main_guard(s)), None)


def plan_init(mod: WorkerModule) -> InitPlan:
    plan = InitPlan()
    moved: set[str] = set()
    for index, stmt in enumerate(mod.module.body):
        guarded = guard_statements(mod, stmt)
        if guarded is not None:
            plan.indices.append(index)
            plan.guard = index
            plan.lines.append(mod.line(guarded[0]))
            for inner in guarded:
                scan = _Scan()
                inner.visit(scan)
                moved.update(scan.binds)
                plan.names += [n for n in scan.binds if n not in plan.names]
            continue
        if _stays(stmt, index) or is_start_statement(mod, stmt):
            continue
        scan = _Scan()
        stmt.visit(scan)
        if not (scan.calls or scan.reads & moved):
            continue
        plan.indices.append(index)
        plan.lines.append(mod.line(stmt))
        for name in scan.binds:
            moved.add(name)
            if name not in plan.names:
                plan.names.append(name)
    return plan
