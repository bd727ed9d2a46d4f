"""What an app depends on besides its own process: side services, extra processes, files it reads.

A fal app is one container image, scaled to any number of runners. What lived next to the app on
the source platform does not come along by itself, and losing it silently breaks the app at its
first request:

- **side services** (``compose_findings``): the other services of a docker-compose file — a Redis
  queue, a database, a worker built from the same code — are not part of the image: each is an error
  finding that says what to do on fal (a managed service whose URL comes from a fal secret, a second
  fal app for a worker, nothing for a reverse proxy);
- **extra processes** (``process_findings``): daemons a launcher script or shell CMD starts next to
  the main one (``redis-server &``, ``celery worker &``, ``nginx``). Where the launcher still runs on fal
  (``kept``) they come along, but every runner has its own copy (a warning); where it does not run,
  they are lost (an error);
- **missing files** (``missing_file_findings``): literal paths the code opens (checkpoints, configs)
  that the repository does not have — warnings, as they may come from a volume or a download.

Static only: YAML and shell text are read, Python with ``ast``; nothing is run.
"""

from __future__ import annotations

import ast
import posixpath
import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import yaml

from falmigrate.spec import Finding, Location

SERVICE_RULE = "FM031"
PROCESS_RULE = "FM032"
MISSING_FILE_RULE = "FM033"
COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")

_ADVICE = (  # (image/command words, what the service is, what to do on fal)
    (("redis", "valkey", "keydb", "dragonfly"), "a Redis server",
     "use a managed Redis (Upstash, Redis Cloud, ElastiCache…) and pass its URL to the app as a fal secret"),
    (("postgres", "mysql", "mariadb", "mongo", "cassandra", "clickhouse"), "a database",
     "use a managed database and pass its connection URL to the app as a fal secret"),
    (("rabbitmq", "kafka", "nats", "mosquitto", "activemq"), "a message broker",
     "use a managed broker and pass its URL to the app as a fal secret"),
    (("minio", "localstack", "azurite"), "an object store",
     "use a real bucket (S3, GCS, R2) and pass its credentials as fal secrets"),
    (("celery", "rq", "dramatiq", "arq", "huey", "worker"), "a background worker",
     "deploy it as its own fal app, or do the work in the request handler (fal queues requests itself)"),
)
_PROXIES = ("nginx", "traefik", "caddy", "haproxy", "envoy")
_DAEMONS = re.compile(r"^(?:redis-server|nginx|memcached|mongod|postgres|sshd|cron|crond)$")
_SEPARATOR = re.compile(r"(&&|\|\||;|(?<![>&<])&(?![&>]))")  # not the & of 2>&1 or &>file
_DATA_SUFFIXES = frozenset({
    ".pt", ".pth", ".bin", ".ckpt", ".safetensors", ".onnx", ".gguf", ".ggml", ".pkl", ".pickle", ".joblib",
    ".h5", ".hdf5", ".keras", ".npy", ".npz", ".json", ".yaml", ".yml", ".toml", ".txt", ".csv", ".tsv",
    ".parquet", ".model", ".faiss", ".index", ".db", ".sqlite", ".sqlite3", ".tflite", ".engine", ".plan",
    ".wav", ".mp3", ".png", ".jpg", ".jpeg",
})
_NOT_A_PATH = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://|[\s{}%*?<>|$]")  # URLs, templates, globs, variables


@dataclass(frozen=True)
class ComposeService:
    name: str
    image: str | None
    build: str | None  # the build context, relative to the compose file's folder
    dockerfile: str | None  # relative to the build context
    command: str
    environment: dict[str, str] = field(default_factory=dict)
    line: int | None = None


def _line_of(text: str, name: str) -> int | None:
    match = re.search(rf"^\s+{re.escape(name)}\s*:", text, re.MULTILINE)
    return text.count("\n", 0, match.start()) + 1 if match else None


def _words(value: object) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value or "")


def _environment(value: object) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return dict(str(item).split("=", 1) for item in value if "=" in str(item))
    return {}


def _service(name: str, body: dict, text: str) -> ComposeService:
    build = body.get("build")
    context = build.get("context", ".") if isinstance(build, dict) else build
    dockerfile = build.get("dockerfile") if isinstance(build, dict) else None
    return ComposeService(name=name, image=body.get("image"), build=context, dockerfile=dockerfile,
                          command=_words(body.get("command")) or _words(body.get("entrypoint")),
                          environment=_environment(body.get("environment")), line=_line_of(text, name))


