"""Source text for the parts of a Modal→fal rewrite that do not exist in the user's code.

Class settings, ``setup``/``teardown`` that call the user's ``@modal.enter``/``@modal.exit`` methods,
``@fal.endpoint`` wrappers (with pydantic input/output models built by ``render.models``), and the
glue that serves an ASGI/WSGI app or a ``web_server`` port. The user's own functions stay as written;
wrappers only call them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from falmigrate.importers.modal.build import plan_settings
from falmigrate.importers.modal.knobs import Settings
from falmigrate.importers.modal.plan import AppPlan, Handler, camel
from falmigrate.importers.modal.reader import ModalModule
from falmigrate.importers.modal.signature import Signature, read_signature
from falmigrate.render.models import ModelSource, annotation, model_source, safe_name
from falmigrate.spec import InputField, TypeRef

INDENT = "    "
# fal class attributes written from the app's settings, in this order.
SETTING_ORDER = (
    ("machine_type", "hardware"), ("num_gpus", "hardware"),
    ("keep_alive", "scaling"), ("min_concurrency", "scaling"), ("max_concurrency", "scaling"),
    ("concurrency_buffer", "scaling"), ("concurrency_buffer_perc", "scaling"), ("max_multiplexing", "scaling"),
    ("scaling_delay", "scaling"), ("startup_timeout", "scaling"), ("request_timeout", "scaling"),
    ("skip_retry_conditions", "scaling"),
)
# Module-level helpers the generated apps use, by name; each is emitted once, only when needed.
HELPERS: dict[str, str] = {
    "hop": '''
_HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}
''',
    "response": '''
def _falmigrate_response(upstream: httpx.Response) -> Response:
    headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_HEADERS}
    return Response(content=upstream.content, status_code=upstream.status_code, headers=headers)
''',
    "forward": '''
async def _falmigrate_forward(request: Request, path: str, *, transport=None, base_url: str = "http://app") -> Response:
    """Send the request on to the served app (in-process ASGI app or local server port)."""
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
    async with httpx.AsyncClient(transport=transport, base_url=base_url, timeout=None) as client:
        upstream = await client.request(
            request.method, "/" + path, params=request.query_params, headers=headers, content=await request.body()
        )
    return _falmigrate_response(upstream)
''',
    "wsgi": '''
def _falmigrate_forward_wsgi(wsgi_app, request: Request, path: str, body: bytes) -> Response:
    """Send the request on to an in-process WSGI app."""
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
    with httpx.Client(transport=httpx.WSGITransport(app=wsgi_app), base_url="http://app") as client:
        upstream = client.request(request.method, "/" + path, params=request.query_params, headers=headers, content=body)
    return _falmigrate_response(upstream)
''',
    "wait": '''
def _falmigrate_wait_for_port(port: int, timeout: float) -> None:
    """Wait until a server listens on 127.0.0.1:port (like Modal's web_server startup_timeout)."""
    import socket
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the web server did not start listening on port {port} within {timeout}s")
            time.sleep(0.1)
''',
    "children": '''
def _falmigrate_children() -> set[int]:
    """PIDs of this process's children (Linux /proc): the server processes setup() started."""
    import os

    me, pids = str(os.getpid()), set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[-1].split()
            except OSError:
                continue
            if len(fields) > 1 and fields[1] == me:
                pids.add(int(entry))
    return pids


def _falmigrate_stop(pids: set[int]) -> None:
    """Stop the server processes at teardown."""
    import os
    import signal

    for pid in sorted(pids):
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
''',
}
HELPER_DEPS = {"forward": ("hop", "response"), "wsgi": ("hop", "response"), "response": ("hop",)}


@dataclass
class Generated:
    """What one fal app adds: models before the class, lines in the class, and imports."""

    models: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)  # class attributes (top of the class body)
    members: list[str] = field(default_factory=list)  # methods (end of the class body)
    needs: ModelSource = field(default_factory=lambda: ModelSource(code=""))
    helpers: set[str] = field(default_factory=set)
    typing_any: bool = False


# Every generated app runs in the image the generated Dockerfile (next to fal_app.py) describes.
IMAGE_LINE = 'image = fal.ContainerImage.from_dockerfile(str(_FALMIGRATE_DIR / "Dockerfile"), context_dir=_FALMIGRATE_DIR)'
DIR_LINE = "_FALMIGRATE_DIR = pathlib.Path(__file__).resolve().parent"


def settings_lines(app: dict[str, Any], unnamed_secrets: list[str] | None = None) -> list[str]:
    """Class attributes of one fal app; ``unnamed_secrets``: Modal secrets whose keys the code does not name."""
    lines = [IMAGE_LINE]
    for name, group in SETTING_ORDER:
        value = (app.get(group) or {}).get(name)
        if value is None or (name == "machine_type" and value == "S"):
            continue
        lines.append(f"{name} = {_literal(value)}")
    mounts = sorted({v["fal_path"] for v in app.get("volumes") or []})
    if mounts:  # Modal mounted only the app's volumes; fal mounts exactly these paths of /data
        lines.append(f"data_mounts = {_literal(mounts)}")
    if app.get("secrets") and not unnamed_secrets:
        lines.append(f"secrets = {_literal(sorted(app['secrets']))}")
    elif app.get("secrets"):  # an explicit list would hide the unnamed secrets' keys from the app
        lines.append(f"# secrets = {_literal(sorted(app['secrets']))} + the keys of {', '.join(map(repr, unnamed_secrets))}")
    return lines


def _literal(value: Any) -> str:
    """Python source for a settings value, double-quoted like the rest of the generated code."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return repr(value)


def _call_args(sig: Signature, var: str, fields: list[InputField], batched: bool) -> str:
    if sig.body_param is not None:
        return f"[{sig.body_param}]" if batched else sig.body_param
    wrap = (lambda s: f"[{s}]") if batched else (lambda s: s)
    return ", ".join(f"{f.name}={wrap(f'{var}.{safe_name(f.name)}')}" for f in fields)


def _body_annotation(sig: Signature, needs: ModelSource) -> str:
    if sig.body_type == "dict":
        needs.typing_names.add("Any")
        return "dict[str, Any]"
    return sig.body_type or "dict"


def endpoint_source(mod: ModalModule, plan: AppPlan, handler: Handler, taken: set[str], gen: Generated) -> None:
    """Add the wrapper endpoint (and its models) for one user method/function to ``gen``."""
    member = handler.member
    sig = read_signature(mod, member.node, is_method=handler.is_method)
    web = member.web_role is not None
    batched = "batched" in member.roles
    base = camel(member.name)
    call_target = f"self.{member.name}" if handler.is_method else member.name
    if sig.body_param is not None:
        params = f"self, {sig.body_param}: {_body_annotation(sig, gen.needs)}"
        call = f"{call_target}({_call_args(sig, 'input', sig.fields, batched)})"
    else:
        model_name = _unique(f"{base}Input", taken)
        fields = sig.fields
        if batched:
            fields = [f.model_copy(update={"type": f.type.item}) if f.type.kind == "list" and f.type.item else f for f in fields]
        ms = model_source(model_name, fields, docstring=f"Request body of {member.name}.")
        gen.models.append(ms.code)
        gen.needs.merge(ms)
        params = f"self, input: {model_name}"
        call = f"{call_target}({_call_args(sig, 'input', fields, batched)})"
    if member.is_async:
        call = f"await {call}" if not sig.stream else f"[item async for item in {call}]"
    elif sig.stream:
        call = f"list({call})"
    if batched:
        call = f"({call})[0]"
    returns, result = "", call
    if not web and sig.output_model is None:
        out_name = _unique(f"{base}Output", taken)
        out_ref = sig.output.item if batched and sig.output.kind == "list" and sig.output.item else sig.output
        if batched and out_ref is sig.output:
            out_ref = TypeRef(kind="any")
        out_type = annotation(out_ref, gen.needs) if not sig.stream else "list[Any]"
        if sig.stream:
            gen.needs.typing_names.add("Any")
        gen.models.append(f"class {out_name}(BaseModel):\n{INDENT}output: {out_type}\n")
        gen.needs.pydantic_names.add("BaseModel")
        returns, result = f" -> {out_name}", f"{out_name}(output={call})"
    elif sig.output_model is not None:
        returns = f" -> {sig.output_model}"
    name = f"{member.name}_endpoint" if handler.is_method else member.name
    asyn = "async " if member.is_async else ""
    todo = ""
    if batched:
        todo += f"# TODO(falmigrate FM211): @modal.batched: {member.name} now runs with batches of one\n"
    if sig.stream:
        todo += f"# TODO(falmigrate FM224): {member.name} streamed its results; they are returned as one list\n"
    gen.members.append(
        f'{todo}@fal.endpoint("{handler.path}")\n{asyn}def {name}({params}){returns}:\n{INDENT}return {result}\n'
    )


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}{n}", n + 1
    taken.add(candidate)
    return candidate


def _hook(name: str, calls: list[tuple[str, bool]]) -> str:
    """``def setup(self)`` (``async`` when any call is async) calling each in order."""
    is_async = any(a for _, a in calls)
    lines = [f"{INDENT}{'await ' if a else ''}{c}\n" for c, a in calls]
    return f"{'async ' if is_async else ''}def {name}(self):\n" + "".join(lines)


def lifecycle_source(plan: AppPlan, gen: Generated) -> None:
    """``setup``/``teardown`` calling the user's enter/exit methods (and starting a served app)."""
    cls = plan.source_class
    members = {m.name: m for m in cls.members} if cls is not None else {}
    calls = [(f"self.{n}()", members[n].is_async) for n in plan.setup]
    server = plan.server
    if server is not None:
        target = f"self.{server.name}" if cls is not None else server.name
        if plan.kind == "web_server":
            port = plan.server_port or 8000
            timeout = plan.server_startup_timeout or 5.0
            calls += [("started_before = _falmigrate_children()", False), (f"{target}()", server.is_async),
                      (f"_falmigrate_wait_for_port({port}, {timeout!r})", False),
                      ("self._server_pids = _falmigrate_children() - started_before", False)]
            gen.helpers |= {"wait", "children"}
        else:
            calls.append((f"self._served_app = {'await ' if server.is_async else ''}{target}()", False))
    user_setup = cls is not None and plan.setup == ["setup"] and server is None
    if calls and not user_setup:
        gen.members.insert(0, _hook("setup", calls))
    exits = [(f"self.{n}()", members[n].is_async) for n in plan.teardown]
    if plan.kind == "web_server":
        exits.append(("_falmigrate_stop(self._server_pids)", False))
    if exits and not (plan.teardown == ["teardown"] and plan.kind != "web_server"):
        gen.members.append(_hook("teardown", exits))


def server_source(plan: AppPlan, gen: Generated) -> None:
    """The catch-all endpoint that forwards requests to the served ASGI/WSGI app or port."""
    head = '@fal.endpoint("/{path:path}")\n'
    gen.helpers.add("wsgi" if plan.kind == "wsgi_app" else "forward")
    if plan.kind == "asgi_app":
        body = f"{INDENT}return await _falmigrate_forward(request, path, transport=httpx.ASGITransport(app=self._served_app))\n"
        gen.members.append(head + "async def forward(self, path: str, request: Request) -> Response:\n" + body)
    elif plan.kind == "wsgi_app":
        body = (f"{INDENT}body = await request.body()\n"
                f"{INDENT}return await asyncio.to_thread(_falmigrate_forward_wsgi, self._served_app, request, path, body)\n")
        gen.members.append(head + "async def forward(self, path: str, request: Request) -> Response:\n" + body)
    else:
        port = plan.server_port or 8000
        body = f'{INDENT}return await _falmigrate_forward(request, path, base_url="http://127.0.0.1:{port}")\n'
        gen.members.append(head + "async def forward(self, path: str, request: Request) -> Response:\n" + body)
    gen.members.append(OTHER_METHODS_ROUTE)


# fal endpoints answer POST; the served app's other methods reach the same forwarder (fal's own GET
# /health, registered first, keeps answering health checks).
OTHER_METHODS_ROUTE = f"""def _add_extra_routes(self, app):
{INDENT}super()._add_extra_routes(app)
{INDENT}app.add_api_route(
{INDENT}{INDENT}"/{{path:path}}", self.forward, methods=["GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
{INDENT}{INDENT}include_in_schema=False,
{INDENT})
"""


# Findings about @app.cls/@app.function keywords that leave a TODO line in the class body.
KNOB_TODO_RULES = ("FM202", "FM204", "FM205", "FM207", "FM208", "FM209", "FM212", "FM222", "FM223")


def knob_todos(settings: Settings) -> list[str]:
    """``# TODO(falmigrate FMxxx): …`` lines for the keywords without a fal equivalent."""
    lines = []
    for finding in settings.findings:
        if finding.rule in KNOB_TODO_RULES and finding.severity != "info":
            line = f"# TODO(falmigrate {finding.rule}): {finding.message}"
            if line not in lines:
                lines.append(line)
    return lines


def generate_app(mod: ModalModule, plan: AppPlan, app: dict[str, Any], taken: set[str]) -> Generated:
    gen = Generated()
    settings = plan_settings(mod, plan)
    gen.header = settings_lines(app, settings.secrets_without_keys) + knob_todos(settings)
    for handler in plan.handlers:
        endpoint_source(mod, plan, handler, taken, gen)
    if plan.server is not None:
        server_source(plan, gen)
    lifecycle_source(plan, gen)
    return gen


def indent(code: str, prefix: str = INDENT) -> str:
    return "".join(prefix + line if line.strip() else line for line in code.splitlines(keepends=True))
