"""Docker-server importer: a Dockerfile whose CMD/ENTRYPOINT starts an HTTP server → AppSpec.

The spec's ``server`` says what to start (command with a ``{port}`` placeholder, port, health path,
kind); ``image`` keeps the user's build (base, apt/pip installs, other RUN steps, ENV, WORKDIR, extra
COPYs); ``endpoints`` lists the routes found statically in the server's module (FastAPI, Flask,
http.server). Build stages the final stage copies from are kept in ``image.build_stages``.
Static only: the Dockerfile is parsed, the Python code read with ``ast``, nothing is run.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from falmigrate.dockerfile import ParsedDockerfile, parse_dockerfile
from falmigrate.errors import SourceError
from falmigrate.importers.base import ImportRequest
from falmigrate.importers.dockerfile.image import code_dir, image_spec, stage_texts
from falmigrate.importers.dockerfile.routes import ModuleInfo, health_route, openapi_path, read_module
from falmigrate.importers.dockerfile.server import (
    SERVER_IMAGES,
    Recognised,
    image_repository,
    inherited_command,
    port_from_variables,
    recognise,
)
from falmigrate.spec import (
    AppSpec,
    Decision,
    DockerDetails,
    Endpoint,
    Finding,
    HealthCheck,
    Location,
    ServerSpec,
    SourceInfo,
)

__all__ = ["DockerImporter", "find_dockerfile", "parse_dockerfile"]

DOCKERFILE_NAMES = ("Dockerfile", "dockerfile", "Containerfile")
_URL = re.compile(r"https?://[^/\s'\"]+(/[^\s'\"]*)?")
RESERVED_PORTS = {8080: "fal's own app server port", 9090: "fal's metrics port"}
_GENERIC_DIRS = {"input", "src", "app", "code", "project", "repo", "server"}


def find_dockerfile(root: Path) -> Path | None:
    for name in DOCKERFILE_NAMES:
        if (root / name).is_file():
            return root / name
    found = sorted(root.glob("*.Dockerfile")) + sorted(root.glob("Dockerfile.*"))
    return found[0] if found else None


def _names(root: Path, parsed: ParsedDockerfile) -> tuple[str, str]:
    label = None
    for stage in parsed.chain():
        for ins in stage.instructions:
            if ins.instruction == "LABEL":
                m = re.search(r"org\.opencontainers\.image\.title=\"?([^\"\s]+)", ins.value)
                label = m.group(1) if m else label
    folder = root.resolve()
    while folder.name in _GENERIC_DIRS and folder.parent != folder:
        folder = folder.parent
    raw = label or folder.name or "server"
    name = re.sub(r"[^a-z0-9]+", "-", raw.lower()).strip("-") or "server"
    class_name = "".join(p.capitalize() for p in name.split("-") if p) or "Server"
    if class_name[0].isdigit():
        class_name = "App" + class_name
    return name, class_name


def _module(base: Path, rec: Recognised, env: dict[str, str]) -> tuple[str | None, ModuleInfo | None]:
    """The server's Python module (relative to ``base``) and what it contains."""
    options = [rec.app_file] if rec.app_file else []
    if rec.kind == "flask":
        flask_app = env.get("FLASK_APP")
        if flask_app:
            options.append(flask_app.split(":")[0].replace(".", "/").removesuffix("/py") + ".py"
                           if not flask_app.endswith(".py") else flask_app)
        options += ["app.py", "wsgi.py"]
    for option in options:
        if option and (base / option).is_file():
            return option, read_module(base / option)
    return (options[0] if options else None), None


def _health(parsed: ParsedDockerfile, rec: Recognised, info: ModuleInfo | None) -> tuple[str, str]:
    """(health path, where it came from)."""
    for stage in reversed(parsed.chain()):
        if stage.healthcheck is not None:
            m = _URL.search(stage.healthcheck.text)
            if m:
                return (m.group(1) or "/"), f"HEALTHCHECK ({parsed.path}:{stage.healthcheck.line})"
    if info is not None and (path := health_route(info.routes)):
        return path, "a health route in the server's code"
    if rec.kind in ("torchserve", "tgi", "vllm"):
        return {"torchserve": "/ping"}.get(rec.kind, "/health"), f"{rec.kind}'s own health route"
    return "/", "none found"


