"""Import bookkeeping of the Modal rewrite: which names a module binds, where new imports go, and
dropping imports that only the removed Modal code used (so the output passes ruff's F401)."""

from __future__ import annotations

import libcst as cst

from falmigrate.spec import Decision


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Expr)
            and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))


def prune_imports(module: cst.Module, dropped: set[str], decisions: list[Decision]) -> cst.Module:
    """Drop imported names only the removed Modal code used (e.g. an image from another module)."""
    used = set()
    for stmt in module.body:
        if not (isinstance(stmt, cst.SimpleStatementLine) and all(isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body)):
            used |= all_refs(stmt)
    unused = dropped - used
    if not unused:
        return module
    body = []
    for stmt in module.body:
        if isinstance(stmt, cst.SimpleStatementLine) and all(isinstance(s, cst.ImportFrom) for s in stmt.body):
            smalls = []
            for small in stmt.body:
                if isinstance(small.names, cst.ImportStar):
                    smalls.append(small)
                    continue
                names = [a for a in small.names if (a.asname.name.value if a.asname else a.name.value) not in unused]  # type: ignore[union-attr]
                if len(names) != len(small.names):
                    gone = sorted({a.name.value for a in small.names} - {a.name.value for a in names})  # type: ignore[union-attr]
                    decisions.append(Decision(source=f"import of {', '.join(gone)}", target="removed (only Modal code used it)"))
                if names:
                    names[-1] = names[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
                    smalls.append(small.with_changes(names=names))
            if not smalls:
                continue
            stmt = stmt.with_changes(body=smalls)
        body.append(stmt)
    return module.with_changes(body=body)


def all_refs(node: cst.CSTNode) -> set[str]:
    names: set[str] = set()

    class _V(cst.CSTVisitor):
        def visit_Name(self, n: cst.Name) -> None:
            names.add(n.value)

    node.visit(_V())
    return names


def bound_names(module: cst.Module) -> set[str]:
    names: set[str] = set()
    for stmt in module.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, (cst.Import, cst.ImportFrom)) and not isinstance(small.names, cst.ImportStar):
                    for alias in small.names:
                        if alias.asname is not None:
                            names.add(cst.helpers.get_full_name_for_node(alias.asname.name) or "")
                        else:
                            names.add((cst.helpers.get_full_name_for_node(alias.name) or "").split(".")[0])
        elif isinstance(stmt, (cst.ClassDef, cst.FunctionDef)):
            names.add(stmt.name.value)
    return names


def import_insert_index(module: cst.Module) -> int:
    index = 0
    for i, stmt in enumerate(module.body):
        if _is_docstring(stmt) and i == 0:
            index = 1
            continue
        if isinstance(stmt, cst.SimpleStatementLine) and all(isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body):
            index = i + 1
            continue
        break
    return index
