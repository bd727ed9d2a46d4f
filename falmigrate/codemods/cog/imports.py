"""Import bookkeeping of the cog codemod, done last (after every other edit).

``cog.X`` attribute uses become plain names; ``from cog import …``/``import cog`` go; each cog name the
rewritten module still uses is imported from its equivalent (``support.COG_NAMES``), defined in the
module as a no-op stand-in (``support.COG_STUBS``) or, without either, kept from cog — each use of the
last two with a ``TODO(falmigrate FM109)`` marker. Imports that only the removed signatures used are
dropped (ruff F401 stays clean); imports that were unused before stay untouched. Imports are added
through libcst's ``AddImportsVisitor`` (merged with the module's own, after its last top-level import).
"""

from __future__ import annotations

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor, ImportItem
from libcst.metadata import MetadataWrapper, PositionProvider

from falmigrate.codemods.cog import support
from falmigrate.importers.cog import mapping
from falmigrate.importers.cog.types import Names
from falmigrate.spec import Finding, Location

_METRIC_ATTRS = {"record_metric", "scope"}
_NO_EQUIVALENT = {"current_scope", "emit_metric", "URLFile", "URLPath", "CancelationException", "Opaque",
                  "streaming", "ExperimentalFeatureWarning", "File"}


class _NameUses(cst.CSTVisitor):
    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Import(self, node: cst.Import) -> bool:
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)


def used_names(module: cst.Module) -> set[str]:
    visitor = _NameUses()
    module.visit(visitor)
    return visitor.names


class _CogAttributes(cst.CSTTransformer):
    """``cog.Path`` → ``Path`` (recorded so it gets imported)."""

    def __init__(self, names: Names) -> None:
        self.names = names

    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute) -> cst.BaseExpression:
        if isinstance(updated.value, cst.Name) and updated.value.value in self.names.modules:
            self.names.cog.setdefault(updated.attr.value, updated.attr.value)
            return cst.Name(updated.attr.value)
        return updated


def _is_cog_import(small: cst.BaseSmallStatement, names: Names) -> bool:
    if isinstance(small, cst.ImportFrom) and small.module is not None:
        return cst.Module([]).code_for_node(small.module) in ("cog", "cog.types")
    if isinstance(small, cst.Import):
        return all(cst.Module([]).code_for_node(a.name) == "cog" for a in small.names)
    return False


def _prune(statement: cst.SimpleStatementLine, names: Names,
           gone: set[str]) -> cst.SimpleStatementLine | None:
    """The import line without cog imports and without aliases in ``gone``; None when nothing is left."""
    kept = []
    for small in statement.body:
        if _is_cog_import(small, names):
            continue
        if isinstance(small, (cst.Import, cst.ImportFrom)) and not isinstance(small.names, cst.ImportStar):
            aliases = [a for a in small.names if _local(a) not in gone]
            if not aliases:
                continue
            if len(aliases) != len(small.names):
                aliases[-1] = aliases[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
                small = small.with_changes(names=aliases)
                if isinstance(small, cst.ImportFrom) and len(aliases) == 1:
                    small = small.with_changes(lpar=None, rpar=None)
        kept.append(small)
    if not kept:
        return None
    return statement.with_changes(body=kept)


def _local(alias: cst.ImportAlias) -> str:
    if alias.asname:
        return alias.asname.name.value
    return cst.Module([]).code_for_node(alias.name).split(".")[0]


class _MetricTodos(cst.CSTTransformer):
    """A TODO(FM109) line above statements using cog APIs fal does not have."""

    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, cog_locals: set[str], file: str) -> None:
        self.cog_locals = cog_locals
        self.file = file
        self.findings: list[Finding] = []
        self.hit: str | None = None

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        self.hit = None

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if (isinstance(node.value, cst.Name) and node.value.value == "self"
                and node.attr.value in _METRIC_ATTRS):
            self.hit = f"self.{node.attr.value}"

    def visit_Name(self, node: cst.Name) -> None:
        if node.value in self.cog_locals:
            self.hit = node.value

    def leave_SimpleStatementLine(self, original: cst.SimpleStatementLine,
                                  updated: cst.SimpleStatementLine) -> cst.SimpleStatementLine:
        if self.hit is None or any(isinstance(s, (cst.Import, cst.ImportFrom)) for s in updated.body) \
                or any(isinstance(s, cst.Assign) and any(isinstance(t.target, cst.Name) and t.target.value in
                                                         self.cog_locals for t in s.targets)
                       for s in updated.body):
            return updated  # an import, or the stand-in's own definition
        line = self.get_metadata(PositionProvider, original).start.line
        stand_in = self.hit in support.COG_STUBS or self.hit == "self.record_metric"
        text = f"cog's {self.hit} has no fal equivalent" + ("; fal_app.py defines a no-op stand-in"
                                                            if stand_in else
                                                            "; it still needs the cog package")
        self.findings.append(Finding(rule="FM109", severity=mapping.severity("FM109"), message=text,
                                     remediation="remove it or replace it (fal streams logs; "
                                                 "metrics are not kept)",
                                     location=Location(file=self.file, line=line)))
        comment = cst.EmptyLine(indent=True, comment=cst.Comment(f"# TODO(falmigrate FM109): {text}"))
        self.hit = None
        return updated.with_changes(leading_lines=[*updated.leading_lines, comment])