def _port(parsed: ParsedDockerfile, rec: Recognised, info: ModuleInfo | None, loc: Location) -> tuple[int, list[Finding]]:
    findings: list[Finding] = []
    final = parsed.final
    env_port = final.env.get("PORT")
    port = rec.port
    if port is None and info is not None:
        port = info.port_default
    if port is None and final.expose:
        port = final.expose[0]
    if port is None and env_port and env_port.isdigit():
        port = int(env_port)
    if port is None:
        raise SourceError(f"cannot tell which port the {rec.kind} server listens on", file=loc.file, line=loc.line,
                          hint="add EXPOSE <port> to the Dockerfile or pass the port on the command line")
    if final.expose and port not in final.expose:
        findings.append(Finding(rule="FM406", severity="warning", location=loc,
                                message=f"the server listens on {port} but the Dockerfile EXPOSEs {final.expose}",
                                remediation="the fal app forwards to the port the server really uses"))
    if len(final.expose) > 1:
        findings.append(Finding(rule="FM403", severity="info", location=loc,
                                message=f"several ports are exposed ({final.expose}); only {port} is forwarded"))
    return port, findings


def port_movable(words: list[str], info: ModuleInfo | None) -> bool:
    """Whether the server can be put on another port: ``{port}`` in its command, or it reads $PORT."""
    text = " ".join(words)
    return "{port}" in text or "$PORT" in text or "${PORT" in text or bool(info and info.reads_port_env)


def _avoid_reserved(port: int, movable: bool, loc: Location, findings: list[Finding]) -> int:
    """fal's runtime serves the app on 8080 and metrics on 9090 inside the runner: move the server."""
    if port not in RESERVED_PORTS:
        return port
    new = port + 1
    while new in RESERVED_PORTS:
        new += 1
    findings.append(Finding(
        rule="FM408", severity="info" if movable else "warning", location=loc,
        message=f"port {port} is {RESERVED_PORTS[port]} inside a fal runner; the server is moved to {new}"
                + ("" if movable else " through $PORT"),
        remediation=None if movable else f"make the server listen on $PORT (or on {new})"))
    return new


