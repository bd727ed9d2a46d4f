"""Source text for the parts of a Modal→fal rewrite that do not exist in the user's code.

``setup``/``teardown`` that call the user's ``@modal.enter``/``@modal.exit`` methods (or the old
``__enter__``/``__exit__``), ``@fal.endpoint`` wrappers with pydantic input/output models (built by
``render.models``), and — for ``--native`` — the catch-all endpoint that serves an ASGI/WSGI app or a
``web_server`` port through fal. Deploy settings (machine, scaling, secrets, mounts, image) are not
class attributes: they live in pyproject.toml. Helper functions come from ``apptemplates/modal_native.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from falmigrate.importers.modal.legacy import LIFECYCLE_DUNDERS
from falmigrate.importers.modal.plan import AppPlan, Handler, camel
from falmigrate.importers.modal.reader import ModalModule
from falmigrate.importers.modal.signature import Signature, read_signature
from falmigrate.render.models import ModelSource, annotation, model_source, safe_name, unique_name
from falmigrate.spec import InputField, TypeRef

INDENT = "    "
NATIVE_TEMPLATE = "modal_native"


@dataclass
class Generated:
    """What one fal app adds: models before the class, methods in the class, imports and helpers."""

    models: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)  # methods (end of the class body)
    needs: ModelSource = field(default_factory=lambda: ModelSource(code=""))
    helpers: set[str] = field(default_factory=set)  # definitions of apptemplates/modal_native.py it calls


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


def _request(sig: Signature, member_name: str, call_target: str, batched: bool, taken: set[str],
             gen: Generated) -> tuple[str, str]:
    """(the endpoint's parameters, the call of the user's function) — a body model or a generated one."""
    if sig.body_param is not None:
        params = f"self, {sig.body_param}: {_body_annotation(sig, gen.needs)}"
        return params, f"{call_target}({_call_args(sig, 'input', sig.fields, batched)})"
    model_name = unique_name(f"{camel(member_name)}Input", taken)
    fields = sig.fields
    if batched:
        fields = [f.model_copy(update={"type": f.type.item}) if f.type.kind == "list" and f.type.item else f
                  for f in fields]
    ms = model_source(model_name, fields, docstring=f"Request body of {member_name}.")
    gen.models.append(ms.code)
    gen.needs.merge(ms)
    return f"self, input: {model_name}", f"{call_target}({_call_args(sig, 'input', fields, batched)})"


def _response(sig: Signature, member_name: str, call: str, batched: bool, taken: set[str],
              gen: Generated) -> tuple[str, str]:
    """(the return annotation, the returned expression): the result wrapped as ``{"output": …}``."""
    out_name = unique_name(f"{camel(member_name)}Output", taken)
    out_ref = sig.output.item if batched and sig.output.kind == "list" and sig.output.item else sig.output
    if batched and out_ref is sig.output:
        out_ref = TypeRef(kind="any")
    out_type = annotation(out_ref, gen.needs) if not sig.stream else "list[Any]"
    if sig.stream:
        gen.needs.typing_names.add("Any")
    gen.models.append(f"class {out_name}(BaseModel):\n{INDENT}output: {out_type}\n")
    gen.needs.pydantic_names.add("BaseModel")
    return f" -> {out_name}", f"{out_name}(output={call})"


def endpoint_source(mod: ModalModule, plan: AppPlan, handler: Handler, taken: set[str],
                    gen: Generated) -> None:
    """Add the wrapper endpoint (and its models) for one user method/function to ``gen``."""
    member = handler.member
    sig = read_signature(mod, member.node, is_method=handler.is_method)
    batched = "batched" in member.roles
    call_target = f"self.{member.name}" if handler.is_method else member.name
    params, call = _request(sig, member.name, call_target, batched, taken, gen)
    if member.is_async:
        call = f"await {call}" if not sig.stream else f"[item async for item in {call}]"
    elif sig.stream:
        call = f"list({call})"
    if batched:
        call = f"({call})[0]"
    returns, result = "", call
    if member.web_role is None and sig.output_model is None:
        returns, result = _response(sig, member.name, call, batched, taken, gen)
    elif sig.output_model is not None:
        returns = f" -> {sig.output_model}"
    name = f"{member.name}_endpoint" if handler.is_method else member.name
    asyn = "async " if member.is_async else ""
    todo = ""
    if batched:
        todo += f"# TODO(falmigrate FM211): @modal.batched: {member.name} now runs with batches of one\n"
    if sig.stream:
        todo += (f"# TODO(falmigrate FM224): {member.name} streamed its results; they are "
                 "returned as one list\n")
    gen.members.append(
        f'{todo}@fal.endpoint("{handler.path}")\n{asyn}def {name}({params}){returns}:\n'
        f'{INDENT}return {result}\n'
    )


def _hook(name: str, calls: list[tuple[str, bool]]) -> str:
    """``def setup(self)`` (``async`` when any call is async) calling each in order."""
    is_async = any(a for _, a in calls)
    lines = [f"{INDENT}{'await ' if a else ''}{c}\n" for c, a in calls]
    return f"{'async ' if is_async else ''}def {name}(self):\n" + "".join(lines)


def _call(member_name: str, is_async: bool, args: str = "") -> tuple[str, bool]:
    return f"self.{member_name}({args})", is_async


def _enter_calls(plan: AppPlan, members: dict) -> list[tuple[str, bool]]:
    calls = []
    for name in plan.setup:
        member = members[name]
        calls.append(_call(name, member.is_async))
    return calls


def _exit_calls(plan: AppPlan, members: dict) -> list[tuple[str, bool]]:
    # the old __exit__/__aexit__ take the exception triple; on a clean shutdown it is all None
    return [_call(name, members[name].is_async,
                  "None, None, None" if LIFECYCLE_DUNDERS.get(name) == "exit" else "")
            for name in plan.teardown]


def _server_start(plan: AppPlan, gen: Generated) -> list[tuple[str, bool]]:
    server = plan.server
    assert server is not None
    target = f"self.{server.name}" if plan.source_class is not None else server.name
    if plan.kind != "web_server":
        return [(f"self._served_app = {'await ' if server.is_async else ''}{target}()", False)]
    gen.helpers |= {"_falmigrate_wait_for_port", "_falmigrate_children", "_falmigrate_stop"}
    port = plan.server_port or 8000
    timeout = plan.server_startup_timeout or 5.0
    return [("started_before = _falmigrate_children()", False), (f"{target}()", server.is_async),
            (f"_falmigrate_wait_for_port({port}, {timeout!r})", False),
            ("self._server_pids = _falmigrate_children() - started_before", False)]


def lifecycle_source(plan: AppPlan, gen: Generated, native_server: bool) -> None:
    """``setup``/``teardown`` calling the user's enter/exit methods (and, natively, starting a served app)."""
    cls = plan.source_class
    members = {m.name: m for m in cls.members} if cls is not None else {}
    calls = _enter_calls(plan, members)
    if native_server:
        calls += _server_start(plan, gen)
    user_setup = cls is not None and plan.setup == ["setup"] and not native_server
    if calls and not user_setup:
        gen.members.insert(0, _hook("setup", calls))
    exits = _exit_calls(plan, members)
    if native_server and plan.kind == "web_server":
        exits.append(("_falmigrate_stop(self._server_pids)", False))
    if exits and not (plan.teardown == ["teardown"] and not (native_server and plan.kind == "web_server")):
        gen.members.append(_hook("teardown", exits))


