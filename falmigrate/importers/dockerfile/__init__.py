"""Docker-server importer: a Dockerfile whose CMD/ENTRYPOINT starts an HTTP server → AppSpec.

The user's Dockerfile is the app's image, patched, never regenerated (``ImageSpec.dockerfile``): every
stage, ARG, ENV, comment and line stays, and only the edits that let fal reach the server are made
(``patches``). The spec's ``server`` says what the image runs, on which port (``ports``: the evidence
is a decision) and which path fal's health check probes (``health``); ``routes.plan`` then deploys it
image-only, or, with ``--native``, as the FastAPI/Flask app's routes (``codemods.docker_native``).
Which Dockerfile and build context: ``locate`` (``--entry``/``--dockerfile``/``--context``). GPU needs,
compose services, launcher processes and missing data files: ``evidence``. Static only: the
Dockerfile is parsed (``falmigrate.dockerfile``), Python read with ``ast``, nothing is run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from falmigrate.analysis.gpu import MachineChoice
from falmigrate.dockerfile import ParsedDockerfile, parse_dockerfile, parse_text
from falmigrate.dockerfile.patch import apply_edits
from falmigrate.errors import SourceError
from falmigrate.importers.base import ImportRequest
from falmigrate.importers.dockerfile import evidence
from falmigrate.importers.dockerfile.health import health_check
from falmigrate.importers.dockerfile.layout import code_dir, project_file
from falmigrate.importers.dockerfile.locate import Located, candidates, find_dockerfile, locate
from falmigrate.importers.dockerfile.patches import image_runs, reach_server
from falmigrate.importers.dockerfile.ports import PortInputs, server_port
from falmigrate.importers.dockerfile.routes import ModuleInfo, openapi_path, read_module
from falmigrate.importers.dockerfile.server import Recognised, recognise
from falmigrate.importers.dockerfile.userimage import describe
from falmigrate.spec import (
    AppSpec,
    Decision,
    DockerDetails,
    DockerfileEdit,
    Endpoint,
    Finding,
    HardwareSpec,
    ImageSpec,
    Location,
    ServerSpec,
    SourceInfo,
)

__all__ = ["DockerImporter", "find_dockerfile"]

_TITLE = re.compile(r"org\.opencontainers\.image\.title=\"?([^\"\s]+)")
_GENERIC_DIRS = {"input", "src", "app", "code", "project", "repo", "server", "docker", ".docker", "deploy",
                 "build", "ci", "containers", "dockerfiles"}


@dataclass(frozen=True)
class _Project:
    root: Path
    located: Located
    parsed: ParsedDockerfile

    @property
    def context(self) -> Path:
        return self.root / self.located.context

    def rel(self, path: Path) -> str:
        """A path of the project relative to the source root (what findings and the spec name)."""
        return path.relative_to(self.root).as_posix()


def _names(project: _Project) -> tuple[str, str]:
    label = None
    for stage in project.parsed.chain():
        for ins in stage.instructions:
            found = re.search(_TITLE, ins.value) if ins.instruction == "LABEL" else None
            label = found.group(1) if found else label
    folder = project.located.path.parent.resolve()
    while folder.name in _GENERIC_DIRS and folder.parent != folder:
        folder = folder.parent
    name = re.sub(r"[^a-z0-9]+", "-", (label or folder.name or "server").lower()).strip("-") or "server"
    class_name = "".join(p.capitalize() for p in name.split("-") if p) or "Server"
    return name, ("App" + class_name if class_name[0].isdigit() else class_name)


def _app_names(rec: Recognised, env: dict[str, str]) -> list[str]:
    """The names the server's code file may have (relative to a folder on its import path)."""
    options = [rec.app_file] if rec.app_file else []
    if rec.kind == "flask":
        module = env.get("FLASK_APP", "").split(":")[0]
        options += [module if module.endswith(".py") else module.replace(".", "/") + ".py"] if module else []
        options += ["app.py", "wsgi.py"]
    return options


def image_folders(parsed: ParsedDockerfile, context: Path) -> dict[str, str]:
    """The image's import-path folders (PYTHONPATH entries) the project fills: image path → context folder."""
    found = {}
    for entry in parsed.final.env.get("PYTHONPATH", "").split(":"):
        folder = project_file(parsed, context, entry, folders=True) if entry.startswith("/") else None
        if folder is not None and folder.is_dir():
            found[entry] = folder.relative_to(context).as_posix() or "."
    return found


