"""The rules that edit the user's worker module itself (libcst; comments and formatting kept).

FM300 drops the ``runpod.serverless.start(...)`` statement (and an ``if __name__ == "__main__":``
block left empty by it); a ``start`` nested anywhere else becomes a TODO. FM309 moves module-level
initialisation, verbatim and in order, into ``_falmigrate_init()`` (names declared ``global``, so the
handler keeps reading module globals). FM305 turns ``progress_update(job, x)`` into
``_falmigrate_progress(job, x)`` (a log line) under a TODO marker. Import edits come last: ``runpod``
imports nothing reads any more are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import libcst as cst

from falmigrate.codemods.docker_native.common import is_main_guard, mentions
from falmigrate.importers.runpod.init import InitPlan, guard_statements, is_start_statement, plan_init
from falmigrate.importers.runpod.reader import PROGRESS, START, WorkerModule
from falmigrate.spec import Decision, Finding, Location

INIT_FUNCTION = "_falmigrate_init"
PROGRESS_FUNCTION = "_falmigrate_progress"


def _comment(rule: str, text: str) -> cst.EmptyLine:
    return cst.EmptyLine(comment=cst.Comment(f"# TODO(falmigrate {rule}): {text}"))


@dataclass
class ModuleEdit:
    module: cst.Module
    findings: list[Finding] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    moved: InitPlan = field(default_factory=InitPlan)


class _Calls(cst.CSTTransformer):
    """progress_update → _falmigrate_progress (TODO on the statement); nested start → TODO."""

    def __init__(self, mod: WorkerModule, edit: ModuleEdit) -> None:
        self.mod = mod
        self.edit = edit
        self.marks: list[tuple[str, str]] = []

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        if self.mod.is_call_to(original, PROGRESS):
            self.marks.append(("FM305",
                               "progress_update has no fal equivalent; this logs the progress instead"))
            return updated.with_changes(func=cst.Name(PROGRESS_FUNCTION))
        return updated

    def leave_SimpleStatementLine(self, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine
                                  ) -> cst.BaseStatement | cst.RemovalSentinel:
        if is_start_statement(self.mod, original):
            self.marks = []
            line = cst.SimpleStatementLine(body=[cst.Pass()], leading_lines=[
                *updated.leading_lines,
                _comment("FM300",
                         "the runpod.serverless.start call was here; fal serves the handler "
                         "through the App below"),
            ])
            return line
        if not self.marks:
            return updated
        comments = [_comment(rule, text) for rule, text in dict.fromkeys(self.marks)]
        self.marks = []
        return updated.with_changes(leading_lines=[*updated.leading_lines, *comments])


def _strip_start(mod: WorkerModule, body: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
    """Drop a module-level start statement, and one under the main guard (the guard too when emptied)."""
    out: list[cst.BaseStatement] = []
    for stmt in body:
        if is_start_statement(mod, stmt):
            continue
        if is_main_guard(stmt) and isinstance(stmt.body, cst.IndentedBlock):
            inner = [s for s in stmt.body.body if not is_start_statement(mod, s)]
            if len(inner) != len(stmt.body.body):
                if not inner and stmt.orelse is None:
                    continue
                kept = inner or [cst.SimpleStatementLine([cst.Pass()])]
                stmt = stmt.with_changes(body=stmt.body.with_changes(body=kept))
        out.append(stmt)
    return out


def _tidy(lines: Sequence[cst.EmptyLine]) -> list[cst.EmptyLine]:
    """Comments kept; runs of blank lines collapsed to one, without trailing indentation."""
    out: list[cst.EmptyLine] = []
    for line in lines:
        if line.comment is None:
            if out and out[-1].comment is None:
                continue
            line = line.with_changes(indent=False, whitespace=cst.SimpleWhitespace(""))
        out.append(line)
    return out


def _init_function(names: list[str], moved: list[cst.BaseStatement]) -> cst.FunctionDef:
    body: list[cst.BaseStatement] = []
    if names:
        body.append(cst.SimpleStatementLine([cst.Global([cst.NameItem(cst.Name(n)) for n in names])]))
    for i, stmt in enumerate(moved):
        lines = _tidy(stmt.leading_lines)
        if i == 0 and lines and lines[0].comment is None:
            lines = lines[1:]
        body.append(stmt.with_changes(leading_lines=lines))
    doc = cst.SimpleStatementLine([cst.Expr(cst.SimpleString(
        '"""The worker\'s module-level initialisation (moved here by falmigrate; runs in setup())."""'))])
    return cst.FunctionDef(
        name=cst.Name(INIT_FUNCTION), params=cst.Parameters(), body=cst.IndentedBlock([doc, *body]),
        leading_lines=[cst.EmptyLine(), cst.EmptyLine()],
    )