def read_compose(root: Path) -> tuple[str, list[ComposeService]] | None:
    """The first compose file at ``root`` and its services; None when there is none or it is not YAML
    with a ``services`` mapping (a broken compose file is the user's, not an import error)."""
    for name in COMPOSE_FILES:
        path = root / name
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            return None
        services = data.get("services") if isinstance(data, dict) else None
        if not isinstance(services, dict):
            return None
        return name, [_service(str(k), v, text) for k, v in services.items() if isinstance(v, dict)]
    return None


def _builds(service: ComposeService, dockerfile: str) -> bool:
    """Whether ``service`` is built from ``dockerfile`` (a path relative to the compose file's folder)."""
    if service.build is None:
        return False
    context = posixpath.normpath(service.build)
    built = posixpath.normpath(posixpath.join(context, service.dockerfile or "Dockerfile"))
    return built == posixpath.normpath(dockerfile)


def _advice(service: ComposeService) -> tuple[str, str]:
    image = (service.image or "").split("@")[0].rsplit("/", 1)[-1].split(":")[0]
    program = " ".join(service.command.split()[:2])  # `celery -A app worker`, `rq worker`: not its URLs
    words = set(re.split(r"[^a-z0-9]+", f"{image} {program} {service.name}".lower()))
    for keys, what, todo in _ADVICE:
        if words & set(keys):
            return what, todo
    if service.build is not None:
        return "a service built from the project", "deploy it as its own fal app, or fold it into this one"
    todo = "run it outside fal (a managed service) and pass its address to the app as a fal secret"
    return "a side service", todo


def _pointers(app: Iterable[ComposeService], service: ComposeService) -> list[str]:
    """The app's environment variables whose value names ``service`` by its compose host name."""
    host = re.compile(rf"(?:^|[/@:]){re.escape(service.name)}(?:[:/]|$)")
    return sorted({key for one in app for key, value in one.environment.items() if host.search(value)})


def _app_services(services: list[ComposeService], dockerfile: str) -> list[ComposeService]:
    """The services that run the app: built from ``dockerfile`` and running its own CMD (another service
    built from it with its own ``command`` is a worker); with none such, the first one built from it."""
    built = [s for s in services if _builds(s, dockerfile)]
    return [s for s in built if not s.command] or built[:1]


def compose_findings(root: Path, dockerfile: str) -> list[Finding]:
    """One finding per compose service that is not the app (the services built from ``dockerfile``,
    relative to ``root``): an error for what the app needs, a warning for a reverse proxy."""
    found = read_compose(root)
    if found is None:
        return []
    file, services = found
    app = _app_services(services, dockerfile)
    out = []
    for service in services:
        if service in app:
            continue
        where = Location(file=file, line=service.line)
        command = f" ({service.command})" if service.command else ""
        shown = service.image or f"build {service.build}{command}"
        if (service.image or "").split(":")[0].rsplit("/", 1)[-1] in _PROXIES:
            out.append(Finding(rule=SERVICE_RULE, severity="warning", location=where,
                               message=f"compose service `{service.name}` ({shown}) is a reverse proxy",
                               remediation="nothing on fal routes requests to the app itself; move any "
                                           "rewrite or header rule it applied into the app"))
            continue
        what, todo = _advice(service)
        pointers = _pointers(app, service)
        via = f"; the app reaches it through {', '.join(pointers)}" if pointers else ""
        out.append(Finding(rule=SERVICE_RULE, severity="error", location=where,
                           message=f"compose service `{service.name}` ({shown}) is {what} the app runs with; "
                                   f"it is not part of the fal app{via}",
                           remediation=todo + (f" (set {', '.join(pointers)} from it)" if pointers else "")))
    return out


def _process(segment: str, background: bool) -> list[str] | None:
    """The words of a simple command that starts a process next to the main one, else None."""
    try:
        words = shlex.split(segment, comments=True)
    except ValueError:
        return None
    while words and words[0] in ("nohup", "exec", "setsid", "sudo", "env"):
        words = words[1:]
    redirect = next((i for i, w in enumerate(words) if re.match(r"^\d*[<>|]", w)), len(words))
    words = words[:redirect]
    if not words or "daemon off;" in segment:
        return None
    daemon = bool(_DAEMONS.match(posixpath.basename(words[0]))) or "--daemonize" in words
    return words if background or daemon else None


