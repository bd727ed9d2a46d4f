"""One ``AppPlan`` → the spec parts of one fal app (endpoints, lifecycle, knobs, findings).

``BuiltApp`` is what the primary app puts in the AppSpec's own fields and what every other app puts
in ``spec.more_apps`` (``served``), so both have the same shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from falmigrate.importers.modal import mapping
from falmigrate.importers.modal.knobs import Settings, apply_call
from falmigrate.importers.modal.lifecycle import lifecycle_decisions, lifecycle_findings
from falmigrate.importers.modal.plan import AppPlan, Handler
from falmigrate.importers.modal.reader import Member, ModalModule, NotLiteral
from falmigrate.importers.modal.signature import read_signature
from falmigrate.spec import (
    Decision,
    Endpoint,
    Finding,
    HardwareSpec,
    Lifecycle,
    Location,
    ModalAppDetails,
    ModalCall,
    ModalServer,
    ScalingSpec,
    ServedApp,
    ServerSpec,
    TypeRef,
    VolumeSpec,
)


@dataclass
class BuiltApp:
    class_name: str
    kind: str
    endpoints: list[Endpoint] = field(default_factory=list)
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    scaling: ScalingSpec = field(default_factory=ScalingSpec)
    hardware: HardwareSpec = field(default_factory=HardwareSpec)
    secrets: list[str] = field(default_factory=list)
    volumes: list[VolumeSpec] = field(default_factory=list)
    settings: Settings = field(default_factory=Settings)
    findings: list[Finding] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    runner: ModalAppDetails = field(default_factory=lambda: ModalAppDetails(kind="cls"))
    server: ServerSpec | None = None  # set for ASGI/WSGI/web_server apps (the image-only route)

    def served(self, name: str) -> ServedApp:
        """This app as one fal app of the project, deployed as ``name``."""
        return ServedApp(**self.fields(), name=name)

    def fields(self) -> dict[str, Any]:
        """The ServedApp fields of this app (the name comes from the project)."""
        # A Modal secret whose keys the code does not name: listing only the known keys would hide the
        # others from the app, so `secrets` stays unset (fal then exposes every secret of the team).
        secrets = [] if self.settings.secrets_without_keys else self.secrets
        return {"class_name": self.class_name, "endpoints": self.endpoints, "lifecycle": self.lifecycle,
                "scaling": self.scaling, "hardware": self.hardware, "secrets": secrets,
                "volumes": self.volumes, "server": self.server, "regions": self.settings.regions}


def _loc(mod: ModalModule, line: int) -> Location:
    return Location(file=mod.path, line=line)


def _server_findings(mod: ModalModule, plan: AppPlan, out: list[Finding]) -> None:
    assert plan.server is not None
    name, loc = plan.server.name, _loc(mod, plan.server.line)
    if plan.kind == "web_server":
        if plan.server_port in mapping.FAL_RESERVED_PORTS:
            out.append(Finding(rule="FM229", severity="warning", location=loc,
                               message=f"web_server port {plan.server_port} is also a port "
                                       f"of fal's own runner ({sorted(mapping.FAL_RESERVED_PORTS)}): with "
                                       "--native the two collide",
                               remediation="keep the default image-only route, or make the server "
                                           "listen on another port"))
        if plan.server_port is None:
            out.append(Finding(rule="FM221", severity="error", location=loc,
                               message="web_server port cannot be evaluated statically "
                                       f"({plan.port_problem}); exposed_port is set to 8000",
                               remediation="set exposed_port in pyproject.toml and --port in the "
                                           "Dockerfile's CMD to the port the server listens on"))
        out.append(Finding(rule="FM221", severity="info", location=loc,
                           message=f"web_server {name} (port {plan.server_port}): the image runs "
                                   "the function, which starts the server; fal sends requests "
                                   "straight to that port",
                           remediation="check the server listens on 0.0.0.0 (as Modal also requires)"))
        return
    out.append(Finding(rule="FM220", severity="info", location=loc,
                       message=f"{plan.kind} {name}: the image serves the app as it is (every "
                               "route, method, stream and websocket); `--native` rewrites its routes as "
                               "fal endpoints instead",
                       remediation="nothing to do; the app's own OpenAPI schema stays at its /openapi.json"))


def _docstring(node: cst.FunctionDef) -> str | None:
    doc = node.get_docstring()
    return doc.strip().splitlines()[0] if doc else None


def plan_settings(mod: ModalModule, plan: AppPlan) -> Settings:
    settings = Settings()
    for app_call in mod.apps.values():
        apply_call(mod, app_call, settings)
    for call in plan.calls:
        apply_call(mod, call, settings)
    if plan.kind == "functions" and len(plan.calls) > 1:
        first = Settings()
        apply_call(mod, plan.calls[0], first)
        for call in plan.calls[1:]:
            other = Settings()
            apply_call(mod, call, other)
            if (other.hardware, other.scaling) != (first.hardware, first.scaling):
                settings.findings.append(Finding(
                    rule="FM222", severity="warning", location=_loc(mod, call.line),
                    message="the Modal functions ask for different gpu/scaling settings; one "
                            "fal app holds them all and the last setting wins",
                    remediation="split the functions into several fal.App classes if they "
                                "need different machines"))
                break
    if plan.concurrent is not None:
        _concurrent(mod, plan, settings)
    if plan.server_startup_timeout and "startup_timeout" not in settings.scaling and plan.server is not None:
        # setup() waits that long for the port, so fal's limit on setup() must allow it
        seconds = math.ceil(plan.server_startup_timeout)
        settings.scaling["startup_timeout"] = seconds
        settings.decisions.append(Decision(source=f"@modal.web_server(startup_timeout={plan.server_startup_timeout:g})",
                                           target=f"startup_timeout={seconds}",
                                           location=_loc(mod, plan.server.line)))
    return settings


def _concurrent(mod: ModalModule, plan: AppPlan, settings: Settings) -> None:
    call = plan.concurrent
    assert call is not None
    try:
        max_inputs = mod.literal(call.kw("max_inputs")) if call.kw("max_inputs") is not None else None
        target = mod.literal(call.kw("target_inputs")) if call.kw("target_inputs") is not None else None
    except NotLiteral:
        max_inputs = target = None
    if isinstance(max_inputs, int):
        plan.max_inputs = max_inputs
        settings.scaling["max_multiplexing"] = max_inputs
        settings.decisions.append(Decision(source=f"@modal.concurrent(max_inputs={max_inputs})",
                                           target=f"max_multiplexing={max_inputs}",
                                           location=_loc(mod, call.line)))
    if target is not None:
        settings.findings.append(Finding(
            rule="FM212", severity="info", location=_loc(mod, call.line),
            message=f"@modal.concurrent(target_inputs={target}) has no fal equivalent; "
                    f"max_multiplexing={max_inputs}",
            remediation="tune concurrency_buffer / scaling_delay on fal if the autoscaling target matters"))
    sync = [h.member.name for h in plan.handlers if not h.member.is_async]
    if sync:
        settings.findings.append(Finding(
            rule="FM212", severity="info", location=_loc(mod, call.line),
            message=f"{', '.join(sync)} is synchronous: fal runs concurrent requests of it in a thread pool",
            remediation="make the handler `async def` for cheaper multiplexing, or keep it thread-safe"))


def _handler_findings(mod: ModalModule, handler: Handler, out: list[Finding]) -> None:
    member, loc = handler.member, _loc(mod, handler.member.line)
    if "batched" in member.roles:
        out.append(Finding(rule="FM211", severity="warning", location=loc,
                           message=f"@modal.batched on {member.name}: the fal endpoint calls "
                                   "it with batches of one",
                           remediation="batch requests yourself (e.g. a queue in setup()) "
                                       "if throughput matters"))
    web = member.roles.get("fastapi_endpoint") or member.roles.get("web_endpoint")
    if web is not None:
        try:
            method = str(mod.literal(web.kw("method"))) if web.kw("method") is not None else "GET"
        except NotLiteral:
            method = "GET"
        if method.upper() != "POST":
            out.append(Finding(rule="FM219", severity="info", location=loc,
                               message=f"{member.name} was a {method.upper()} web endpoint; fal endpoints "
                                       "take POST with a JSON body",
                               remediation="send the former query parameters as JSON fields"))
    web_options_findings(mod, member, out)


# Web decorator keywords that only shape Modal's URL/auth/docs, and what a fal app does instead.
WEB_OPTIONS = {
    "docs": "the fal app's FastAPI serves /docs and /openapi.json itself",
    "label": "fal's URL is named after the app (`app_name`, default from the class name), not a label",
    "custom_domains": ("fal serves the app on its own domain; put your domain in front (a "
                       "proxy) if you need it"),
    "requires_proxy_auth": "use `app_auth = \"private\"` on the fal app (callers then need a fal key)",
}


def web_options_findings(mod: ModalModule, member: Member, out: list[Finding]) -> None:
    """FM219 for ``docs=``/``label=``/``custom_domains=``/``requires_proxy_auth=`` on a web decorator."""
    web = member.roles.get(member.web_role or "")
    if web is None:
        return
    for key, what in WEB_OPTIONS.items():
        expr = web.kw(key)
        if expr is None:
            continue
        try:
            value = mod.literal(expr)
        except NotLiteral:
            value = cst.Module([]).code_for_node(expr)
        if value in (None, False, []):
            continue
        out.append(Finding(rule="FM219", severity="info", location=_loc(mod, web.line),
                           message=f"@modal.{member.web_role}({key}={value!r}) on {member.name}: {what}",
                           remediation="nothing to change in the code; check clients that relied on it"))


def call_decision(mod: ModalModule, plan: AppPlan, handler: Handler) -> Decision:
    """How a caller's Modal call becomes a request to the fal endpoint (for MIGRATION.md)."""
    member = handler.member
    sig = read_signature(mod, member.node, is_method=handler.is_method)
    body = (f"the {sig.body_type} fields as the JSON body" if sig.body_param is not None
            else "JSON {" + ", ".join(f'"{f.name}": …' for f in sig.fields) + "}")
    if member.web_role is not None:
        web = member.roles[member.web_role]
        try:
            method = str(mod.literal(web.kw("method"))).upper() if web.kw("method") is not None else "GET"
        except NotLiteral:
            method = "GET"
        source = f"{method} to the Modal URL of {member.name}"
        reply = "the same response body"
    else:
        owner = f"{plan.source_class.name}()." if plan.source_class is not None else ""
        arguments = ", ".join(f"{f.name}=…" for f in sig.fields) or sig.body_param or ""
        source = f"{owner}{member.name}.remote({arguments})"
        reply = "the result" if sig.output_model is not None else '{"output": <the result>}'
    return Decision(source=source, target=f"POST {handler.path} of {plan.class_name} with {body}",
                    note=f"answers {reply}", location=_loc(mod, member.line))


