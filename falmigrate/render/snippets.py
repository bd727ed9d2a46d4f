"""Copy top-level definitions out of ``falmigrate/apptemplates/*.py`` into a generated module.

``emit("files", {"_falmigrate_download"})`` returns the source of that function, of every other
top-level definition of ``apptemplates/files.py`` it refers to (transitively), in the module's order
with their comments, and the import statements those definitions use (only the names they use), so the
generated module stays ruff-F clean. Imports come back as ``ImportItem``s for libcst's
``AddImportsVisitor``, which merges them with the user's own imports.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import libcst as cst
from libcst.codemod.visitors import ImportItem

PACKAGE = "falmigrate.apptemplates"


@dataclass(frozen=True)
class _Definition:
    names: frozenset[str]  # what the statement binds
    uses: frozenset[str]  # the free names its code refers to
    code: str


@dataclass
class Snippet:
    code: str = ""
    imports: list[ImportItem] = field(default_factory=list)

    def import_lines(self) -> list[str]:
        """The imports as statements (for templates that write them out instead of using libcst)."""
        lines = []
        for item in self.imports:
            if item.obj_name is None:
                lines.append(f"import {item.module_name}" + (f" as {item.alias}" if item.alias else ""))
            else:
                alias = f" as {item.alias}" if item.alias else ""
                lines.append(f"from {item.module_name} import {item.obj_name}{alias}")
        return lines


@dataclass(frozen=True)
class _Template:
    definitions: tuple[_Definition, ...]
    imports: dict[str, ImportItem]  # bound name -> its import


def _free_names(node: ast.AST) -> frozenset[str]:
    return frozenset(n.id for n in ast.walk(node) if isinstance(n, ast.Name))


def _bound(node: ast.stmt) -> frozenset[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return frozenset({node.name})
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return frozenset(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return frozenset()


def _import_items(node: ast.Import | ast.ImportFrom) -> dict[str, ImportItem]:
    items = {}
    for alias in node.names:
        if isinstance(node, ast.Import):
            bound = alias.asname or alias.name.split(".")[0]
            items[bound] = ImportItem(alias.name, None, alias.asname)
        elif node.module != "__future__":
            items[alias.asname or alias.name] = ImportItem(node.module or "", alias.name, alias.asname)
    return items


@cache
def _template(module: str) -> _Template:
    source = resources.files(PACKAGE).joinpath(f"{module}.py").read_text(encoding="utf-8")
    tree, cst_module = ast.parse(source), cst.parse_module(source)
    imports: dict[str, ImportItem] = {}
    definitions = []
    for node, statement in zip(tree.body, cst_module.body, strict=True):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.update(_import_items(node))
        elif _bound(node):
            code = cst_module.code_for_node(statement).lstrip("\n")
            definitions.append(_Definition(_bound(node), _free_names(node), code))
    return _Template(tuple(definitions), imports)


def emit(module: str, names: Iterable[str], *, provided: Iterable[str] = ()) -> Snippet:
    """The definitions ``names`` of ``apptemplates/<module>.py`` with what they need, ready to insert;
    ``provided``: names the generated module defines itself (their placeholders are not copied)."""
    template = _template(module)
    wanted, pending = set(), set(names)
    known = set().union(*(d.names for d in template.definitions)) - set(provided)
    unknown = pending - known
    if unknown:
        raise KeyError(f"apptemplates/{module}.py defines no {', '.join(sorted(unknown))}")
    while pending:
        name = pending.pop()
        wanted.add(name)
        for definition in template.definitions:
            if name in definition.names:
                pending |= (definition.uses & known) - wanted
    chosen = [d for d in template.definitions if d.names & wanted and not d.names & set(provided)]
    used = set().union(*(d.uses for d in chosen)) if chosen else set()
    imports = [item for bound, item in template.imports.items() if bound in used]
    return Snippet(code="\n\n".join(d.code.rstrip("\n") for d in chosen) + "\n" if chosen else "",
                   imports=imports)


def defined_names(module: str) -> frozenset[str]:
    """Every top-level name ``apptemplates/<module>.py`` defines (what ``emit`` can copy from it)."""
    return frozenset().union(*(d.names for d in _template(module).definitions))
