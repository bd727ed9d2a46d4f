"""Import bookkeeping of the cog codemod, done last (after every other edit).

``cog.X`` attribute uses become plain names; ``from cog import …``/``import cog`` go; each cog name the
rewritten module still uses is imported from its equivalent (``support.COG_NAMES``) or, without one,
kept from cog with a ``TODO(falmigrate FM109)`` marker. Imports that only the removed signatures used
are dropped (ruff F401 stays clean); imports that were unused before stay untouched. The imports
the generated code needs go after the module's last top-level import.
"""

from __future__ import annotations

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from falmigrate.codemods.cog import support
from falmigrate.importers.cog import mapping
from falmigrate.importers.cog.types import Names
from falmigrate.render.models import ModelSource
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


def _prune(statement: cst.SimpleStatementLine, names: Names, gone: set[str]) -> cst.SimpleStatementLine | None:
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


def _required(needs: ModelSource, stream: bool,
              aliases: dict[str, str] | None = None) -> list[tuple[str, str | None, str]]:
    """(module, name or None for `import module`, local name) the generated code uses; ``aliases``
    renames fal.toolkit names the user's module already binds (``from PIL import Image``)."""
    wanted = [("dataclasses", None, "dataclasses"), ("mimetypes", None, "mimetypes"), ("os", None, "os"),
              ("tempfile", None, "tempfile"),
              ("fal", None, "fal"), ("fal.toolkit", "File", "File"), ("fal.toolkit", "download_file", "download_file")]
    if stream:
        wanted += [("json", None, "json"), ("fastapi.encoders", "jsonable_encoder", "jsonable_encoder"),
                   ("fastapi.responses", "StreamingResponse", "StreamingResponse")]
    wanted += [("typing", n, n) for n in sorted(needs.typing_names)]
    wanted += [("pydantic", n, n) for n in sorted(needs.pydantic_names)]
    wanted += [("fal.toolkit", n, n) for n in sorted(needs.toolkit_names)]
    aliases = aliases or {}
    return [(m, n, aliases.get(n, local) if m == "fal.toolkit" else local) for m, n, local in wanted]


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
        if isinstance(node.value, cst.Name) and node.value.value == "self" and node.attr.value in _METRIC_ATTRS:
            self.hit = f"self.{node.attr.value}"

    def visit_Name(self, node: cst.Name) -> None:
        if node.value in self.cog_locals:
            self.hit = node.value

    def leave_SimpleStatementLine(self, original: cst.SimpleStatementLine,
                                  updated: cst.SimpleStatementLine) -> cst.SimpleStatementLine:
        if self.hit is None or any(isinstance(s, (cst.Import, cst.ImportFrom)) for s in updated.body) \
                or any(isinstance(s, cst.Assign) and any(isinstance(t.target, cst.Name) and t.target.value in
                                                         self.cog_locals for t in s.targets) for s in updated.body):
            return updated  # an import, or the stand-in's own definition
        line = self.get_metadata(PositionProvider, original).start.line
        stand_in = self.hit in support.COG_STUBS or self.hit == "self.record_metric"
        text = f"cog's {self.hit} has no fal equivalent" + ("; fal_app.py defines a no-op stand-in" if stand_in else
                                                            "; it still needs the cog package")
        self.findings.append(Finding(rule="FM109", severity=mapping.severity("FM109"), message=text,
                                     remediation="remove it or replace it (fal streams logs; metrics are not kept)",
                                     location=Location(file=self.file, line=line)))
        comment = cst.EmptyLine(indent=True, comment=cst.Comment(f"# TODO(falmigrate FM109): {text}"))
        self.hit = None
        return updated.with_changes(leading_lines=[*updated.leading_lines, comment])


def _imports_block(module: cst.Module, names: Names, needs: ModelSource, stream: bool,
                   after: set[str], aliases: dict[str, str]) -> tuple[list[cst.BaseStatement], list[str]]:
    existing = support.existing_bindings(module)
    bound = {local for _, _, local in existing}
    lines: list[cst.SimpleStatementLine] = []
    kept_from_cog: list[str] = []
    grouped: dict[str, list[str]] = {}
    stubs: list[cst.BaseStatement] = []
    for local, cog_name in sorted(names.cog.items()):
        if local not in after or local in bound:
            continue
        target = support.COG_NAMES.get(cog_name)
        if target is None and local == cog_name and cog_name in support.COG_STUBS:
            kept_from_cog.append(local)
            stubs += support.stub_statements(cog_name)
        elif target is None:
            kept_from_cog.append(local)
            lines.append(support.import_statement("cog", cog_name, local))
        elif target[1] == local:
            grouped.setdefault(target[0], []).append(local)
        else:
            lines.append(support.import_statement(target[0], target[1], local))
        bound.add(local)
    for module_name, name, local in _required(needs, stream, aliases):
        if local in bound:
            continue
        bound.add(local)
        if name is None:
            lines.append(support.import_statement(module_name, None))
        elif local != name:
            lines.append(support.import_statement(module_name, name, local))
        else:
            grouped.setdefault(module_name, []).append(name)
    lines += [cst.parse_statement(f"from {m} import {', '.join(sorted(ns))}\n") for m, ns in grouped.items()]
    return [*lines, *stubs], kept_from_cog


def fix_imports(original: cst.Module, module: cst.Module, names: Names, needs: ModelSource, *,
                stream: bool, file: str, aliases: dict[str, str] | None = None) -> tuple[cst.Module, list[Finding]]:
    module = module.visit(_CogAttributes(names))
    before, after = used_names(original), used_names(module)
    gone = {n for n in before - after}
    body: list[cst.BaseStatement] = []
    last_import = -1
    carried: list[cst.EmptyLine] = []  # comments above a dropped import move to the next statement
    moved = (-1, 0)  # (index of the statement that received carried comments, how many)
    for statement in module.body:
        is_import = isinstance(statement, cst.SimpleStatementLine) and any(
            isinstance(s, (cst.Import, cst.ImportFrom)) for s in statement.body)
        if is_import:
            pruned = _prune(statement, names, gone)
            if pruned is None:
                carried += [line for line in statement.leading_lines if line.comment is not None]
                continue
            statement, last_import = pruned, len(body)
        if carried:
            statement = statement.with_changes(leading_lines=[*carried, *statement.leading_lines])
            moved, carried = (len(body), len(carried)), []
        body.append(statement)
    module = module.with_changes(body=body)
    lines, kept = _imports_block(module, names, needs, stream, after, aliases or {})
    at = last_import + 1 if last_import >= 0 else (1 if body and _docstring(body[0]) else 0)
    if lines and moved[0] == at:  # every import was dropped: their comments lead the new imports
        target = body[at]
        lines[0] = lines[0].with_changes(leading_lines=target.leading_lines[:moved[1]])
        body[at] = target.with_changes(leading_lines=target.leading_lines[moved[1]:])
    module = module.with_changes(body=[*body[:at], *lines, *body[at:]])
    flagged = {n for n in kept if names.cog.get(n) in _NO_EQUIVALENT | {n}}
    located = _MetricTodos(flagged, file)  # findings carry the user's line numbers, not ours
    MetadataWrapper(original).visit(located)
    module = MetadataWrapper(module).visit(_MetricTodos(flagged, file))
    return module, located.findings


def _docstring(statement: cst.BaseStatement) -> bool:
    return (isinstance(statement, cst.SimpleStatementLine) and isinstance(statement.body[0], cst.Expr)
            and isinstance(statement.body[0].value, cst.SimpleString))