def edit_module(mod: WorkerModule) -> ModuleEdit:
    """Apply FM300/FM305/FM309 to the worker module; the fal App is added by ``generate``."""
    edit = ModuleEdit(module=mod.module)
    plan = plan_init(mod)
    edit.moved = plan
    body = list(mod.module.body)
    if plan.indices:
        moved: list[cst.BaseStatement] = []
        for i in plan.indices:
            moved += guard_statements(mod, body[i]) if i == plan.guard else [body[i]]
        function = _init_function(plan.names, moved)
        first = plan.indices[0]
        body = [function if i == first else s for i, s in enumerate(body)
                if i == first or i not in plan.indices]
    body = _strip_start(mod, body)
    module = mod.module.with_changes(body=body)
    calls = _Calls(mod, edit)
    module = module.visit(calls)
    still_nested = any(line for line in _start_lines(mod, module))
    if still_nested:
        edit.findings.append(Finding(rule="FM300", severity="info",
                                     message="a runpod.serverless.start call inside a "
                                             "function became `pass` under a TODO marker",
                                     location=Location(file=mod.path, line=mod.starts[0].line)))
    edit.module = _drop_unused_runpod_imports(module)
    return edit


def _local_names(alias: cst.ImportAlias) -> str:
    if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
        return alias.asname.name.value
    name = alias.name
    while isinstance(name, cst.Attribute):
        name = name.value
    return name.value if isinstance(name, cst.Name) else ""


def _is_runpod_import(node: cst.CSTNode) -> bool:
    if isinstance(node, cst.Import):
        return any(mod_name(a.name).split(".")[0] == "runpod" for a in node.names)
    return (isinstance(node, cst.ImportFrom) and node.module is not None and not node.relative
            and mod_name(node.module).split(".")[0] == "runpod"
            and not isinstance(node.names, cst.ImportStar))


def mod_name(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Attribute):
        return f"{mod_name(node.value)}.{node.attr.value}"
    return node.value if isinstance(node, cst.Name) else ""


def _is_import_line(stmt: cst.CSTNode) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and all(isinstance(s, (cst.Import, cst.ImportFrom))
                                                             for s in stmt.body)


def _drop_unused_runpod_imports(module: cst.Module) -> cst.Module:
    """Remove names of module-level ``runpod`` imports that nothing in the module reads any more."""
    body: list[cst.BaseStatement] = []
    carried: list[cst.EmptyLine] = []  # comments of a dropped import move to the next statement
    for stmt in module.body:
        node = stmt.body[0] if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 else None
        if node is not None and _is_runpod_import(node):
            others = [s for s in module.body if not _is_import_line(s)]
            keep = [a for a in node.names if any(mentions(o, {_local_names(a)}) for o in others)]
            if not keep:
                carried += [line for line in stmt.leading_lines if line.comment is not None]
                continue
            keep[-1] = keep[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            stmt = stmt.with_changes(body=[node.with_changes(names=keep)])
        if carried and hasattr(stmt, "leading_lines"):
            stmt = stmt.with_changes(leading_lines=[*carried, *stmt.leading_lines])
            carried = []
        body.append(stmt)
    return module.with_changes(body=body)


def _start_lines(mod: WorkerModule, module: cst.Module) -> list[int]:
    """Whether any start statement survived at top level (it cannot: it became a TODO ``pass``)."""
    found: list[int] = []

    class _V(cst.CSTVisitor):
        def visit_Comment(self, node: cst.Comment) -> None:
            if "TODO(falmigrate FM300)" in node.value:
                found.append(1)

    module.visit(_V())
    return found


__all__ = ["INIT_FUNCTION", "PROGRESS_FUNCTION", "START", "ModuleEdit", "edit_module"]
