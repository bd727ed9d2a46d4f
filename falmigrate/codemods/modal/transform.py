"""The Modal module → fal module rewrite, statement by statement over the module body (libcst).

Rules, in order (ids FM250–FM259; findings share the importer's FM2xx ids):
  FM251 Modal configuration definitions (App, images, volumes, secrets…) whose every use goes with the
  rewrite are dropped, leaving a note (``importers.modal.usage`` decides, by binding); FM252 an
  ``@app.cls`` class served through its entry point → ``fal.App`` subclass (setup/teardown and endpoint
  wrappers; deploy settings live in pyproject.toml, not in the class); a class or function served
  image-only keeps its code without the Modal decorators; FM253 ``@app.function`` kept, a fal.App holds
  its endpoint wrapper; FM254 ``local_entrypoint`` kept as a plain function; FM255 ``with
  image.imports()`` → try/except ImportError; FM256 own ``.remote()/.local()/.map()`` → direct calls
  (``calls``); FM257 volume paths → /data; FM258 imports edited through libcst's import visitors
  (``modal`` leaves only when nothing uses it). User code is never commented out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst
from libcst.codemod.visitors import ImportItem

from falmigrate.codemods.modal.calls import plan_calls
from falmigrate.codemods.modal.cleanup import Cleanup, CleanupState, note_line
from falmigrate.codemods.modal.generate import NATIVE_TEMPLATE, Generated, generate_app, indent
from falmigrate.codemods.modal.imports import edit_imports
from falmigrate.codemods.modal.layout import names_in, parse_members, with_blank
from falmigrate.importers.modal.plan import AppPlan, plan_module
from falmigrate.importers.modal.reader import ModalClass, ModalModule, decorator_call
from falmigrate.importers.modal.usage import analyse
from falmigrate.render.snippets import emit
from falmigrate.spec import Decision, Finding, Location

MAPPED_OBJECTS = {
    "App": "the [tool.fal.apps] tables of pyproject.toml",
    "Stub": "the [tool.fal.apps] tables of pyproject.toml",
    "Image": "the Dockerfile", "Mount": "COPY steps of the Dockerfile",
    "Secret": "`secrets` in pyproject.toml", "Volume": "`data_mounts` (paths under /data) in pyproject.toml",
    "SharedVolume": "`data_mounts` in pyproject.toml", "NetworkFileSystem": "`data_mounts` in pyproject.toml",
    "CloudBucketMount": "`data_mounts` in pyproject.toml",
    "gpu": "machine_type in pyproject.toml", "Cron": "no schedule on fal (FM213)",
    "Period": "no schedule on fal (FM213)",
    "Retries": "fal's own retries (FM205)", "Proxy": "no fal equivalent",
}
VOLUME_KINDS = ("Volume", "SharedVolume", "NetworkFileSystem", "CloudBucketMount")


@dataclass
class RewriteOutput:
    code: str
    findings: list[Finding] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)  # the fal.App classes the module defines


class ModalRewrite:
    def __init__(self, mod: ModalModule, routes: dict[str, str], volume_paths: dict[str, str]) -> None:
        self.mod, self.routes = mod, routes
        self.plans = plan_module(mod)
        self.usage = analyse(mod)
        fal_classes = {p.class_name for p in self.plans if p.source_class is not None and self._entry(p)}
        self.calls = plan_calls(mod, fal_classes)
        removable = self.usage.removable
        self.removed = {id(s) for d in removable.values() for s in d.statements}
        self.state = CleanupState(path=mod.path, handled=self.usage.handled, calls=self.calls,
                                  volumes={n for n, d in removable.items() if d.kind in VOLUME_KINDS},
                                  volume_paths=volume_paths, positions=mod.positions)
        self.taken = {a for a in _top_names(mod.module)} | {p.class_name for p in self.plans}
        self.generated: dict[str, Generated] = {}
        self.dropped: set[str] = set()  # names the removed Modal code read (their imports may go)
        self.findings: list[Finding] = []
        self.decisions: list[Decision] = []
        self._pending: list[cst.EmptyLine] = []
        self._noted: set[str] = set()  # removed names already explained by a note

    def _entry(self, plan: AppPlan) -> bool:
        return self.routes.get(plan.class_name, "entry_point") == "entry_point"

    # -- top level ---------------------------------------------------------------------------
    def run(self) -> RewriteOutput:
        if not self.plans:
            return RewriteOutput(self.mod.module.code)
        for plan in self.plans:
            if self._entry(plan):
                self.generated[plan.class_name] = generate_app(self.mod, plan, self.taken,
                                                               native_server=plan.server is not None)
        body: list[cst.BaseStatement] = []
        for stmt in self.mod.module.body:
            for new in self._statement(stmt):
                body.append(self._with_pending(new))
        extra = self._function_apps()
        if extra:
            extra[0] = self._with_pending(extra[0])
        body += extra
        if self._pending:
            body.append(cst.SimpleStatementLine([cst.Pass()], leading_lines=self._pending))
        module = edit_imports(self.mod.module.with_changes(body=body), self._imports(),
                              self.dropped, self.decisions)
        self._summary()
        return RewriteOutput(module.code, [*self.findings, *self.state.findings, *self.calls.findings],
                             self.decisions, sorted(self.generated))

    def _with_pending(self, stmt: cst.BaseStatement) -> cst.BaseStatement:
        if not self._pending:
            return stmt
        lines, self._pending = self._pending, []
        if isinstance(stmt, (cst.ClassDef, cst.FunctionDef)) and stmt.decorators:
            first = stmt.decorators[0]
            decorators = [first.with_changes(leading_lines=[*lines, *first.leading_lines]),
                          *stmt.decorators[1:]]
            return stmt.with_changes(decorators=decorators)
        return stmt.with_changes(leading_lines=[*lines, *stmt.leading_lines])

    def _summary(self) -> None:
        if self.state.path_rewrites:
            self.decisions.append(Decision(
                source="Modal volume paths " + ", ".join(sorted(self.state.volume_paths)),
                target=", ".join(f"{k} → {v}" for k, v in sorted(self.state.volume_paths.items())),
                note=f"{self.state.path_rewrites} string literal(s) under Modal volume paths rewritten"))
        if self.calls.count:
            self.decisions.append(Decision(source="f.remote(...) / f.local(...) / f.map(...) "
                                                  "of the module's own Modal functions",
                                           target="direct calls of the same functions",
                                           note=f"{self.calls.count} call(s)"))

    def _statement(self, stmt: cst.BaseStatement) -> list[cst.BaseStatement]:
        if isinstance(stmt, cst.If) and id(stmt) in self.removed:  # `if FLAG: image = image.pip_install(...)`
            self._remove(stmt)
            return []
        if isinstance(stmt, cst.SimpleStatementLine):
            return self._simple(stmt)
        if isinstance(stmt, cst.ClassDef):
            cls = next((c for c in self.mod.classes if c.node is stmt), None)
            if cls is not None:
                return self._class(cls)
        if isinstance(stmt, cst.FunctionDef):
            return [self._function(stmt)]
        return list(cst.Module(body=[stmt]).visit(Cleanup(self.state)).body)

    def _simple(self, stmt: cst.SimpleStatementLine) -> list[cst.BaseStatement]:
        if id(stmt) in self.removed:
            self._remove(stmt)
            return []
        small = stmt.body[0] if len(stmt.body) == 1 else None
        if isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
            kept = [a for a in small.names if id(a) not in self.removed]
            if len(kept) != len(small.names):
                gone = [cst.helpers.get_full_name_for_node(a.name) for a in small.names
                        if id(a) in self.removed]
                names = ", ".join(map(str, gone))
                self.decisions.append(Decision(source=f"import of {names} (Modal objects)",
                                               target="removed with their definitions"))
                if not kept:
                    self._pending += list(stmt.leading_lines)
                    return []
                kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
                stmt = stmt.with_changes(body=[small.with_changes(names=kept)])
        return list(cst.Module(body=[stmt]).visit(Cleanup(self.state)).body)

    def _remove(self, stmt: cst.SimpleStatementLine | cst.If) -> None:
        self.dropped |= names_in(stmt)
        names = [d for d in self.usage.removable.values() if any(s is stmt for s in d.statements)]
        label = ", ".join(d.name for d in names)
        kind = names[0].kind if names else ""
        fresh = [d.name for d in names if d.name not in self._noted]
        self._noted.update(fresh)
        notes = [note_line(f"Modal {kind} `{label}` removed; now "
                           f"{MAPPED_OBJECTS.get(kind, 'fal configuration')}")]
        self._pending += [*stmt.leading_lines, *(notes if fresh else [])]

    def _strip(self, node: cst.FunctionDef | cst.ClassDef) -> cst.FunctionDef | cst.ClassDef:
        kept = []
        for dec in node.decorators:
            if decorator_call(self.mod, dec) is None:
                kept.append(dec)
            else:
                self.dropped |= names_in(dec.decorator)
        if kept and len(kept) != len(node.decorators) and node.decorators[0] not in kept:
            kept[0] = kept[0].with_changes(leading_lines=node.decorators[0].leading_lines)
        return node.with_changes(decorators=kept)

    def _function(self, node: cst.FunctionDef) -> cst.BaseStatement:
        member = next((m for m in [*self.mod.functions, *self.mod.entrypoints] if m.node is node), None)
        if member is None:
            return node.visit(Cleanup(self.state))
        new = self._strip(node)
        notes: list[cst.EmptyLine] = []
        if member in self.mod.entrypoints:
            self.findings.append(Finding(
                rule="FM214", severity="info", location=Location(file=self.mod.path, line=member.line),
                message=f"@app.local_entrypoint {node.name.value} is kept as a plain function "
                        "(it drove the app from `modal run`); its own Modal calls are direct calls now",
                remediation="to drive the deployed app, send the requests listed under \"What was "
                            "mapped\" to its endpoints"))
            notes.append(note_line(f"was @app.local_entrypoint: run it with `python -c \"import fal_app; "
                                   f"fal_app.{node.name.value}()\"` or call the fal endpoints"))
        elif (member.app_call is not None and member.app_call.kw("schedule") is not None
              and member.web_role is None):
            notes.append(cst.EmptyLine(comment=cst.Comment(
                f"# TODO(falmigrate FM213): {node.name.value} ran on a Modal schedule; "
                "call it from a scheduler")))
        if notes:
            new = _prefixed(new, notes)
        return new.visit(Cleanup(self.state))

    # -- classes -----------------------------------------------------------------------------
    def _class(self, cls: ModalClass) -> list[cst.BaseStatement]:
        plan = next(p for p in self.plans if p.source_class is cls)
        node = self._strip(cls.node)
        assert isinstance(node, cst.ClassDef)
        body: list[cst.BaseStatement] = []
        for stmt in node.body.body:
            if isinstance(stmt, cst.FunctionDef):
                stmt = self._strip(stmt)
            elif isinstance(stmt, cst.SimpleStatementLine):
                stmt = self._parameter(stmt)
            body.append(stmt.visit(Cleanup(self.state)))
        bases = [b for b in node.bases if not (self.mod.dotted(b.value) or "").endswith("ClsMixin")]
        if not self._entry(plan):
            self.decisions.append(Decision(source=f"@app.cls class {cls.name}",
                                           target=f"class {cls.name} (served "
                                           "image-only from the original module; kept here without Modal)"))
            return [node.with_changes(bases=bases, body=node.body.with_changes(body=body or [_pass()]))]
        gen = self.generated[cls.name]
        for member in gen.members:
            body += with_blank(parse_members(member))
        new = node.with_changes(bases=[cst.Arg(cst.parse_expression("fal.App")), *bases],
                                body=node.body.with_changes(body=body), lpar=cst.LeftParen(),
                                rpar=cst.RightParen())
        self.decisions.append(Decision(source=f"@app.cls class {cls.name}",
                                       target=f"class {cls.name}(fal.App)",
                                       location=Location(file=self.mod.path, line=cls.line)))
        models = parse_members("\n\n".join(gen.models)) if gen.models else []
        return with_blank([*models, new], lines=2)

    def _parameter(self, stmt: cst.SimpleStatementLine) -> cst.SimpleStatementLine:
        body = []
        for small in stmt.body:
            if (isinstance(small, cst.AnnAssign) and isinstance(small.value, cst.Call)
                    and self.mod.dotted(small.value.func) == "modal.parameter"):
                default = next((a.value for a in small.value.args
                                if a.keyword and a.keyword.value == "default"), None)
                small = small.with_changes(value=default or cst.Name("None"))
                note = ("one value per fal app, not per caller" if default is not None else
                        "it had no default (callers passed it to the constructor): set this app's value here")
                stmt = stmt.with_changes(leading_lines=[*stmt.leading_lines,
                                                        cst.EmptyLine(comment=cst.Comment(
                    f"# TODO(falmigrate FM210): was modal.parameter(); {note}"))])
            body.append(small)
        return stmt.with_changes(body=body)

    # -- function apps -----------------------------------------------------------------------
    def _helpers(self) -> set[str]:
        return set().union(*(g.helpers for g in self.generated.values())) if self.generated else set()

    def _function_apps(self) -> list[cst.BaseStatement]:
        out: list[cst.BaseStatement] = []
        helpers = self._helpers()
        if helpers:
            out += with_blank(parse_members(emit(NATIVE_TEMPLATE, helpers).code), lines=2)
        for plan in self.plans:
            if plan.source_class is not None or not self._entry(plan):
                continue
            gen = self.generated[plan.class_name]
            out += with_blank(parse_members("\n\n".join(gen.models)), lines=2) if gen.models else []
            members = "\n".join(indent(m) for m in gen.members) or "    pass\n"
            out += with_blank(parse_members(f"class {plan.class_name}(fal.App):\n{members}"), lines=2)
            served = [h.member.name for h in plan.handlers] + ([plan.server.name] if plan.server else [])
            self.decisions.append(Decision(source=f"Modal {plan.kind} ({', '.join(served)})",
                                           target=f"class {plan.class_name}(fal.App)"))
        return out

    def _imports(self) -> list[ImportItem]:
        items = [ImportItem("fal")] if self.generated else []
        needs = [g.needs for g in self.generated.values()]
        for source, names in (("typing", set().union(set(), *(n.typing_names for n in needs))),
                              ("pydantic", set().union(set(), *(n.pydantic_names for n in needs))),
                              ("fal.toolkit", set().union(set(), *(n.toolkit_names for n in needs)))):
            items += [ImportItem(source, name) for name in sorted(names)]
        if self.calls.itertools:
            items.append(ImportItem("itertools"))
        native = [p for p in self.plans if p.server is not None and self._entry(p)]
        if native:
            items += [ImportItem("fastapi", "Request"), ImportItem("fastapi", "Response"),
                      ImportItem("httpx")]
            items += [ImportItem("asyncio")] if any(p.kind == "wsgi_app" for p in native) else []
        helpers = self._helpers()
        items += emit(NATIVE_TEMPLATE, helpers).imports if helpers else []
        return items


def _top_names(module: cst.Module) -> set[str]:
    names = set()
    for stmt in module.body:
        if isinstance(stmt, (cst.ClassDef, cst.FunctionDef)):
            names.add(stmt.name.value)
        for small in stmt.body if isinstance(stmt, cst.SimpleStatementLine) else []:
            if isinstance(small, cst.Assign):
                names |= {t.target.value for t in small.targets if isinstance(t.target, cst.Name)}
    return names


def _pass() -> cst.SimpleStatementLine:
    return cst.SimpleStatementLine([cst.Pass()])


def _prefixed(node: cst.FunctionDef | cst.ClassDef,
              lines: list[cst.EmptyLine]) -> cst.FunctionDef | cst.ClassDef:
    if node.decorators:
        first = node.decorators[0]
        return node.with_changes(decorators=[first.with_changes(leading_lines=[*first.leading_lines, *lines]),
                                             *node.decorators[1:]])
    return node.with_changes(leading_lines=[*node.leading_lines, *lines])
