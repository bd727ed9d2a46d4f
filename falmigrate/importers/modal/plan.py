"""Which fal apps a Modal module becomes, and what each one holds.

One fal app per ``@app.cls`` class; one per ``asgi_app``/``wsgi_app``/``web_server`` function (their
routes are the whole app); one for the remaining ``@app.function``s. The importer turns plans into
the spec, the codemod into code: both call ``plan_module`` so they agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import libcst as cst
from libcst.metadata import ScopeProvider

from falmigrate.importers.modal.legacy import LIFECYCLE_DUNDERS
from falmigrate.importers.modal.reader import Call, Member, ModalClass, ModalModule, NotLiteral
from falmigrate.render.models import unique_name

ENDPOINT_ROLES = ("method", "fastapi_endpoint", "web_endpoint", "batched")
SERVER_ROLES = ("asgi_app", "wsgi_app", "web_server")


@dataclass
class Route:
    """One route of a user's ASGI/WSGI app found statically (``@web_app.post("/x")``)."""

    path: str
    method: str
    node: cst.FunctionDef
    line: int


@dataclass
class Handler:
    member: Member
    path: str
    is_method: bool


@dataclass
class AppPlan:
    class_name: str
    kind: str  # cls | functions | asgi_app | wsgi_app | web_server
    line: int
    calls: list[Call] = field(default_factory=list)  # app_call(s) whose keywords configure this app
    source_class: ModalClass | None = None
    handlers: list[Handler] = field(default_factory=list)
    setup: list[str] = field(default_factory=list)
    teardown: list[str] = field(default_factory=list)
    server: Member | None = None  # the asgi/wsgi/web_server factory
    server_port: int | None = None
    server_startup_timeout: float | None = None
    port_problem: str | None = None  # why the web_server port could not be read
    routes: list[Route] = field(default_factory=list)
    concurrent: Call | None = None
    max_inputs: int | None = None  # @modal.concurrent(max_inputs=...), once the settings are read
    skipped: list[Member] = field(default_factory=list)  # functions not served (schedules)


def camel(name: str) -> str:
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", name) if p]
    out = "".join(p[:1].upper() + p[1:] for p in parts) or "Modal"
    return out if out[0].isalpha() else f"App{out}"


def _app_class_name(name: str) -> str:
    base = camel(name)
    return base if base.endswith("App") else f"{base}App"


def _taken_names(mod: ModalModule) -> set[str]:
    """Every name the module binds at its top level (generated classes must not shadow any)."""
    scope = mod.wrapper.resolve(ScopeProvider)[mod.module]
    return {assignment.name for assignment in scope.assignments}


def _paths(handlers: list[Handler]) -> None:
    if len(handlers) == 1:
        handlers[0].path = "/"


def find_routes(mod: ModalModule, scope: cst.CSTNode) -> list[Route]:
    """``@x.post("/p")`` / ``@x.get`` / ``@x.route("/p", methods=[...])`` decorated functions in scope."""
    routes: list[Route] = []

    class _Finder(cst.CSTVisitor):
        def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
            for dec in node.decorators:
                expr = dec.decorator
                if not (isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute)):
                    continue
                verb = expr.func.attr.value
                if (verb not in ("get", "post", "put", "delete", "patch", "route", "api_route")
                        or not expr.args):
                    continue
                try:
                    path = mod.literal(expr.args[0].value)
                except NotLiteral:
                    continue
                if not isinstance(path, str):
                    continue
                method = verb.upper() if verb not in ("route", "api_route") else "GET"
                methods = Call("", expr, 0).kw("methods")
                if methods is not None:
                    try:
                        method = str(mod.literal(methods)[0]).upper()
                    except (NotLiteral, IndexError):
                        pass
                routes.append(Route(path, method, node, mod.line_of(node)))

    scope.visit(_Finder())
    return routes