def _recognised(project: _Project) -> tuple[Recognised, list[Finding]]:
    parsed = project.parsed
    effective = parsed.effective_argv()
    rec = recognise(parsed, project.context)
    if rec is not None:
        return rec, []
    if effective is None or not effective[0]:
        raise SourceError("the final stage has no CMD or ENTRYPOINT: nothing says which server to run",
                          file=parsed.path, line=parsed.final.line,
                          hint='add CMD ["uvicorn", "main:app", "--host", "0.0.0.0", "--port", "8000"] (or '
                               "your server's command) to the Dockerfile")
    words = list(effective[0])
    loc = Location(file=parsed.path, line=effective[1])
    finding = Finding(rule="FM401", severity="warning", location=loc,
                      message=f"unrecognised server command {' '.join(words)!r}; the image runs it as it is",
                      remediation="make sure it listens on 0.0.0.0 on the port fal forwards to "
                                  "(exposed_port)")
    return Recognised("unknown", words, None, launcher=words), [finding]


def _command_location(parsed: ParsedDockerfile) -> Location:
    effective = parsed.effective_argv()
    entry, cmd = parsed.command()
    line = (entry or cmd).line if (entry or cmd) else (effective[1] if effective else parsed.final.line)
    return Location(file=parsed.path, line=line)


def _hands_over(rec: Recognised, parsed: ParsedDockerfile) -> bool:
    """Whether the image's ENTRYPOINT, if it has one, ends by running its arguments (``exec "$@"``): an
    entry-point app's image may keep it; any other ENTRYPOINT would wrap fal's own command."""
    entry, _ = parsed.command()
    if rec.inherited:
        return False
    if entry is None or not entry.argv:
        return True
    return rec.handed_over


def _endpoints(info: ModuleInfo | None, rel_app: str | None, parsed: ParsedDockerfile) -> list[Endpoint]:
    return [Endpoint(path=openapi_path(r.path), handler=r.handler, method=r.method, is_async=r.is_async,
                     location=Location(file=rel_app or parsed.path, line=r.line))
            for r in (info.routes if info else ())]


class DockerImporter:
    platform: ClassVar[str] = "docker"

    def detect(self, root: Path) -> float:
        if not root.is_dir():
            return 0.0
        found = candidates(root)
        top = find_dockerfile(root)
        if top is None:
            return 0.15 if found else 0.0
        try:
            text = top.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return 0.0
        return 0.5 if re.search(r"^\s*(CMD|ENTRYPOINT)\b", text, re.MULTILINE | re.IGNORECASE) else 0.2

    def load(self, root: Path, request: ImportRequest | None = None) -> AppSpec:
        root = Path(root)
        located = locate(root, request or ImportRequest())
        parsed = parse_dockerfile(located.path, root)
        return _Reader(_Project(root, located, parsed)).spec()


