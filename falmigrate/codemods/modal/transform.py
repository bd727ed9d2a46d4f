"""The Modal module → fal module rewrite, statement by statement over the module body (libcst).

Rules, in order (ids FM250–FM259, findings share the importer's FM2xx ids):
  FM250 drop ``modal`` imports; FM251 drop Modal object definitions (App, images, volumes, secrets)
  leaving a note; FM252 ``@app.cls`` class → ``fal.App`` subclass with settings, setup/teardown and
  endpoint wrappers; FM253 ``@app.function`` keeps the function, a fal.App gets wrappers; FM254
  ``local_entrypoint`` → comment; FM255 ``with image.imports()`` → try/except ImportError; FM256
  leftovers → TODO (see ``cleanup``); FM257 volume paths → /data; FM258 imports added at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from falmigrate.codemods.modal.cleanup import (
    Cleanup,
    CleanupState,
    commented_out,
    imports_try,
    is_imports_with,
    refs,
    todo_lines,
)
from falmigrate.codemods.modal.generate import DIR_LINE, HELPER_DEPS, HELPERS, Generated, generate_app, indent
from falmigrate.codemods.modal.imports import all_refs, bound_names, import_insert_index, prune_imports
from falmigrate.importers.modal.plan import AppPlan, plan_module
from falmigrate.importers.modal.reader import ModalClass, ModalModule, decorator_call
from falmigrate.spec import Decision, Finding, Location

MAPPED_OBJECTS = {
    "App": "the fal.App classes below", "Stub": "the fal.App classes below", "Image": "the Dockerfile",
    "Volume": "paths under /data", "Secret": "fal secrets (environment variables)", "NetworkFileSystem": "paths under /data",
    "CloudBucketMount": "paths under /data", "Cron": "no schedule on fal (FM213)", "Period": "no schedule on fal (FM213)",
    "Retries": "fal's own retries (FM205)", "gpu": "machine_type",
}


@dataclass
class RewriteOutput:
    code: str
    findings: list[Finding] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)


def _parse_members(code: str) -> list[cst.BaseStatement]:
    return list(cst.parse_module(code).body)


def _strip_modal_decorators(mod: ModalModule, node: cst.FunctionDef | cst.ClassDef, dropped: set[str]) -> Any:
    kept = [d for d in node.decorators if decorator_call(mod, d) is None]
    for dec in node.decorators:
        if decorator_call(mod, dec) is not None:
            dropped |= refs(dec.decorator)
    return node.with_changes(decorators=kept)


class ModalRewrite:
    def __init__(self, mod: ModalModule, apps: dict[str, dict[str, Any]], volume_paths: dict[str, str]) -> None:
        self.mod = mod
        self.apps = apps
        self.plans = plan_module(mod)
        self.findings: list[Finding] = []
        self.decisions: list[Decision] = []
        removed = set(mod.modal_aliases) | set(mod.imported) | set(mod.apps)
        self.state = CleanupState(
            removed=removed, functions={m.name for m in mod.functions}, classes={c.name for c in mod.classes},
            volume_paths=volume_paths, path=mod.path, positions=mod.positions)
        self.taken = {s.name.value for s in mod.module.body if isinstance(s, (cst.ClassDef, cst.FunctionDef))}
        self.taken |= set(mod.assignments) | {p.class_name for p in self.plans}
        self.generated: dict[str, Generated] = {}
        self._notes: list[cst.EmptyLine] = []
        self._pending: list[cst.EmptyLine] = []

    # -- top level ---------------------------------------------------------------------------
    def run(self) -> RewriteOutput:
        if not self.mod.modal_aliases and not self.mod.imported:
            return RewriteOutput(self.mod.module.code)
        for plan in self.plans:
            self.generated[plan.class_name] = generate_app(self.mod, plan, self.apps.get(plan.class_name, {}), self.taken)
        body: list[cst.BaseStatement] = []
        for stmt in self.mod.module.body:
            for new in self._statement(stmt):
                if self._pending:
                    new = new.with_changes(leading_lines=[*self._pending, *new.leading_lines])
                    self._pending = []
                body.append(new)
        extra = self._function_apps()
        if self._pending and extra:
            extra[0] = extra[0].with_changes(leading_lines=[*self._pending, *extra[0].leading_lines])
            self._pending = []
        body += extra
        if self._pending:
            body.append(cst.SimpleStatementLine([cst.Pass()], leading_lines=self._pending))
        module = self.mod.module.with_changes(body=body)
        module = self._add_imports(prune_imports(module, self.state.dropped_refs, self.decisions))
        self.findings += self.state.findings
        if self.state.path_rewrites:
            self.decisions.append(Decision(
                source="Modal volume paths " + ", ".join(sorted(self.state.volume_paths)),
                target=", ".join(f"{k} → {v}" for k, v in sorted(self.state.volume_paths.items())),
                note=f"{self.state.path_rewrites} string literal(s) under Modal volume paths rewritten"))
        if self.state.rewrites:
            self.decisions.append(Decision(source="f.remote(...) / f.local(...) / f.map(...)",
                                           target="direct calls of the same function", note=f"{self.state.rewrites} call(s)"))
        return RewriteOutput(module.code, self.findings, self.decisions)

    def _statement(self, stmt: cst.BaseStatement) -> list[cst.BaseStatement]:
        if isinstance(stmt, cst.SimpleStatementLine):
            new = self._simple(stmt)
            return [new] if new is not None else []
        if isinstance(stmt, cst.ClassDef):
            cls = next((c for c in self.mod.classes if c.node is stmt), None)
            if cls is not None:
                return self._class(cls)
            return [stmt.visit(Cleanup(self.state))]
        if isinstance(stmt, cst.FunctionDef):
            new_fn = self._function(stmt)
            return [new_fn] if new_fn is not None else []
        if isinstance(stmt, cst.With) and is_imports_with(stmt, self.state.removed):
            return [imports_try(stmt).visit(Cleanup(self.state))]
        return list(cst.Module(body=[stmt]).visit(Cleanup(self.state)).body)

    def _finding(self, rule: str, message: str, node: cst.CSTNode, severity: str = "warning", remediation: str | None = None) -> None:
        self.findings.append(Finding(rule=rule, severity=severity, message=message, remediation=remediation,  # type: ignore[arg-type]
                                     location=Location(file=self.mod.path, line=self.mod.line_of(node) or None)))

    def _simple(self, stmt: cst.SimpleStatementLine) -> cst.BaseStatement | None:
        kept = []
        for small in stmt.body:
            if isinstance(small, cst.Import):
                names = [a for a in small.names if cst.helpers.get_full_name_for_node(a.name) != "modal"
                         and not (cst.helpers.get_full_name_for_node(a.name) or "").startswith("modal.")]
                if names:
                    kept.append(small.with_changes(names=[n.with_changes(comma=cst.MaybeSentinel.DEFAULT) for n in names]))
                continue
            if isinstance(small, cst.ImportFrom) and small.module is not None:
                source = cst.helpers.get_full_name_for_node(small.module) or ""
                if source == "modal" or source.startswith("modal."):
                    continue
            if isinstance(small, (cst.Assign, cst.AnnAssign)) and small.value is not None and refs(small.value) & self.state.removed:
                self._remove_assignment(small)
                continue
            kept.append(small)
        notes, self._notes = self._notes, []
        if not kept:
            self._pending = [*self._pending, *stmt.leading_lines, *notes]
            return None
        new = stmt if kept == list(stmt.body) and not notes else stmt.with_changes(
            body=kept, leading_lines=[*stmt.leading_lines, *notes])
        new = new.visit(Cleanup(self.state))
        if _is_todo_pass(new):
            self._pending = [*self._pending, *new.leading_lines]
            return None
        return new

    def _remove_assignment(self, small: cst.Assign | cst.AnnAssign) -> None:
        self.state.dropped_refs |= refs(small.value) if small.value is not None else set()
        targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else [small.target]
        names = [t.value for t in targets if isinstance(t, cst.Name)]
        self.state.removed.update(names)
        obj = self._object_kind(small.value)
        for name in names:
            self.state.kinds[name] = obj
        label = ", ".join(names) or "value"
        if obj in MAPPED_OBJECTS:
            note = f"# falmigrate: Modal {obj} `{label}` removed; now {MAPPED_OBJECTS[obj]}"
            self._notes = [*self._notes, cst.EmptyLine(comment=cst.Comment(note))]
            return
        code = cst.Module([]).code_for_node(small)
        message = f"Modal object `{label}` ({'modal.' + obj if obj else 'Modal value'}) has no fal equivalent"
        self._finding("FM215", message, small, remediation="replace it with a fal/Python equivalent by hand")
        self._notes = [*self._notes, *todo_lines("FM215", message, code)]

    def _object_kind(self, expr: cst.BaseExpression | None) -> str:
        """"Image", "Volume", "App"… for a Modal object expression (following removed names)."""
        while isinstance(expr, (cst.Call, cst.Attribute, cst.Subscript)):
            dotted = self.mod.dotted(expr) if isinstance(expr, cst.Attribute) else None
            if dotted is not None and dotted.startswith("modal.") and dotted.count(".") == 1:
                return dotted.split(".")[1]
            expr = expr.func if isinstance(expr, cst.Call) else expr.value
        if isinstance(expr, cst.Name):
            if expr.value in self.state.kinds:
                return self.state.kinds[expr.value]
            dotted = self.mod.dotted(expr) or ""
            if dotted.startswith("modal."):
                return dotted.split(".")[1]
        return ""

    def _function(self, node: cst.FunctionDef) -> cst.BaseStatement | None:
        if any(m.node is node for m in self.mod.entrypoints):
            msg = f"@app.local_entrypoint {node.name.value} drove the app from the CLI; call the fal endpoint instead"
            primary = self.plans[0].class_name if self.plans else "<Class>"
            self._finding("FM214", msg, node, remediation=(
                f"instead of `modal run {self.mod.path}`: `fal run fal_app.py::{primary}` serves the app, then send "
                "the calls this function made as HTTP POSTs (see \"What was mapped\" for each call's request)"))
            self.state.dropped_refs |= all_refs(node)
            self._pending = [*self._pending, *commented_out(node, "FM214", msg).leading_lines]
            return None
        member = next((m for m in self.mod.functions if m.node is node), None)
        if member is not None:
            scheduled = member.app_call is not None and member.app_call.kw("schedule") is not None and member.web_role is None
            node = _strip_modal_decorators(self.mod, node, self.state.dropped_refs)
            if scheduled:
                note = cst.EmptyLine(comment=cst.Comment(
                    f"# TODO(falmigrate FM213): {node.name.value} ran on a Modal schedule; call it from a scheduler"))
                node = node.with_changes(leading_lines=[*node.leading_lines, note])
        return node.visit(Cleanup(self.state))

    # -- classes -----------------------------------------------------------------------------
    def _class(self, cls: ModalClass) -> list[cst.BaseStatement]:
        gen = self.generated[cls.name]
        node = _strip_modal_decorators(self.mod, cls.node, self.state.dropped_refs)
        body: list[cst.BaseStatement] = []
        statements = list(node.body.body)
        if statements and _is_docstring(statements[0]):
            body.append(statements.pop(0))
        settings = [line for line in gen.header if not line.startswith("#")]
        comments = [cst.EmptyLine(comment=cst.Comment(line)) for line in gen.header if line.startswith("#")]
        header = _parse_members("\n".join(settings) + "\n") if settings else []
        if comments and not header and statements:
            statements[0] = statements[0].with_changes(leading_lines=[*comments, *statements[0].leading_lines])
        elif comments and header:
            header[0] = header[0].with_changes(leading_lines=[*header[0].leading_lines, *comments])
        body += header
        if header and statements and not any(line.comment is None for line in statements[0].leading_lines[:1]):
            statements[0] = statements[0].with_changes(leading_lines=[cst.EmptyLine(indent=False), *statements[0].leading_lines])
        for stmt in statements:
            if isinstance(stmt, cst.FunctionDef):
                stmt = _strip_modal_decorators(self.mod, stmt, self.state.dropped_refs)
            elif isinstance(stmt, cst.SimpleStatementLine):
                stmt = self._parameter(stmt)
            body.append(stmt.visit(Cleanup(self.state)))
        for member in gen.members:
            body += _with_blank(_parse_members(member))
        bases = [cst.Arg(cst.parse_expression("fal.App")), *node.bases]
        new = node.with_changes(bases=bases, body=node.body.with_changes(body=body),
                                lpar=cst.LeftParen(), rpar=cst.RightParen())
        self.decisions.append(Decision(source=f"@app.cls class {cls.name}", target=f"class {cls.name}(fal.App)",
                                       location=Location(file=self.mod.path, line=cls.line)))
        models = _parse_members("\n\n".join(gen.models)) if gen.models else []
        return _with_blank([*models, new], lines=2)

    def _parameter(self, stmt: cst.SimpleStatementLine) -> cst.SimpleStatementLine:
        body = []
        for small in stmt.body:
            if isinstance(small, cst.AnnAssign) and isinstance(small.value, cst.Call) and self.mod.dotted(small.value.func) == "modal.parameter":
                default = next((a.value for a in small.value.args if a.keyword and a.keyword.value == "default"), None)
                small = small.with_changes(value=default or cst.Name("None"))
                note = ("one value per fal app, not per caller" if default is not None else
                        "it had no default (callers passed it to the constructor): set this app's value here")
                stmt = stmt.with_changes(leading_lines=[*stmt.leading_lines, cst.EmptyLine(comment=cst.Comment(
                    f"# TODO(falmigrate FM210): was modal.parameter(); {note}"))])
            body.append(small)
        return stmt.with_changes(body=body)

    # -- function apps -----------------------------------------------------------------------
    def _function_apps(self) -> list[cst.BaseStatement]:
        out: list[cst.BaseStatement] = []
        helpers = self._helpers()
        if helpers:
            code = "\n\n\n".join(HELPERS[name].strip() for name in HELPERS if name in helpers)
            out += _with_blank(_parse_members(code + "\n"), lines=2)
        for plan in self.plans:
            if plan.source_class is not None:
                continue
            gen = self.generated[plan.class_name]
            out += _with_blank(_parse_members("\n\n".join(gen.models)), lines=2) if gen.models else []
            out += _with_blank(_parse_members(_app_class(plan, gen)), lines=2)
            served = [h.member.name for h in plan.handlers] + ([plan.server.name] if plan.server else [])
            self.decisions.append(Decision(source=f"Modal {plan.kind} ({', '.join(served)})",
                                           target=f"class {plan.class_name}(fal.App)"))
        return out

    def _helpers(self) -> set[str]:
        names = set().union(*(g.helpers for g in self.generated.values())) if self.generated else set()
        for name in list(names):
            names.update(HELPER_DEPS.get(name, ()))
        return names

    # -- imports -----------------------------------------------------------------------------
    def _add_imports(self, module: cst.Module) -> cst.Module:
        bound = bound_names(module)
        lines = []
        if "fal" not in bound:
            lines.append("import fal")
        if "pathlib" not in bound:
            lines.append("import pathlib")
        needs = [g.needs for g in self.generated.values()]
        groups = {
            "typing": set().union(*(n.typing_names for n in needs)),
            "pydantic": set().union(*(n.pydantic_names for n in needs)),
            "fal.toolkit": set().union(*(n.toolkit_names for n in needs)),
        }
        helpers = self._helpers()
        if helpers & {"forward", "wsgi"}:
            groups["fastapi"] = {"Request", "Response"}
            for mod_name in ("asyncio", "httpx"):
                if mod_name not in bound and (mod_name == "httpx" or "wsgi" in helpers):
                    lines.append(f"import {mod_name}")
        for source, names in groups.items():
            missing = sorted(names - bound)
            if missing:
                lines.append(f"from {source} import {', '.join(missing)}")
        new = _parse_members("\n".join(lines) + "\n") if lines else []
        new += _with_blank(_parse_members(DIR_LINE + "\n"))
        index = import_insert_index(module)
        return module.with_changes(body=[*module.body[:index], *new, *module.body[index:]])






def _app_class(plan: AppPlan, gen: Generated) -> str:
    lines = [f"class {plan.class_name}(fal.App):"]
    lines += [f"    {h}" for h in gen.header]
    members = [indent(m) for m in gen.members]
    if gen.header and members:
        lines.append("")
    return "\n".join(lines) + "\n" + "\n".join(members)


def _root_name(expr: cst.BaseExpression | None) -> cst.BaseExpression | None:
    while isinstance(expr, (cst.Call, cst.Attribute, cst.Subscript)):
        if isinstance(expr, cst.Call):
            expr = expr.func
        elif isinstance(expr, cst.Attribute):
            if isinstance(expr.value, cst.Name):
                return expr
            expr = expr.value
        else:
            expr = expr.value
    return expr


def _is_todo_pass(stmt: cst.BaseStatement) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Pass)
            and any(line.comment is not None and "TODO(falmigrate" in line.comment.value for line in stmt.leading_lines))


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Expr)
            and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))


def _with_blank(stmts: list[cst.BaseStatement], lines: int = 1) -> list[cst.BaseStatement]:
    """Each def/class (and the first statement) preceded by exactly ``lines`` blank lines."""
    out = []
    for i, stmt in enumerate(stmts):
        if i == 0 or isinstance(stmt, (cst.ClassDef, cst.FunctionDef)):
            out.append(_spaced(stmt, lines))
        else:
            out.append(stmt)
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