def _server_plan(mod: ModalModule, member: Member, name: str, calls: list[Call], is_method: bool) -> AppPlan:
    role = member.web_role or ""
    plan = AppPlan(name, role, member.line, calls=calls, server=member)
    if role == "web_server":
        call = member.roles[role]
        try:
            plan.server_port = int(mod.literal(call.positional(0) or call.kw("port")))
        except (NotLiteral, TypeError, ValueError) as exc:
            plan.server_port = None
            plan.port_problem = getattr(exc, "reason", str(exc))
        timeout = call.kw("startup_timeout")
        try:
            plan.server_startup_timeout = float(mod.literal(timeout)) if timeout is not None else None
        except (NotLiteral, TypeError, ValueError):
            plan.server_startup_timeout = None
    else:
        plan.routes = find_routes(mod, member.node) or find_routes(mod, mod.module)
    return plan


def _class_plan(mod: ModalModule, cls: ModalClass) -> AppPlan:
    plan = AppPlan(cls.name, "cls", cls.line, calls=[cls.app_call], source_class=cls)
    plan.concurrent = cls.class_roles.get("concurrent")
    for member in cls.members:
        hook = LIFECYCLE_DUNDERS.get(member.name)
        if "enter" in member.roles or "build" in member.roles or hook == "enter":
            plan.setup.append(member.name)
        if "exit" in member.roles or hook == "exit":
            plan.teardown.append(member.name)
        if member.web_role in SERVER_ROLES and plan.server is None:
            server = _server_plan(mod, member, cls.name, plan.calls, True)
            plan.kind, plan.server, plan.routes = server.kind, member, server.routes
            plan.server_port, plan.server_startup_timeout = server.server_port, server.server_startup_timeout
        elif any(r in member.roles for r in ENDPOINT_ROLES):
            plan.handlers.append(Handler(member, f"/{member.name}", True))
        if plan.concurrent is None and "concurrent" in member.roles:
            plan.concurrent = member.roles["concurrent"]
    _paths(plan.handlers)
    # Modal ran @build methods while the image built, then (in a container) __enter__, the
    # @enter(snap=True) methods (before its memory snapshot), then the other @enter methods.
    snapped = {m.name for m in cls.with_role("enter") if is_true(mod, m.roles["enter"].kw("snap"))}
    built = {m.name for m in cls.with_role("build")}
    plan.setup.sort(key=lambda name: (name not in built, LIFECYCLE_DUNDERS.get(name) != "enter",
                                      name not in snapped))
    return plan


def is_true(mod: ModalModule, expr: cst.BaseExpression | None) -> bool:
    try:
        return expr is not None and mod.literal(expr) is True
    except NotLiteral:
        return False


def plan_module(mod: ModalModule) -> list[AppPlan]:
    """The fal apps for ``mod``, in source order (the first one is the primary app)."""
    taken = _taken_names(mod)
    plans = [_class_plan(mod, cls) for cls in mod.classes]
    functions: AppPlan | None = None
    app_name = next((_app_name(mod, c) for c in mod.apps.values()), None) or "modal"
    for member in mod.functions:
        if member.web_role in SERVER_ROLES:
            name = unique_name(_app_class_name(member.name), taken)
            plans.append(_server_plan(mod, member, name, [member.app_call] if member.app_call else [], False))
            plans[-1].concurrent = member.roles.get("concurrent")
            continue
        if functions is None:
            functions = AppPlan(unique_name(_app_class_name(app_name), taken), "functions", member.line)
            plans.append(functions)
        if (member.app_call is not None and member.app_call.kw("schedule") is not None
                and member.web_role is None):
            functions.skipped.append(member)
            continue
        functions.calls.append(member.app_call)  # type: ignore[arg-type]
        functions.handlers.append(Handler(member, f"/{member.name}", False))
        if functions.concurrent is None and "concurrent" in member.roles:
            functions.concurrent = member.roles["concurrent"]
    if functions is not None:
        _paths(functions.handlers)
        if not functions.handlers:
            plans.remove(functions)
    # Classes first (they stay where they are in the module; function apps are appended after), so
    # the primary app is also the first fal.App in the generated file.
    plans.sort(key=lambda p: (p.source_class is None, p.line))
    return plans


def _app_name(mod: ModalModule, call: Call) -> str | None:
    expr = call.positional(0) or call.kw("name")
    try:
        value = mod.literal(expr, call.within)
    except NotLiteral:
        return None
    return value if isinstance(value, str) else None


def app_name(mod: ModalModule) -> str | None:
    return next((_app_name(mod, c) for c in mod.apps.values()), None)
