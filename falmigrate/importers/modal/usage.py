"""Which Modal objects of a module become fal configuration, and which Modal uses stay in the code.

Modal *configuration* objects (the App, images, volumes, secrets, mounts, GPU objects, schedules) are
expressed by the Dockerfile and pyproject.toml, so their definitions can leave the module — but only
when every reference to them (found through libcst's ScopeProvider, i.e. by binding, not by name) sits
in code the rewrite removes or replaces: Modal decorators, other removed definitions, ``vol.commit()``,
``with image.imports():``, ``with app.run():``. A definition some user code still reads is kept, and
so is every use of Modal at run time (``modal.Dict``, ``Function.from_name``, ``modal.current_input_id``):
the module then still imports ``modal``, the image installs it, and a finding says where and why.
The importer (image, findings) and the codemod (what to delete) read the same ``Usage``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import libcst as cst
from libcst.metadata import ParentNodeProvider, ScopeProvider

from falmigrate.importers.modal.reader import ModalModule, decorator_call
from falmigrate.spec import Finding, Location

CONFIG_KINDS = frozenset({
    "App", "Stub", "Image", "Volume", "Secret", "Mount", "SharedVolume", "NetworkFileSystem",
    "CloudBucketMount", "gpu", "Cron", "Period", "Retries", "Proxy",
})
RUNTIME_RULE = "FM244"
VOLUME_SYNC = ("commit", "reload")
MODAL_IMPORT = re.compile(r"^\s*(import modal\b|from modal(\.\w+)* import )", re.MULTILINE)


@dataclass
class Definition:
    """A module-level name bound to a Modal configuration object, and the statements that bind it."""

    name: str
    kind: str
    # Assign/AnnAssign statements or ImportAlias nodes
    statements: list[cst.CSTNode] = field(default_factory=list)


@dataclass
class Usage:
    removable: dict[str, Definition] = field(default_factory=dict)
    # name -> (kind, first use that keeps it)
    kept: dict[str, tuple[str, Location]] = field(default_factory=dict)
    runtime: list[tuple[str, Location]] = field(default_factory=list)  # Modal used at run time
    # kept imports of project modules that import modal
    modal_modules: list[tuple[str, Location]] = field(default_factory=list)
    handled: set[int] = field(default_factory=set)  # ids of nodes the rewrite replaces (decorators, syncs…)

    @property
    def needs_modal(self) -> bool:
        return bool(self.runtime or self.kept or self.modal_modules)

    def findings(self) -> list[Finding]:
        out = [Finding(rule=RUNTIME_RULE, severity="error", location=where,
                       message=f"Modal {kind} `{name}` is used by code that stays ({where}), "
                               "so its definition and `import modal` stay in the module",
                       remediation="replace that use with its fal equivalent (see "
                                   "MIGRATION.md), then delete the definition; until then the "
                                   "image installs modal")
               for name, (kind, where) in sorted(self.kept.items())]
        out += [Finding(rule=RUNTIME_RULE, severity="error", location=where,
                        message=f"{what} uses Modal at run time: the code is kept, the image "
                                "installs modal, and the app needs Modal credentials (MODAL_TOKEN_ID / "
                                "MODAL_TOKEN_SECRET as fal secrets)",
                        remediation="replace it with a fal or plain-Python equivalent (a dict in setup(), an "
                                    "external queue or store, a call to another fal app)")
                for what, where in self.runtime]
        out += [Finding(rule=RUNTIME_RULE, severity="warning", location=where,
                        message=f"the converted module imports {what}, which imports modal: the "
                                "image installs modal so that import works (Modal's objects are "
                                "only defined there, nothing contacts Modal)",
                        remediation=f"move what the app needs from {what} into a module without "
                                    "Modal to drop modal from the image")
                for what, where in self.modal_modules]
        return out


def kind_of(origin: str | None) -> str | None:
    """``modal.Volume.from_name`` → "Volume"; ``modal.gpu.A100`` → "gpu"; ``modal.App`` → "App"."""
    if origin is None or not origin.startswith("modal.") or origin.count(".") < 1:
        return None
    return origin.split(".")[1]


def _config_assignments(mod: ModalModule, stmt: cst.BaseStatement) -> list[tuple[str, str]] | None:
    """(name, kind) of each configuration object the statement binds; None when it does anything else.
    An ``if``/``else`` whose branches only bind configuration objects counts (``if GPU: image =
    image...``)."""
    if isinstance(stmt, cst.If):
        parts = [*stmt.body.body, *(_else_body(stmt.orelse))]
        found = [_config_assignments(mod, s) for s in parts]
        return None if not parts or any(f is None for f in found) else [p for f in found for p in f or []]
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return None
    small = stmt.body[0]
    if not isinstance(small, (cst.Assign, cst.AnnAssign)) or small.value is None:
        return None
    targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else [small.target]
    if not all(isinstance(t, cst.Name) for t in targets):
        return None
    kind = kind_of(mod.origin(small.value))
    return [(t.value, kind) for t in targets] if kind in CONFIG_KINDS else None  # type: ignore[union-attr]


def _else_body(orelse: cst.If | cst.Else | None) -> list[cst.BaseStatement]:
    if orelse is None:
        return []
    return [orelse] if isinstance(orelse, cst.If) else list(orelse.body.body)


def _module_definitions(mod: ModalModule) -> dict[str, Definition]:
    found: dict[str, Definition] = {}
    for stmt in mod.module.body:
        for name, kind in _config_assignments(mod, stmt) or []:
            found.setdefault(name, Definition(name, kind)).statements.append(stmt)
        if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
            continue
        small = stmt.body[0]
        if (isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar)
                and not _imports_modal(small)):
            for alias in small.names:
                bound = alias.asname.name if alias.asname else alias.name
                # a fresh node is read once the module has run (the alias's own node: before the import)
                kind = kind_of(mod.origin(cst.Name(bound.value))) if isinstance(bound, cst.Name) else None
                if kind in CONFIG_KINDS and isinstance(bound, cst.Name):
                    found.setdefault(bound.value,
                                     Definition(bound.value, kind or "")).statements.append(alias)
    return found


class _Handled(cst.CSTVisitor):
    """Nodes the rewrite removes or replaces, whatever names they use."""

    def __init__(self, mod: ModalModule, volumes: set[str]) -> None:
        self.mod, self.volumes, self.ids = mod, volumes, set()

    def visit_Decorator(self, node: cst.Decorator) -> None:
        if decorator_call(self.mod, node) is not None:
            self.ids.add(id(node))

    def visit_With(self, node: cst.With) -> None:
        for item in node.items:
            call = item.item
            if (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
                    and call.func.attr.value in ("imports", "run")
                    and kind_of(self.mod.origin(call.func.value)) in ("Image", "App", "Stub")):
                self.ids.add(id(item))

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        if volume_sync(node, self.volumes) is not None:
            self.ids.add(id(node))

    def visit_Call(self, node: cst.Call) -> None:
        if self.mod.dotted(node.func) == "modal.parameter":
            self.ids.add(id(node))


def volume_sync(stmt: cst.SimpleStatementLine, volumes: set[str]) -> str | None:
    """``vol.commit()`` / ``vol.reload()`` on a Modal Volume (a no-op on fal) → its text."""
    if len(stmt.body) != 1 or not isinstance(stmt.body[0], cst.Expr):
        return None
    call = stmt.body[0].value
    if (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
            and call.func.attr.value in VOLUME_SYNC
            and isinstance(call.func.value, cst.Name) and call.func.value.value in volumes):
        return f"{call.func.value.value}.{call.func.attr.value}()"
    return None


def _inside(node: cst.CSTNode, regions: set[int], parents: Any) -> bool:
    current: cst.CSTNode | None = node
    while current is not None:
        if id(current) in regions:
            return True
        current = parents.get(current)
    return False


def analyse(mod: ModalModule) -> Usage:
    """The Usage of ``mod`` (see the module docstring)."""
    wrapper = mod.wrapper
    scopes, parents = wrapper.resolve(ScopeProvider), wrapper.resolve(ParentNodeProvider)
    scope = scopes[mod.module]
    candidates = _module_definitions(mod)
    handler = _Handled(mod, {n for n, d in candidates.items()
                             if d.kind in ("Volume", "SharedVolume", "NetworkFileSystem")})
    mod.module.visit(handler)
    usage = Usage(handled=handler.ids)
    changed = True
    while changed:
        changed = False
        regions = usage.handled | {id(s) for d in candidates.values() for s in d.statements}
        for name, definition in list(candidates.items()):
            blocking = [a.node for assignment in scope.assignments[name] for a in assignment.references
                        if not _inside(a.node, regions, parents)]
            if blocking:
                usage.kept[name] = (definition.kind, mod.location(blocking[0]))
                del candidates[name]
                changed = True
    usage.removable = candidates
    regions = usage.handled | {id(s) for d in candidates.values() for s in d.statements}
    usage.runtime = _runtime_uses(mod, scope, parents, regions, set(usage.kept))
    usage.modal_modules = _modal_modules(mod, scope, parents, regions)
    return usage


def _unused(name: str, scope: Any, parents: Any, regions: set[int]) -> bool:
    """Every reference to the name sits in code the rewrite removes."""
    return all(_inside(a.node, regions, parents) for assignment in scope.assignments[name]
               for a in assignment.references)


def _modal_modules(mod: ModalModule, scope: Any, parents: Any,
                   regions: set[int]) -> list[tuple[str, Location]]:
    """Project modules the converted module still imports that themselves import modal."""
    out = []
    for stmt in mod.module.body:
        for small in stmt.body if isinstance(stmt, cst.SimpleStatementLine) else []:
            if isinstance(small, cst.ImportFrom) and small.module is None and not small.relative:
                continue
            if isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
                bound = [(a.asname.name if a.asname else a.name) for a in small.names]
                if all(isinstance(b, cst.Name) and _unused(b.value, scope, parents, regions) for b in bound):
                    continue
                names = ["." * len(small.relative) + (cst.helpers.get_full_name_for_node(small.module) or "")
                         if small.module is not None else "." * len(small.relative)]
            elif isinstance(small, cst.Import):
                names = [cst.helpers.get_full_name_for_node(a.name) or "" for a in small.names]
            else:
                continue
            for name in names:
                target = _project_module(mod, name)
                if target is not None and MODAL_IMPORT.search(target.module.code):
                    out.append((target.file, mod.location(small)))
    return out


def _project_module(mod: ModalModule, name: str):
    try:
        return mod.ctx.project.sibling(mod.ctx, name) if name.strip(".") else None
    except Exception:  # noqa: BLE001 - an unreadable sibling is not ours to report here
        return None


def _runtime_uses(mod: ModalModule, scope: Any, parents: Any, regions: set[int],
                  kept: set[str]) -> list[tuple[str, Location]]:
    """References to names bound by ``import modal`` / ``from modal import …`` outside removed code."""
    uses: list[tuple[str, Location]] = []
    for assignment in scope.assignments:
        node = getattr(assignment, "node", None)
        if not isinstance(node, (cst.Import, cst.ImportFrom)) or not _imports_modal(node):
            continue
        for access in assignment.references:
            if _inside(access.node, regions, parents) or _in_kept_definition(access.node, parents, mod, kept):
                continue
            top = access.node
            while isinstance(parents.get(top), cst.Attribute) and parents[top].value is top:
                top = parents[top]
            uses.append((f"`{mod.module.code_for_node(top)}`", mod.location(access.node)))
    return sorted(uses, key=lambda u: (u[1].line or 0, u[0]))


def _imports_modal(node: cst.Import | cst.ImportFrom) -> bool:
    if isinstance(node, cst.Import):
        return any((cst.helpers.get_full_name_for_node(a.name) or "").split(".")[0] == "modal"
                   for a in node.names)
    module = cst.helpers.get_full_name_for_node(node.module) if node.module is not None else ""
    return not node.relative and (module or "").split(".")[0] == "modal"


def _in_kept_definition(node: cst.CSTNode, parents: Any, mod: ModalModule, kept: set[str]) -> bool:
    """A reference inside a kept configuration definition is accounted for by that definition's finding."""
    current: cst.CSTNode | None = node
    while current is not None and not isinstance(current, cst.SimpleStatementLine):
        current = parents.get(current)
    if current is None or parents.get(current) is not mod.module:
        return False
    small = current.body[0] if current.body else None
    targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else \
        [small.target] if isinstance(small, cst.AnnAssign) else []
    return any(isinstance(t, cst.Name) and t.value in kept for t in targets)
