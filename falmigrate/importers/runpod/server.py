"""RunPod load-balancing workers: a plain HTTP server (FastAPI, Flask, …) with no handler, which RunPod
reaches directly on ``$PORT`` and health-checks with ``GET /ping`` on ``$PORT_HEALTH``.

On fal they take the image-only route: the image's own server answers (``exposed_port`` +
``health_check``), nothing is rewritten. RunPod sets ``PORT`` (default 80) for the container; fal does
not, so the port is decided here — the endpoint's own ``PORT`` (hub.json/tests.json env), the
Dockerfile's ``ENV PORT``, the default the code reads, ``EXPOSE``, then RunPod's 80 — and pinned with
an ``ENV PORT=…`` appended to the Dockerfile when the file does not set it (a recorded edit).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from falmigrate.dockerfile.edits import append_to_final_stage, edit_decision
from falmigrate.importers.dockerfile.routes import ModuleInfo, health_route, read_module
from falmigrate.importers.runpod.image import PatchedDockerfile
from falmigrate.spec import Decision, Endpoint, Finding, HealthCheck, Location, ServerSpec

RUNPOD_DEFAULT_PORT = 80
HEALTH_PATH = "/ping"
_LOCAL_BIND = re.compile(r"host\s*=\s*[\"'](?:127\.0\.0\.1|localhost)[\"']|--host[= "
                         r"]+(?:127\.0\.0\.1|localhost)\b")


@dataclass
class LoadBalancer:
    module: str  # the server module, relative to the source root
    info: ModuleInfo
    server: ServerSpec
    endpoints: list[Endpoint] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)


def _started_module(patch: PatchedDockerfile, root: Path) -> str | None:
    """The project module the image's CMD/ENTRYPOINT runs (``python app.py``, ``uvicorn app:app``)."""
    started = patch.parsed.effective_argv()
    for word in started[0] if started else []:
        name = word.split(":", 1)[0]
        candidates = ([name] if name.endswith(".py") else [name.replace(".", "/") + ".py"]
                      if ":" in word else [])
        for candidate in candidates:
            base = Path(candidate).name
            for path in sorted((root / patch.context).rglob(base)):
                return path.relative_to(root).as_posix()
    return None


def _is_load_balancer(info: ModuleInfo | None, source: str) -> bool:
    if info is None or info.framework == "unknown":
        return False
    return any(r.path == HEALTH_PATH for r in info.routes) or "PORT_HEALTH" in source


def find_server(root: Path, patch: PatchedDockerfile | None,
                entry: str | None) -> tuple[str, ModuleInfo] | None:
    """(module, what it serves) when the worker is a load-balancing HTTP server; None otherwise."""
    if patch is None:
        return None
    candidates = [entry] if entry else [m for m in [_started_module(patch, root)] if m]
    for rel in candidates:
        info = read_module(root / rel)
        source = (root / rel).read_text(encoding="utf-8", errors="replace")
        if _is_load_balancer(info, source):
            assert info is not None
            return rel, info
    return None


def _port(patch: PatchedDockerfile, info: ModuleInfo, endpoint_env: dict[str, str]) -> tuple[int, str]:
    """(port, what decided it)."""
    env_port = endpoint_env.get("PORT", "")
    if env_port.isdigit():
        return int(env_port), "PORT in the endpoint's environment (.runpod)"
    docker_port = patch.parsed.final.env.get("PORT", "")
    if docker_port.isdigit():
        return int(docker_port), f"ENV PORT in {patch.path}"
    # the code's own launch call, as the Docker importer reads it (pyserver.Launch): its literal port or the
    # default of the PORT it reads; a launch with no port at all listens on its framework's default
    # (uvicorn.run(app) on 8000) whatever RunPod's PORT says
    launch = info.launch
    if launch is not None and launch.port is not None and launch.port.literal is not None:
        if launch.port.env == "PORT" or info.reads_port_env:
            return launch.port.literal, "the default the server reads for PORT"
        return launch.port.literal, "the port the server binds"
    default = launch.default_port() if launch is not None and launch.port is None else None
    if launch is not None and default:
        return default, f"{launch.launcher}'s default port"
    if patch.parsed.final.expose:
        return patch.parsed.final.expose[0], f"EXPOSE in {patch.path}"
    return RUNPOD_DEFAULT_PORT, "RunPod's default PORT (80)"


def load_balancer(root: Path, patch: PatchedDockerfile, module: str, info: ModuleInfo,
                  endpoint_env: dict[str, str]) -> LoadBalancer:
    """The image-only app of a load-balancing worker: its server, port, health path, and the ENV edit."""
    source = (root / module).read_text(encoding="utf-8", errors="replace")
    port, why = _port(patch, info, endpoint_env)
    health = (HEALTH_PATH if any(r.path == HEALTH_PATH for r in info.routes)
              else (health_route(info.routes) or "/"))
    started = patch.parsed.effective_argv()
    server = ServerSpec(command=list(started[0]) if started else ["python3", Path(module).name], port=port,
                        health=HealthCheck(path=health), kind=info.framework)
    lb = LoadBalancer(module=module, info=info, server=server)
    lb.endpoints = [Endpoint(path=r.path, handler=r.handler, method=r.method, is_async=r.is_async,
                             location=Location(file=module, line=r.line)) for r in info.routes]
    lb.decisions.append(Decision(source="RunPod load-balancing worker (HTTP server, GET /ping health check)",
                                 target=f"image-only fal app: the server on port {port} "
                                        f"({why}), health check GET {health}",
                                 location=Location(file=module)))
    pinned = {**patch.parsed.final.env, **endpoint_env}  # the endpoint's environment is appended as ENV too
    missing = [name for name in ("PORT", "PORT_HEALTH")
               if name not in pinned and (name == "PORT" or name in source)]
    if missing:
        line = "ENV " + " ".join(f"{name}={port}" for name in missing)
        edit = append_to_final_stage(patch.parsed, [line],
                                     "RunPod sets PORT/PORT_HEALTH for the container; fal "
                                     "does not, so the image pins the port fal sends traffic "
                                     "and health checks to")
        patch.edits.append(edit)
        patch.decisions.append(edit_decision(patch.path, edit))
    health_port = endpoint_env.get("PORT_HEALTH", "")
    if health_port.isdigit() and int(health_port) != port:
        lb.findings.append(Finding(rule="FM322", severity="warning", location=Location(file=module),
                                   message=f"the health check was on port {health_port} "
                                           f"(PORT_HEALTH), apart from the app's port {port}; fal checks "
                                           "health on the exposed port",
                                   remediation=f"serve GET {health} on port {port} too"))
    if health != HEALTH_PATH:
        lb.findings.append(Finding(rule="FM322", severity="warning", location=Location(file=module),
                                   message=f"no GET {HEALTH_PATH} route found; fal's health "
                                           f"check uses GET {health}",
                                   remediation="check that the health path answers 200 "
                                               "once the model is loaded"))
    if _LOCAL_BIND.search(source):
        lb.findings.append(Finding(rule="FM322", severity="error", location=Location(file=module),
                                   message="the server binds only to localhost; fal's "
                                           "gateway cannot reach it",
                                   remediation="bind 0.0.0.0 (uvicorn.run(app, host=\"0.0.0.0\", …))"))
    return lb
