"""The port the image's server really listens on, from the strongest evidence there is.

fal forwards requests to ``exposed_port``; a wrong guess is an app that never becomes healthy. The
evidence, strongest first: the server's config (TorchServe's ``inference_address``, gunicorn's
``bind`` in its config file or ``GUNICORN_CMD_ARGS``); the command line (``--port 8001``, a port
variable valued by the image's ENV) — for ``python app.py --port N`` only when the module reads that
flag; the code's launch call (``demo.launch(server_port=…)``, ``uvicorn.run(port=…)``,
``int(os.environ.get("PORT", "9000"))`` with the image's ENV); the launcher's or framework's own
default (uvicorn 8000, Flask 5000, TorchServe's inference API 8080 — not its management API 8081 —,
Gradio and Hugging Face Spaces 7860, LitServe 8000); a Spaces README's ``app_port``; ``EXPOSE``;
``ENV PORT``. The choice is a decision naming its evidence; none at all is a ``SourceError``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from falmigrate.dockerfile import ParsedDockerfile
from falmigrate.errors import SourceError
from falmigrate.importers.dockerfile.layout import project_file
from falmigrate.importers.dockerfile.pyserver import FRAMEWORK_DEFAULTS
from falmigrate.importers.dockerfile.routes import ModuleInfo
from falmigrate.importers.dockerfile.server import (
    BIND_FLAGS,
    PORT_FLAGS,
    Recognised,
    flag,
    port_from_variables,
    take_port,
)
from falmigrate.spec import Finding, Location

SPACES_PORT = 7860  # Hugging Face Spaces' default app_port for Docker Spaces
TORCHSERVE_MANAGEMENT = 8081
IGNORED_FLAG_RULE = "FM410"
_LAUNCHER_ENV = {"uvicorn": "UVICORN_PORT", "flask": "FLASK_RUN_PORT"}
_JS_PORT = re.compile(r"process\.env\.([A-Z_]*PORT)\s*(?:\|\||\?\?)\s*['\"]?(\d{2,5})"  # PORT || 3000
                      r"|\.listen\(\s*(\d{2,5})\b")


@dataclass(frozen=True)
class Evidence:
    port: int
    source: str  # what says so, for the decision
    location: Location | None = None
    variable: str | None = None  # the environment variable the server takes the port from


@dataclass
class PortChoice:
    port: int
    source: str
    location: Location | None
    words: list[str]  # the command with the port marked as {port} where the command sets it
    variable: str | None = None  # the environment variable that moves the server to another port
    findings: list[Finding] = field(default_factory=list)


@dataclass(frozen=True)
class PortInputs:
    parsed: ParsedDockerfile
    rec: Recognised
    info: ModuleInfo | None
    context: Path  # the build context
    app_path: Path | None  # the server's own code file, when there is one
    command: Location  # the CMD/ENTRYPOINT line


def _digits(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _env_port(inputs: PortInputs, name: str | None) -> Evidence | None:
    value = _digits(inputs.parsed.final.env.get(name or "")) if name else None
    return Evidence(value, f"ENV {name}={value} in the image", None, name) if value else None


def _gunicorn_config(inputs: PortInputs) -> Evidence | None:
    rec = inputs.rec
    if flag(rec.launcher, BIND_FLAGS["gunicorn"]) is not None:
        return None
    args = inputs.parsed.final.env.get("GUNICORN_CMD_ARGS", "")
    if m := re.search(r"(?:--bind[= ]|-b\s*)['\"]?[\w.\[\]:]*:(\d+)", args):
        return Evidence(int(m.group(1)), "--bind in ENV GUNICORN_CMD_ARGS")
    hit = flag(rec.launcher, ("-c", "--config"))
    name = (hit[1] if hit else "gunicorn.conf.py").removeprefix("file:")
    path = None if name.startswith("python:") else project_file(inputs.parsed, inputs.context, name)
    try:
        tree = ast.parse(path.read_text(encoding="utf-8")) if path else None
    except (SyntaxError, UnicodeDecodeError):
        tree = None
    for node in tree.body if tree else []:
        targets = node.targets if isinstance(node, ast.Assign) else []
        names = [t.id for t in targets if isinstance(t, ast.Name)]
        if "bind" in names:
            listed = isinstance(node.value, (ast.List, ast.Tuple)) and node.value.elts
            value = node.value.elts[0] if listed else node.value  # type: ignore[attr-defined]
            if isinstance(value, ast.Constant) and (port := _digits(str(value.value).rpartition(":")[2])):
                where = Location(file=path.relative_to(inputs.context).as_posix(), line=node.lineno)  # type: ignore[union-attr]
                return Evidence(port, f"bind in gunicorn's config {where}", where)
    return None


def _torchserve_config(inputs: PortInputs) -> Evidence | None:
    hit = flag(inputs.rec.words, ("--ts-config",))
    path = project_file(inputs.parsed, inputs.context, hit[1]) if hit else None
    if path is None:
        return None
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if m := re.match(r"^\s*inference_address\s*=\s*https?://[^\s/]*:(\d+)", line):
            where = Location(file=path.relative_to(inputs.context).as_posix(), line=number)
            return Evidence(int(m.group(1)), f"TorchServe's inference_address in {where} (its management API "
                                             f"on {TORCHSERVE_MANAGEMENT} is not exposed)", where)
    return None


def _from_config(inputs: PortInputs) -> Evidence | None:
    if inputs.rec.kind == "gunicorn":
        return _gunicorn_config(inputs)
    if inputs.rec.kind == "torchserve":
        return _torchserve_config(inputs)
    return None


def _from_command(inputs: PortInputs) -> Evidence | None:
    rec = inputs.rec
    found = port_from_variables(rec, inputs.parsed.final.env)
    if found is not None:
        value, name = found
        return Evidence(value, "the command's port variable, valued by the image's ENV", inputs.command, name)
    if rec.port_flag and rec.port is not None:
        return Evidence(rec.port, f"the {rec.kind} command line", inputs.command)
    reads_flag = inputs.info is not None and inputs.info.reads_port_flag
    hit = flag(rec.launcher, PORT_FLAGS["python"]) if rec.kind == "python" and reads_flag else None
    if hit is not None and _digits(hit[1]):
        return Evidence(int(hit[1]), f"the command line's {rec.launcher[hit[0] - 1]} flag, which "
                                         f"{rec.app_file} reads", inputs.command)
    return _env_port(inputs, _LAUNCHER_ENV.get(rec.kind))


def _from_code(inputs: PortInputs) -> Evidence | None:
    launch = inputs.info.launch if inputs.info is not None else None
    if launch is None:
        return None
    where = Location(file=_relative(inputs, inputs.app_path), line=launch.line)
    value = launch.port
    variable = value.env if value is not None else None
    if variable and (env := _env_port(inputs, variable)):
        return Evidence(env.port, f"{variable} from the image's ENV, read at {where}", where, variable)
    if value is not None and value.literal is not None:
        return Evidence(value.literal, f"the port in the code ({where})", where, variable)
    default, _, port_env, _ = FRAMEWORK_DEFAULTS[launch.launcher]
    if port_env and (env := _env_port(inputs, port_env)):
        return env
    return Evidence(default, f"{launch.launcher}'s default port (launched at {where})", where, port_env) \
        if default else None


def _from_script(inputs: PortInputs) -> Evidence | None:
    """A non-Python server's port: ``process.env.PORT || 3000`` or ``.listen(3000)`` in its script."""
    path = inputs.app_path
    if inputs.rec.kind != "node" or path is None or not path.is_file():
        return None
    text = path.read_text(encoding="utf-8", errors="replace")
    match = _JS_PORT.search(text)
    if match is None:
        return None
    where = Location(file=_relative(inputs, path), line=text.count("\n", 0, match.start()) + 1)
    variable = match.group(1)
    if variable and (env := _env_port(inputs, variable)):
        return Evidence(env.port, f"{variable} from the image's ENV, read at {where}", where, variable)
    return Evidence(int(match.group(2) or match.group(3)), f"the port in the code ({where})", where, variable)


