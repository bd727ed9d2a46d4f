"""Modal ``@asgi_app`` / ``@wsgi_app`` / ``@web_server`` functions → the ``ServerSpec`` of an image-only app.

The image's CMD runs ``apptemplates/modal_serve.py`` (written next to the Dockerfile), which imports
the user's module unchanged with the ``modal`` package installed and serves the app object with
uvicorn (ASGI) or gunicorn (WSGI) on 0.0.0.0:8000; a ``web_server`` function starts its own server
and keeps its port. ``routes.plan`` picks the image-only route for these apps unless ``--native``.
"""

from __future__ import annotations

import re

from falmigrate.importers.modal.plan import AppPlan
from falmigrate.importers.modal.reader import ModalModule
from falmigrate.importers.modal.runtime import modal_requirement
from falmigrate.importers.modal.signature import read_signature
from falmigrate.spec import Decision, Finding, HealthCheck, Location, ServerSpec

LAUNCHER = "modal_serve"
LAUNCHER_FILE = f"falmigrate_{LAUNCHER}.py"
DEFAULT_PORT = 8000
HEALTH_RULE = "FM243"
KINDS = {"asgi_app": "asgi", "wsgi_app": "wsgi", "web_server": "web_server"}
REQUIREMENTS = {"asgi": ["uvicorn", "websockets"], "wsgi": ["gunicorn"], "web_server": []}
_HEALTH = re.compile(r"^/(health|healthz|healthcheck|health-check|health_check|ping|ready|readyz|livez"
                     r"|status)/?$")


def _health(mod: ModalModule, plan: AppPlan, loc: Location, out: list[Finding]) -> str:
    """A GET route that looks like a health check, else ``/`` (with a finding)."""
    for route in plan.routes:
        needs = [f.name for f in read_signature(mod, route.node, is_method=False).fields if f.required]
        if route.method == "GET" and _HEALTH.match(route.path) and not needs:
            return route.path
    kind = KINDS[plan.kind]
    root = any(r.path == "/" and r.method == "GET" for r in plan.routes)  # the app answers GET / itself
    out.append(Finding(
        rule=HEALTH_RULE, severity="info" if root else "warning", location=loc,
        message=f"{plan.server.name if plan.server else plan.class_name} ({kind}) has no "
                "/health-like GET route; fal's health check calls GET /"
        + ("" if root else ", which the app may not answer with 200"),
        remediation="add a GET /health route that answers 200 when the app is ready, and set "
                    "health_check.path in pyproject.toml to it"))
    return "/"


def server_spec(mod: ModalModule, plan: AppPlan, module: str, paths: list[str], workdir: str,
                out: list[Finding]) -> tuple[ServerSpec, Decision]:
    """The image-only server of one server plan: the launcher command, port, health check, requirements."""
    assert plan.server is not None
    kind = KINDS[plan.kind]
    owner = f"{plan.source_class.name}." if plan.source_class is not None else ""
    target = f"{module}:{owner}{plan.server.name}"
    loc = mod.location(plan.server.node)
    port = plan.server_port if kind == "web_server" and plan.server_port else DEFAULT_PORT
    command = ["python3", f"{workdir.rstrip('/')}/{LAUNCHER_FILE}", kind, target, "--port", str(port)]
    for path in paths:
        command += ["--path", path]
    if kind == "wsgi":
        command += ["--threads", str(max(plan.max_inputs or 1, 1))]
    start = None
    if kind == "web_server" and plan.server_startup_timeout:
        command += ["--startup-timeout", f"{plan.server_startup_timeout:g}"]
        start = int(plan.server_startup_timeout + 0.999)
    health = HealthCheck(path=_health(mod, plan, loc, out), start_period_seconds=start)
    spec = ServerSpec(command=command, port=port, health=health, kind=kind, launcher=LAUNCHER,
                      requirements=[modal_requirement(), *REQUIREMENTS[kind]])
    served = {"asgi": "uvicorn serves the ASGI app", "wsgi": "gunicorn serves the WSGI app",
              "web_server": "the function starts its own server"}[kind]
    decision = Decision(source=f"@modal.{plan.kind} {owner}{plan.server.name}",
                        target=f"the image's CMD: {LAUNCHER_FILE} {kind} {target} on 0.0.0.0:{port}",
                        note=f"{served}; the module is imported unchanged with modal "
                             "installed, enter methods run first as in a Modal container", location=loc)
    return spec, decision