class _Reader:
    """One conversion: the server, its port and health, the edits, the evidence → the spec."""

    def __init__(self, project: _Project) -> None:
        self.project = project
        self.parsed = project.parsed
        self.sub = code_dir(self.parsed, project.context)
        self.base = project.context / self.sub
        self.findings: list[Finding] = []
        self.decisions: list[Decision] = list(project.located.decisions)
        self.hands_over = True
        self.port_variable: str | None = None

    def _module(self, rec: Recognised) -> tuple[Path | None, ModuleInfo | None]:
        """The server's code file in the project (found where the image imports it from) and its routes."""
        folders = ["", *image_folders(self.parsed, self.project.context)]
        path = None
        for name in _app_names(rec, self.parsed.final.env):
            found = [project_file(self.parsed, self.project.context, f"{folder}/{name}" if folder else name)
                     for folder in folders]
            path = next((p for p in [*found, self.base / name] if p is not None and p.is_file()), None)
            if path is not None:
                rec.app_file = name
                break
        info = read_module(path) if path is not None and path.suffix == ".py" else None
        return path, info

    def _server(self, rec: Recognised, info: ModuleInfo | None, app_path: Path | None) -> ServerSpec:
        loc = _command_location(self.parsed)
        port = server_port(PortInputs(self.parsed, rec, info, self.project.context, app_path, loc))
        self.port_variable = port.variable or ("PORT" if info is not None and info.reads_port_env else None)
        self.findings += port.findings
        self.decisions.append(Decision(source=f"server port {port.port}", target=f"exposed_port {port.port}",
                                       note=f"from {port.source}", location=port.location))
        app_rel = self.project.rel(app_path) if app_path is not None and app_path.is_file() else None
        health = health_check(self.parsed, rec, info, app_path, loc, app_rel)
        self.findings += health.findings
        self.decisions.append(Decision(source=f"health path {health.check.path}",
                                       target=f"health_check GET {health.check.path}",
                                       note=f"from {health.source}",
                                       location=health.location))
        native = None
        if info is not None and info.framework in ("fastapi", "flask") and info.app_names and app_path:
            module = (rec.app_file or self.project.rel(app_path)).removesuffix(".py").replace("/", ".")
            native = f"{module}:{rec.app_object or info.app_names[0]}"
        return ServerSpec(command=port.words, port=port.port, health=health.check, kind=rec.kind,
                          native_module=native)

    def _patched(self, rec: Recognised, edits: list[DockerfileEdit]) -> tuple[ParsedDockerfile, Recognised]:
        """The Dockerfile as the edits leave it, and its server (what the image will run)."""
        if not edits:
            return self.parsed, rec
        text = apply_edits(self.parsed.text, edits, self.parsed.path)
        patched = parse_text(text, self.parsed.path, check_references=False)
        return patched, recognise(patched, self.project.context) or rec

    def spec(self) -> AppSpec:
        project, parsed = self.project, self.parsed
        rec, self.findings = _recognised(project)
        app_path, info = self._module(rec)
        server = self._server(rec, info, app_path)
        patch = reach_server(parsed, rec, info, server.port)
        if rec.kind == "torchserve":  # the patch may have added --foreground
            server = server.model_copy(update={"command": rec.words})
        self.findings += patch.findings
        where = _command_location(parsed)
        self.findings += [Finding(rule="FM404", severity="info", location=where, message=note)
                          for note in rec.notes]
        self.decisions += [image_runs(*self._patched(rec, patch.edits), server.port), *patch.decisions]
        self.hands_over = _hands_over(rec, parsed)
        image, image_decisions = describe(parsed, project.located, patch.edits, server.port,
                                          reset_entrypoint=not self.hands_over,
                                          import_folders=tuple(image_folders(parsed, project.context)))
        self.decisions += image_decisions
        code = evidence.python_files(self.base, project.root)
        choice = evidence.machine(parsed, project.context, project.root, code)
        workdir = project.context / self.sub
        sides = evidence.side_findings(parsed, rec, project.context, project.root, project.located.rel)
        self.findings += [*choice.findings, *sides,
                          *evidence.missing_files(parsed, project.context, project.root, code, workdir)]
        self.decisions += choice.decisions
        return self._assemble(rec, info, app_path, server, image, choice)

    def _assemble(self, rec: Recognised, info: ModuleInfo | None, app_path: Path | None, server: ServerSpec,
                  image: ImageSpec, choice: MachineChoice) -> AppSpec:
        project = self.project
        name, class_name = _names(project)
        rel_app = project.rel(app_path) if app_path is not None and app_path.is_file() else None
        port_movable = "{port}" in " ".join(server.command) or self.port_variable is not None
        details = DockerDetails(dockerfile=project.located.rel, context=project.located.context,
                                server_dir=self.sub, framework=info.framework if info else None, via=rec.via,
                                port_movable=port_movable, port_variable=self.port_variable,
                                image_paths=image_folders(self.parsed, project.context),
                                entrypoint_hands_over=self.hands_over)
        if server.native_module:
            self.decisions.append(Decision(
                source=f"{details.framework} app {server.native_module}",
                target="with `falmigrate convert --native`: its routes become fal endpoints (entry-point "
                       "route)",
                note="the default deploys the image's own server as it is"))
        return AppSpec(
            name=name, class_name=class_name,
            source=SourceInfo(platform="docker", root=".", entry_file=rel_app, entry_symbol=rec.app_object,
                              files=[project.located.rel] + ([rel_app] if rel_app else [])),
            endpoints=_endpoints(info, rel_app, self.parsed), image=image, server=server,
            hardware=HardwareSpec(machine_type=choice.machine_type, gpu=choice.gpu),
            findings=self.findings, decisions=self.decisions, details=details,
        )