class DockerImporter:
    platform: ClassVar[str] = "docker"

    def detect(self, root: Path) -> float:
        path = find_dockerfile(root) if root.is_dir() else None
        if path is None:
            return 0.0
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return 0.0
        return 0.5 if re.search(r"^\s*(CMD|ENTRYPOINT)\b", text, re.MULTILINE | re.IGNORECASE) else 0.2

    def load(self, root: Path, request: ImportRequest | None = None) -> AppSpec:
        (request or ImportRequest()).refuse("Docker", "entry", "dockerfile", "context")
        root = Path(root)
        path = find_dockerfile(root)
        if path is None:
            raise SourceError("no Dockerfile found", file=".", hint="the Docker importer needs a Dockerfile at the root")
        parsed = parse_dockerfile(path, root)
        sub = code_dir(parsed, root)
        base = root / sub if sub else root
        effective = parsed.effective_argv()
        inherited = inherited_command(parsed)
        if inherited is not None:
            effective = (inherited, (parsed.command()[1] or parsed.final).line)
        if effective is None:
            raise SourceError("the final stage has no CMD or ENTRYPOINT: nothing says which server to run",
                              file=parsed.path, line=parsed.final.line,
                              hint="add CMD [\"uvicorn\", \"main:app\", \"--host\", \"0.0.0.0\", \"--port\", \"8000\"]"
                                   " (or your server's command) to the Dockerfile")
        loc = Location(file=parsed.path, line=effective[1])
        findings: list[Finding] = []
        rec = recognise(parsed, base)
        if rec is None:
            words = effective[0]
            if not parsed.final.expose:
                raise SourceError(f"unknown server command {' '.join(words)!r} and no EXPOSE port",
                                  file=parsed.path, line=effective[1],
                                  hint="start uvicorn/gunicorn/hypercorn/flask/fastapi/python, or add EXPOSE <port>")
            rec = Recognised("unknown", list(words), parsed.final.expose[0])
            findings.append(Finding(rule="FM401", severity="warning", location=loc,
                                    message=f"unrecognised server command {' '.join(words)!r}; it is run as-is",
                                    remediation=f"make sure it listens on 0.0.0.0:{rec.port}"))
        from_variable = port_from_variables(rec, parsed.final.env)
        if from_variable is not None:
            rec.port = from_variable
        app_file, info = _module(base, rec, parsed.final.env)
        port, port_findings = _port(parsed, rec, info, loc)
        findings += port_findings
        movable = port_movable(rec.words, info)
        source_port = port
        port = _avoid_reserved(port, movable, loc, findings)
        health, health_from = _health(parsed, rec, info)
        if health_from == "none found":
            findings.append(Finding(rule="FM402", severity="info", location=loc,
                                    message="no health route found; setup waits until GET / answers (any status)",
                                    remediation="add a GET /health route or a HEALTHCHECK to the Dockerfile"))
        for note in rec.notes:
            findings.append(Finding(rule="FM404", severity="info", location=loc, message=note))
        spec = self._spec(root, parsed, sub, rec, app_file, info, port, health, health_from, findings, loc,
                          source_port=source_port)
        details = spec.details_as(DockerDetails)
        assert details is not None  # _spec always sets them
        return spec.model_copy(update={"details": details.model_copy(update={"port_movable": movable})})

    def _spec(self, root: Path, parsed: ParsedDockerfile, sub: str, rec: Recognised, app_file: str | None,
              info: ModuleInfo | None, port: int, health: str, health_from: str, findings: list[Finding],
              loc: Location, source_port: int | None = None) -> AppSpec:
        name, class_name = _names(root, parsed)
        image, image_findings = image_spec(parsed, port)
        if image_repository(image.base or "") in SERVER_IMAGES:
            # the base's own ENTRYPOINT would wrap fal's runtime command: reset it (setup() starts the server)
            image = image.model_copy(update={"entrypoint": []})
        rel_app = f"{sub}/{app_file}" if sub and app_file else app_file
        native = None
        if info is not None and info.framework in ("fastapi", "flask") and info.app_names and rel_app:
            native = rel_app.removesuffix(".py").replace("/", ".") + ":" + (rec.app_object or info.app_names[0])
        endpoints = [
            Endpoint(path=openapi_path(r.path), handler=r.handler, method=r.method, is_async=r.is_async,
                     location=Location(file=rel_app or parsed.path, line=r.line))
            for r in (info.routes if info else ())
        ]
        started_by = "ENTRYPOINT" if rec.via or rec.inherited else "CMD"
        decisions = [
            Decision(source=f"{started_by} {' '.join(rec.words)}",
                     target="fal.App.setup() starts it; a catch-all endpoint forwards requests", location=loc,
                     note=f"{{port}} is the port the app gives the server ({port}); the image's own CMD/ENTRYPOINT "
                          "is not used: fal's runtime starts fal_app.py, which starts the server"
                     if "{port}" in " ".join(rec.words) else
                     "the image's own CMD/ENTRYPOINT is not used: fal's runtime starts fal_app.py, which starts "
                     "the server"),
            Decision(source=f"health path {health}", target="setup waits for it before serving",
                     note=f"from {health_from}"),
            Decision(source=f"requests to http://<host>:{source_port or port}/<path> (any method)",
                     target="pass-through app: https://fal.run/<owner>/<app>/<path> (queued: "
                            "https://queue.fal.run/<owner>/<app>/<path>)",
                     note="method, query, headers and body forwarded as sent; status, headers and body come back "
                          f"unchanged; the server listens on 127.0.0.1:{port} inside the runner"),
        ]
        if native:
            decisions.append(Decision(source=f"{info.framework if info else ''} app {native}",
                                      target="with `falmigrate convert --native`: its routes become fal endpoints "
                                             "(no separate server process)",
                                      note="typed request models and fal's playground instead of a pass-through"))
        stages = stage_texts(parsed)
        if stages:
            decisions.append(Decision(source=f"{len(stages)} build stage(s)", target="kept before the final stage"))
        details = DockerDetails(dockerfile=parsed.path, server_dir=sub, framework=info.framework if info else None,
                                via=rec.via)
        if stages:  # Dockerfile text rendered before the final stage
            image = image.model_copy(update={"build_stages": stages})
        return AppSpec(
            name=name, class_name=class_name,
            source=SourceInfo(platform="docker", root=".", entry_file=rel_app, entry_symbol=rec.app_object,
                              files=[parsed.path] + ([rel_app] if rel_app else [])),
            endpoints=endpoints, image=image,
            server=ServerSpec(command=rec.words, port=port, health=HealthCheck(path=health), kind=rec.kind,
                              native_module=native),
            findings=[*findings, *image_findings], decisions=decisions, details=details,
        )