def _call_info(plan: AppPlan, handler: Handler, sig: Any) -> ModalCall:
    """How the verify runner calls this handler the Modal way (``.local()``)."""
    return ModalCall(owner=plan.source_class.name if plan.source_class is not None else None,
                     name=handler.member.name, body_param=sig.body_param, body_type=sig.body_type,
                     batched="batched" in handler.member.roles)


def _endpoint(mod: ModalModule, plan: AppPlan, handler: Handler, out: list[Finding],
              calls: dict[str, ModalCall]) -> Endpoint:
    member = handler.member
    sig = read_signature(mod, member.node, is_method=handler.is_method)
    calls[handler.path] = _call_info(plan, handler, sig)
    out += sig.findings
    _handler_findings(mod, handler, out)
    if sig.stream:
        out.append(Finding(rule="FM224", severity="warning", location=_loc(mod, member.line),
                           message=f"{member.name} yields results; the fal endpoint returns them as one list",
                           remediation="use fal's streaming endpoints if the client needs partial results"))
    return Endpoint(
        path=handler.path,
        handler=f"{plan.class_name}.{member.name}" if handler.is_method else member.name,
        inputs=sig.fields,
        output=sig.output if not sig.stream
        else TypeRef(kind="list", item=sig.output.item if sig.output.kind == "list" else None),
        output_mode="single",
        is_async=member.is_async,
        method="POST",
        description=_docstring(member.node),
        location=_loc(mod, member.line),
    )