def _from_default(inputs: PortInputs) -> Evidence | None:
    rec = inputs.rec
    if rec.kind in ("python", "node", "unknown") or rec.port is None:
        return None
    note = (f" (TorchServe's inference API; its management API on {TORCHSERVE_MANAGEMENT} is not exposed)"
            if rec.kind == "torchserve" else "")
    return Evidence(rec.port, f"{rec.kind}'s default port{note}", inputs.command)


def spaces_port(context: Path) -> Evidence | None:
    """A Hugging Face Docker Space's ``app_port`` (README.md front matter; 7860 when it names none)."""
    readme = context / "README.md"
    text = readme.read_text(encoding="utf-8", errors="replace") if readme.is_file() else ""
    match = re.match(r"^---\s*\n(.*?)\n---\s*\n", text, re.DOTALL)
    try:
        meta = yaml.safe_load(match.group(1)) if match else None
    except yaml.YAMLError:
        meta = None
    if not isinstance(meta, dict) or meta.get("sdk") != "docker":
        return None
    port = meta.get("app_port", SPACES_PORT)
    where = Location(file="README.md", line=2)
    if not str(port).isdigit():
        return None
    return Evidence(int(port), f"the Hugging Face Space's app_port (README.md, default {SPACES_PORT})", where)


def _from_image(inputs: PortInputs) -> Evidence | None:
    final = inputs.parsed.final
    if final.expose:
        return Evidence(final.expose[0], "EXPOSE in the Dockerfile", None)
    return _env_port(inputs, "PORT")