def _commands(script: str) -> Iterable[tuple[int, str, bool]]:
    """(line, simple command, started in the background) for each command of a shell script."""
    for number, line in enumerate(script.splitlines(), 1):
        if not line.strip() or line.strip().startswith("#"):
            continue
        parts = _SEPARATOR.split(line)
        for index in range(0, len(parts), 2):
            separator = parts[index + 1] if index + 1 < len(parts) else ""
            if parts[index].strip():
                yield number, parts[index].strip(), separator == "&"


def process_findings(script: str, path: str, *, kept: bool, line: int | None = None) -> list[Finding]:
    """Processes ``script`` (a launcher or a shell CMD) starts in the background or as daemons.

    ``kept``: the script still runs on fal (image-only apps), so they come along, one copy per runner
    (a warning); otherwise they are lost (an error). ``line`` is the script's own line in ``path``
    when it is a part of another file (a Dockerfile CMD).
    """
    out = []
    for number, segment, background in _commands(script):
        words = _process(segment, background)
        if words is None:
            continue
        shown = " ".join(words[:4]) + (" …" if len(words) > 4 else "")
        where = Location(file=path, line=line if line is not None else number)
        if kept:
            out.append(Finding(rule=PROCESS_RULE, severity="warning", location=where,
                               message=f"`{shown}` runs next to the server in the same container: every "
                                       "fal runner starts its own copy, and what it keeps is lost when the "
                                       "runner stops",
                               remediation="keep shared state (queues, caches, databases) in a managed "
                                           "service reached through a fal secret"))
        else:
            out.append(Finding(rule=PROCESS_RULE, severity="error", location=where,
                               message=f"`{shown}` is started next to the app by {path}, which does not run "
                                       "on fal",
                               remediation="start it in setup() (and stop it in teardown()), or run it as a "
                                           "managed service the app reaches through a fal secret"))
    return out


def _is_path(text: str) -> bool:
    return (0 < len(text) <= 200 and not _NOT_A_PATH.search(text)
            and PurePosixPath(text).suffix.lower() in _DATA_SUFFIXES)


def _writes(call: ast.Call) -> bool:
    """``open(p, "w")`` / ``Path(p).open("w")`` create the file: not a file the app needs."""
    func = call.func
    if (func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")) != "open":
        return False
    modes = [a for a in call.args[1:2]] + [k.value for k in call.keywords if k.arg == "mode"]
    return any(isinstance(m, ast.Constant) and isinstance(m.value, str) and set(m.value) & set("wax")
               for m in modes)


def literal_paths(source: str, path: str) -> list[tuple[str, int]]:
    """String literals that name data files (``"weights/model.pt"``, ``"/models/config.json"``) in call
    arguments and assignments, with their lines; decorators (routes) and writes are skipped."""
    try:
        tree = ast.parse(source, filename=path)
    except (SyntaxError, ValueError):
        return []
    decorated = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    skipped = {id(n) for d in ast.walk(tree) if isinstance(d, decorated) for dec in d.decorator_list
               for n in ast.walk(dec)}
    found: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and id(node) not in skipped and not _writes(node):
            values = [*node.args, *(k.value for k in node.keywords)]
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            values = [node.value]
        else:
            continue
        for value in values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str) and _is_path(value.value):
                found.setdefault(value.value, value.lineno)
    return sorted(found.items(), key=lambda item: item[1])


def missing_file_findings(files: dict[str, str], exists: Callable[[str, str], bool]) -> list[Finding]:
    """A warning for each data file the code names that ``exists(literal, module_path)`` cannot find.

    ``files``: Python sources by path (relative to the source root); ``exists`` decides how a literal
    resolves (relative to the server's working directory, the module's folder, or inside the image).
    """
    out = []
    for module, source in sorted(files.items()):
        for literal, line in literal_paths(source, module):
            if exists(literal, module):
                continue
            out.append(Finding(
                rule=MISSING_FILE_RULE, severity="warning", location=Location(file=module, line=line),
                message=f"the code reads {literal!r}, which is not in the repository",
                remediation="add it to the repository, download it in setup() into /data (fal's persistent "
                            "storage), or point the path at where the image gets it"))
    return out
