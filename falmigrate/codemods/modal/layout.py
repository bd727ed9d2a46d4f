"""Layout helpers of the Modal rewrite: parsing generated members, blank lines between definitions."""

from __future__ import annotations

import libcst as cst


def parse_members(code: str) -> list[cst.BaseStatement]:
    return list(cst.parse_module(code).body) if code.strip() else []


def names_in(node: cst.CSTNode) -> set[str]:
    """Every plain name a node mentions (what its removal may leave unused)."""
    names: set[str] = set()

    class _Names(cst.CSTVisitor):
        def visit_Name(self, name: cst.Name) -> None:
            names.add(name.value)

    node.visit(_Names())
    return names


def is_docstring(stmt: cst.BaseStatement) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Expr)
            and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))


def with_blank(stmts: list[cst.BaseStatement], lines: int = 1) -> list[cst.BaseStatement]:
    """Each def/class (and the first statement) preceded by exactly ``lines`` blank lines."""
    out = []
    for i, stmt in enumerate(stmts):
        out.append(_spaced(stmt, lines)
                   if i == 0 or isinstance(stmt, (cst.ClassDef, cst.FunctionDef)) else stmt)
    return out


def _spaced(stmt: cst.BaseStatement, lines: int) -> cst.BaseStatement:
    leading = list(stmt.leading_lines)
    while leading and leading[0].comment is None:
        leading.pop(0)
    stmt = stmt.with_changes(leading_lines=[cst.EmptyLine(indent=False)] * lines + leading)
    if isinstance(stmt, (cst.ClassDef, cst.FunctionDef)) and stmt.decorators:
        decorators = list(stmt.decorators)
        first = decorators[0]
        dl = list(first.leading_lines)
        while dl and dl[0].comment is None:
            dl.pop(0)
        decorators[0] = first.with_changes(leading_lines=dl)
        stmt = stmt.with_changes(decorators=decorators)
    return stmt