def _relative(inputs: PortInputs, path: Path | None) -> str:
    if path is None:
        return inputs.parsed.path
    return path.relative_to(inputs.context).as_posix() if path.is_relative_to(inputs.context) else path.name


def _ignored_flag(inputs: PortInputs, port: int) -> list[Finding]:
    rec = inputs.rec
    hit = flag(rec.launcher, PORT_FLAGS["python"]) if rec.kind == "python" else None
    read = inputs.info is not None and inputs.info.reads_port_flag
    if hit is None or not _digits(hit[1]) or int(hit[1]) == port or read:
        return []
    return [Finding(rule=IGNORED_FLAG_RULE, severity="warning", location=inputs.command,
                    message=f"the command passes {rec.launcher[hit[0] - 1]} {hit[1]}, but {rec.app_file} "
                            f"never reads its command line: the server listens on {port}",
                    remediation=f"drop the flag, or make the server read it; fal forwards to {port}")]


def _expose_findings(inputs: PortInputs, port: int) -> list[Finding]:
    expose = inputs.parsed.final.expose
    out = []
    if expose and port not in expose:
        out.append(Finding(rule="FM406", severity="warning", location=inputs.command,
                           message=f"the server listens on {port} but the Dockerfile EXPOSEs {expose}",
                           remediation=f"fal forwards to {port}, the port the server really uses; fix "
                                       "EXPOSE"))
    if len(expose) > 1:
        out.append(Finding(rule="FM403", severity="info", location=inputs.command,
                           message=f"several ports are exposed ({expose}); only {port} is forwarded"))
    return out


def server_port(inputs: PortInputs) -> PortChoice:
    """The server's port and its evidence; a ``SourceError`` at the command's line when there is none."""
    finders = (_from_config, _from_command, _from_code, _from_script, _from_default,
               lambda i: spaces_port(i.context), _from_image)
    evidence = next((found for finder in finders if (found := finder(inputs)) is not None), None)
    if evidence is None:
        raise SourceError(f"cannot tell which port the {inputs.rec.kind} server listens on",
                          file=inputs.command.file, line=inputs.command.line,
                          hint="add EXPOSE <port> to the Dockerfile, or pass the port on the server's "
                               "command line")
    words = inputs.rec.words
    if inputs.rec.kind == "python" and inputs.info is not None and inputs.info.reads_port_flag:
        words = take_port(words, "python")[0]
    findings = [*_ignored_flag(inputs, evidence.port), *_expose_findings(inputs, evidence.port)]
    return PortChoice(evidence.port, evidence.source, evidence.location, list(words), evidence.variable,
                      findings)