def server_source(plan: AppPlan, gen: Generated) -> None:
    """``--native``: the catch-all endpoint that forwards requests to the served ASGI/WSGI app or port."""
    head = ('@fal.endpoint("/{path:path}")\nasync def forward(self, path: str, request: '
            'Request) -> Response:\n')
    if plan.kind == "asgi_app":
        gen.helpers.add("_falmigrate_forward")
        body = (f"{INDENT}return await _falmigrate_forward(request, path, "
                "transport=httpx.ASGITransport(app=self._served_app))\n")
    elif plan.kind == "wsgi_app":
        gen.helpers.add("_falmigrate_forward_wsgi")
        body = (f"{INDENT}body = await request.body()\n"
                f"{INDENT}return await asyncio.to_thread(_falmigrate_forward_wsgi, self._served_app, "
                "request, path, body)\n")
    else:
        gen.helpers.add("_falmigrate_forward")
        port = plan.server_port or 8000
        body = f'{INDENT}return await _falmigrate_forward(request, path, base_url="http://127.0.0.1:{port}")\n'
    gen.members.append(head + body)


def generate_app(mod: ModalModule, plan: AppPlan, taken: set[str], *,
                 native_server: bool = False) -> Generated:
    """The generated parts of one entry-point fal app (``native_server``: a
    server rewritten with --native)."""
    gen = Generated()
    for handler in plan.handlers:
        endpoint_source(mod, plan, handler, taken, gen)
    if native_server and plan.server is not None:
        server_source(plan, gen)
    lifecycle_source(plan, gen, native_server and plan.server is not None)
    return gen


def indent(code: str, prefix: str = INDENT) -> str:
    return "".join(prefix + line if line.strip() else line for line in code.splitlines(keepends=True))