def _cog_imports(module: cst.Module, names: Names,
                 after: set[str]) -> tuple[list[ImportItem], set[str], list[str]]:
    """(imports of the equivalents, stand-ins to define, names still imported from cog) for the cog names
    the rewritten module still uses."""
    bound = {local for _, _, local in support.existing_bindings(module)}
    items: list[ImportItem] = []
    stubs: set[str] = set()
    kept: list[str] = []
    for local, cog_name in sorted(names.cog.items()):
        if local not in after or local in bound:
            continue
        target = support.COG_NAMES.get(cog_name)
        if target is None and local == cog_name and cog_name in support.COG_STUBS:
            stubs.add(cog_name)
            kept.append(local)
        elif target is None:
            items.append(support.import_item("cog", cog_name, local))
            kept.append(local)
        else:
            items.append(support.import_item(target[0], target[1], local))
    return items, stubs, kept


def _prune_all(module: cst.Module, names: Names, gone: set[str]) -> tuple[cst.Module, list[cst.EmptyLine]]:
    """The module without cog imports and imports only the removed code used; comments above a dropped
    import line are returned (they go above the imports that replace it)."""
    body: list[cst.BaseStatement] = []
    carried: list[cst.EmptyLine] = []
    for statement in module.body:
        if isinstance(statement, cst.SimpleStatementLine) and any(
                isinstance(s, (cst.Import, cst.ImportFrom)) for s in statement.body):
            pruned = _prune(statement, names, gone)
            if pruned is None:
                carried += [line for line in statement.leading_lines if line.comment is not None]
                continue
            statement = pruned
        body.append(statement)
    return module.with_changes(body=body), carried


def _is_import(statement: cst.BaseStatement) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and any(
        isinstance(s, (cst.Import, cst.ImportFrom)) for s in statement.body)


def _add_imports(module: cst.Module, items: list[ImportItem], carried: list[cst.EmptyLine]) -> cst.Module:
    context = CodemodContext()
    for item in dict.fromkeys(items):  # AddImportsVisitor writes a repeated aliased import twice
        AddImportsVisitor.add_needed_import(context, item.module_name, item.obj_name, item.alias)
    module = AddImportsVisitor(context).transform_module(module)
    if not carried:
        return module
    body = list(module.body)
    at = next((i for i, s in enumerate(body) if _is_import(s)), 0 if body and not _docstring(body[0]) else 1)
    if at < len(body):
        body[at] = body[at].with_changes(leading_lines=[*carried, *body[at].leading_lines])
    return module.with_changes(body=body)


def _insert_after_imports(module: cst.Module, statements: list[cst.BaseStatement]) -> cst.Module:
    """``statements`` after the module's leading docstring and import lines."""
    if not statements:
        return module
    body = list(module.body)
    at = 1 if body and _docstring(body[0]) else 0
    while at < len(body) and _is_import(body[at]):
        at += 1
    if at < len(body):  # two blank lines between the inserted definitions and the code after them
        leading = list(body[at].leading_lines)
        blank = next((i for i, line in enumerate(leading) if line.comment is not None), len(leading))
        body[at] = body[at].with_changes(leading_lines=[cst.EmptyLine(indent=False)] * max(2, blank)
                                         + leading[blank:])
    return module.with_changes(body=[*body[:at], *statements, *body[at:]])


def user_names(module: cst.Module, names: Names) -> set[str]:
    """The names the user's (rewritten) code uses, ``cog.X`` counted as ``X``:
    which cog names it still needs."""
    return used_names(module.visit(_CogAttributes(names)))


def fix_imports(original: cst.Module, module: cst.Module, names: Names, generated: list[ImportItem], *,
                file: str, user_names: set[str]) -> tuple[cst.Module, list[Finding]]:
    """``module`` (the rewritten ``original``) with its imports fixed: cog's gone, equivalents and what
    the ``generated`` code needs added, stand-ins for cog's metric helpers defined after the imports.
    ``user_names``: the names the user's code uses (the generated code's ``File`` is fal's, not cog's)."""
    module = module.visit(_CogAttributes(names))
    before, after = used_names(original), used_names(module)
    module, carried = _prune_all(module, names, before - after)
    items, stub_names, kept = _cog_imports(module, names, user_names)
    entering = support.enter_project()
    module = _add_imports(module, [*items, *generated, *entering.imports], carried)
    first = support.statements(entering.code) + support.statements("_falmigrate_enter_project()\n")
    module = _insert_after_imports(module, [*first, *support.statements(support.stubs(stub_names).code)])
    flagged = {n for n in kept if names.cog.get(n) in _NO_EQUIVALENT | {n}}
    located = _MetricTodos(flagged, file)  # findings carry the user's line numbers, not ours
    MetadataWrapper(original).visit(located)
    module = MetadataWrapper(module).visit(_MetricTodos(flagged, file))
    return module, located.findings


def _docstring(statement: cst.BaseStatement) -> bool:
    return (isinstance(statement, cst.SimpleStatementLine) and isinstance(statement.body[0], cst.Expr)
            and isinstance(statement.body[0].value, cst.SimpleString))