def _server_endpoints(mod: ModalModule, plan: AppPlan, out: list[Finding]) -> list[Endpoint]:
    """The routes found in the served app (the report; ``--native`` turns them into fal endpoints)."""
    assert plan.server is not None
    name = plan.server.name
    loc = _loc(mod, plan.server.line)
    web_options_findings(mod, plan.server, out)
    _server_findings(mod, plan, out)
    if plan.kind == "web_server":
        return [Endpoint(path="/", handler=name, location=loc)]
    endpoints = []
    for route in plan.routes:
        sig = read_signature(mod, route.node, is_method=False)
        endpoints.append(Endpoint(path=route.path, handler=f"{name}:{route.node.name.value}",
                                  inputs=sig.fields, output=sig.output, method=route.method,
                                  is_async=route.node.asynchronous is not None,
                                  location=_loc(mod, route.line)))
    return endpoints or [Endpoint(path="/", handler=name, location=loc)]


def build_app(mod: ModalModule, plan: AppPlan) -> BuiltApp:
    settings = plan_settings(mod, plan)
    findings = list(settings.findings)
    calls: dict[str, ModalCall] = {}
    endpoints = [_endpoint(mod, plan, h, findings, calls) for h in plan.handlers]
    settings.decisions += [call_decision(mod, plan, h) for h in plan.handlers]
    server = None
    if plan.server is not None:
        server = ModalServer(owner=plan.source_class.name if plan.source_class is not None else None,
                             name=plan.server.name, port=plan.server_port,
                             startup_timeout=plan.server_startup_timeout)
        endpoints = _server_endpoints(mod, plan, findings) + endpoints
    runner = ModalAppDetails(kind=plan.kind, calls=calls, server=server)
    prefix = f"{plan.class_name}." if plan.source_class is not None else ""
    setup = ([f"{prefix}{n}" for n in plan.setup]
             or ([plan.server.name] if plan.server and plan.source_class is None else []))
    lifecycle = Lifecycle(setup=", ".join(setup) or None,
                          teardown=", ".join(f"{prefix}{n}" for n in plan.teardown) or None)
    lifecycle_findings(mod, plan, findings)
    settings.decisions += lifecycle_decisions(mod, plan)
    return BuiltApp(
        class_name=plan.class_name, kind=plan.kind, endpoints=endpoints, lifecycle=lifecycle,
        scaling=settings.scaling_spec(), hardware=settings.hardware, secrets=settings.secrets,
        volumes=settings.volumes, settings=settings, findings=findings, decisions=settings.decisions,
        runner=runner,
    )
