"""Import edits of the Modal rewrite (FM250: `modal` imports removed once nothing uses them), through
libcst's AddImportsVisitor / RemoveImportsVisitor.

Added: ``fal`` and whatever the generated code uses (pydantic, typing, fal.toolkit, the helpers copied
from ``apptemplates``), merged with the user's own imports. Removed only when nothing uses them any
more: ``modal`` (kept while user code still uses Modal at run time) and the user's imports that only
the removed Modal definitions read (so the output passes ruff's F401).
"""

from __future__ import annotations

from collections.abc import Iterable

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor, ImportItem, RemoveImportsVisitor

from falmigrate.spec import Decision


def _aliases(module: cst.Module) -> list[tuple[str, str | None, str | None, str]]:
    """(module, name, asname, bound name) of every top-level absolute import."""
    out = []
    for stmt in module.body:
        for small in stmt.body if isinstance(stmt, cst.SimpleStatementLine) else []:
            if isinstance(small, cst.Import):
                for alias in small.names:
                    dotted = cst.helpers.get_full_name_for_node(alias.name) or ""
                    asname = (alias.asname.name.value
                              if alias.asname and isinstance(alias.asname.name, cst.Name) else None)
                    out.append((dotted, None, asname, asname or dotted.split(".")[0]))
            elif (isinstance(small, cst.ImportFrom) and small.module is not None and not small.relative
                  and not isinstance(small.names, cst.ImportStar)):
                source = cst.helpers.get_full_name_for_node(small.module) or ""
                for alias in small.names:
                    name = cst.helpers.get_full_name_for_node(alias.name) or ""
                    asname = (alias.asname.name.value
                              if alias.asname and isinstance(alias.asname.name, cst.Name) else None)
                    out.append((source, name, asname, asname or name))
    return out


def edit_imports(module: cst.Module, add: Iterable[ImportItem], dropped_names: set[str],
                 decisions: list[Decision]) -> cst.Module:
    """``module`` with ``add`` imported, ``modal`` and imports only removed code used dropped if unused."""
    context = CodemodContext()
    removals = []
    for source, name, asname, bound in _aliases(module):
        if source.split(".")[0] == "modal" or bound in dropped_names:
            RemoveImportsVisitor.remove_unused_import(context, source, name, asname)
            removals.append((source, name, bound))
    module = RemoveImportsVisitor(context).transform_module(module)
    still = {bound for _, _, _, bound in _aliases(module)}
    gone = sorted({f"{source}.{name}" if name else source for source, name, bound in removals
                   if bound not in still})
    user_gone = [g for g in gone if g.split(".")[0] != "modal"]
    if user_gone:
        decisions.append(Decision(source=f"import of {', '.join(user_gone)}",
                                  target="removed (only Modal code used it)"))
    context = CodemodContext()
    for item in add:
        AddImportsVisitor.add_needed_import(context, item.module_name, item.obj_name, item.alias)
    return AddImportsVisitor(context).transform_module(module)
