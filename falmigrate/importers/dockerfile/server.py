"""Which HTTP server a Dockerfile's CMD/ENTRYPOINT starts: the launcher, its port flag, its app module.

Recognised launchers: uvicorn, gunicorn, hypercorn, ``fastapi run``, ``flask run``, ``python app.py``
/ ``python -m pkg``, torchserve, text-generation-launcher (TGI), ``vllm serve``, and non-Python servers
started with ``node``/``npm``/``bun``/``deno``; wrappers (``sh -c``, ``exec``, ``env``, tini, dumb-init)
and ENTRYPOINT scripts (their ``exec`` line, or ``exec "$@"`` handing over to CMD) are looked through.
A port given on the command line becomes the ``{port}`` placeholder in ``Recognised.words``, so
``verify`` can start the server on a free port; the image itself runs the command as written.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from falmigrate.dockerfile import ParsedDockerfile, substitute
from falmigrate.importers.dockerfile.layout import project_file

PORT_PLACEHOLDER = "{port}"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # Docker's when no ENV PATH
_PY = re.compile(r"^(?:.*/)?python(?:3(?:\.\d+)?)?$")
_DEFAULT_PORT = {"uvicorn": 8000, "gunicorn": 8000, "hypercorn": 8000, "fastapi": 8000, "flask": 5000,
                 "torchserve": 8080, "tgi": 80, "vllm": 8000}
_NODE = {"node", "nodejs", "npm", "bun", "deno", "yarn", "pnpm"}
DEFAULT_HEALTH = {"torchserve": "/ping", "tgi": "/health", "vllm": "/health"}
PORT_FLAGS = {
    "uvicorn": ("--port",), "fastapi": ("--port",), "flask": ("--port", "-p"), "tgi": ("--port", "-p"),
    "vllm": ("--port",), "python": ("--port", "-p", "--server-port", "--server_port"),
}
BIND_FLAGS = {"gunicorn": ("--bind", "-b"), "hypercorn": ("--bind", "-b")}
_WRAPPERS = {"exec", "tini", "/sbin/tini", "/usr/bin/tini", "dumb-init", "/usr/bin/dumb-init", "--"}
# ENTRYPOINTs of well-known server images (their own Dockerfiles), for a Dockerfile that builds FROM one
# and only sets CMD: Docker appends that CMD to the inherited ENTRYPOINT, which the file does not show.
BASE_ENTRYPOINTS: dict[str, list[str]] = {
    "ghcr.io/huggingface/text-generation-inference": ["text-generation-launcher"],
    "vllm/vllm-openai": ["python3", "-m", "vllm.entrypoints.openai.api_server"],
}
# pytorch/torchserve's entrypoint script: "serve" (its default CMD) starts torchserve with the image's
# config; any other command runs as given.
TORCHSERVE_IMAGE = "pytorch/torchserve"
TORCHSERVE_SERVE = ["torchserve", "--start", "--ts-config", "/home/model-server/config.properties"]
SERVER_IMAGES = frozenset({*BASE_ENTRYPOINTS, TORCHSERVE_IMAGE})


@dataclass
class Recognised:
    # uvicorn | gunicorn | hypercorn | fastapi | flask | python | torchserve | tgi | vllm | node | unknown
    kind: str
    words: list[str]  # what the image runs (a command-line port → {port})
    port: int | None  # the command-line port, else the launcher's default
    app_file: str | None = None  # the file serving the routes, relative to the code dir
    app_object: str | None = None  # "app" in "main:app"
    via: str | None = None  # the ENTRYPOINT script the command came from
    via_line: int | None = None  # the script's line that starts the server
    inherited: bool = False  # the command starts with the base image's ENTRYPOINT (not in this Dockerfile)
    port_flag: bool = False  # the port is on the command line
    handed_over: bool = False  # the ENTRYPOINT script runs the CMD (``exec "$@"``), which starts the server
    launcher: list[str] = field(default_factory=list)  # the server's own words (no shell, no script)
    notes: list[str] = field(default_factory=list)


def _unwrap(words: list[str]) -> list[str]:
    while words and (words[0] in _WRAPPERS or words[0] == "env" or re.match(r"^[A-Za-z_]\w*=", words[0])):
        if words[0] == "env":
            words = words[1:]
            while words and "=" in words[0]:
                words = words[1:]
        else:
            words = words[1:]
    return words


def flag(words: list[str], names: tuple[str, ...]) -> tuple[int, str] | None:
    """(index of the value, value) of the first ``--flag value`` / ``--flag=value``."""
    for i, word in enumerate(words):
        for name in names:
            if word == name and i + 1 < len(words):
                return i + 1, words[i + 1]
            if word.startswith(name + "=") and name.startswith("--"):
                return i, word[len(name) + 1:]
    return None


def take_port(words: list[str], kind: str) -> tuple[list[str], int | None]:
    """The port given on the command line, with that spot replaced by the placeholder."""
    words = list(words)
    hit = flag(words, PORT_FLAGS.get(kind, ()))
    if hit is not None and hit[1].isdigit():
        i, value = hit
        words[i] = words[i].replace(value, PORT_PLACEHOLDER) if "=" in words[i] else PORT_PLACEHOLDER
        return words, int(value)
    hit = flag(words, BIND_FLAGS.get(kind, ()))
    if hit is not None:
        i, value = hit
        host, _, port = value.rpartition(":")
        if port.isdigit():
            words[i] = words[i].replace(value, f"{host}:{PORT_PLACEHOLDER}")
            return words, int(port)
    return words, None


def _module_file(ref: str) -> tuple[str, str | None]:
    """``pkg.mod:app`` → (``pkg/mod.py``, ``app``)."""
    module, _, obj = ref.partition(":")
    return module.replace(".", "/") + ".py", (obj or None)


def _positional(words: list[str], skip_with_value: tuple[str, ...] = ()) -> list[str]:
    out, i = [], 1
    while i < len(words):
        word = words[i]
        if word.startswith("-"):
            if word in skip_with_value:
                i += 1
        else:
            out.append(word)
        i += 1
    return out


def _python(words: list[str]) -> Recognised | None:
    args = words[1:]
    while args and args[0] in ("-u", "-O", "-B", "-X") or (args and args[0].startswith("-X")):
        args = args[1:]
    if not args:
        return None
    if args[0] == "-m" and len(args) > 1:
        module = args[1]
        rest = [module.split(".")[-1] if module in ("uvicorn", "gunicorn", "hypercorn", "flask") else module,
                *args[2:]]
        if module in ("uvicorn", "gunicorn", "hypercorn", "flask"):
            inner = _launcher(rest)
            if inner is not None:
                inner.words = [words[0], "-m", module, *inner.words[1:]]
            return inner
        if module.startswith("vllm.entrypoints"):
            new, port = take_port(words, "vllm")
            return Recognised("vllm", new, port or _DEFAULT_PORT["vllm"])
        return Recognised("python", list(words), None, app_file=module.replace(".", "/") + ".py")
    if args[0].endswith(".py"):
        return Recognised("python", list(words), None, app_file=args[0].removeprefix("./"))
    return None


def _node(words: list[str]) -> Recognised:
    """``node server.js``, ``npm start``, ``bun run index.ts``…: the script the command names, if any."""
    scripts = [w for w in words[1:] if re.search(r"\.(?:c|m)?[jt]s$", w)]
    return Recognised("node", list(words), None, app_file=scripts[0].removeprefix("./") if scripts else None)


def _launcher(words: list[str]) -> Recognised | None:
    """Recognise an unwrapped command line (no shell, no script)."""
    rec = _read_launcher(words)
    if rec is not None:
        rec.launcher = list(words)
    return rec


def _read_launcher(words: list[str]) -> Recognised | None:
    if not words:
        return None
    name = Path(words[0]).name
    if _PY.match(words[0]):
        return _python(words)
    if name in _NODE:
        return _node(words)
    kind = {"text-generation-launcher": "tgi"}.get(name, name)
    if kind not in _DEFAULT_PORT:
        return None
    if kind == "vllm" and (len(words) < 2 or words[1] != "serve"):
        return None
    new, port = take_port(words, kind)
    rec = Recognised(kind, new, port or _DEFAULT_PORT[kind], port_flag=port is not None)
    rec.app_file, rec.app_object = _app_module(kind, words)
    return rec


def _app_module(kind: str, words: list[str]) -> tuple[str | None, str | None]:
    """(the file serving the routes, the app object) a launcher's arguments name."""
    if kind in ("uvicorn", "gunicorn", "hypercorn"):
        skip = ("--bind", "-b", "--port", "--host", "-k", "--worker-class", "-w", "--workers", "--log-level",
                "--timeout", "-t", "--app-dir", "-c", "--config", "--root-path", "--threads")
        refs = [w for w in _positional(words, skip) if ":" in w or w.isidentifier()]
        return _module_file(refs[0]) if refs else (None, None)
    if kind == "fastapi":
        pos = _positional(words, ("--port", "--host", "--app", "--workers", "--root-path"))
        return (pos[1] if len(pos) > 1 else "main.py"), None
    if kind == "flask":
        hit = flag(words, ("--app", "-A"))
        return _module_file(hit[1]) if hit is not None else (None, None)
    return None, None


def _shell_segments(text: str) -> list[list[str]]:
    out = []
    for segment in re.split(r"&&|;|\|\||\n", text):
        try:
            words = shlex.split(segment, comments=True)
        except ValueError:
            continue
        if words:
            out.append(_unwrap(words))
    return out


def _script(path: Path, cmd: list[str]) -> tuple[Recognised | None, int]:
    """Recognise the server an ENTRYPOINT script starts; ``exec "$@"`` hands over to CMD."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None, 0
    found: list[tuple[int, int, Recognised]] = []  # (preference, line, server); exec lines win
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped.startswith("#") or not stripped:
            continue
        if re.match(r'^exec\s+"?\$(@|\{@\})"?\s*$', stripped):
            rec = recognise_words(cmd) if cmd else None
            if rec is not None:
                rec.handed_over = True
                found.append((3, number, rec))
            continue
        for words in _shell_segments(stripped):
            rec = _launcher(words)
            if rec is not None:
                # a plain `python x.py` before the end is more likely a setup step than the server
                rank = 3 if stripped.startswith("exec ") else 2 if rec.kind != "python" else 1
                found.append((rank, number, rec))
    if not found:
        return None, 0
    best = max(found, key=lambda item: (item[0], item[1]))
    return best[2], best[1]


def recognise_words(words: list[str]) -> Recognised | None:
    """The server a command line starts (``sh -c "…"``: its last recognised command)."""
    words = _unwrap(list(words))
    if len(words) >= 3 and Path(words[0]).name in ("sh", "bash", "dash") and words[1] in ("-c", "-lc", "-ec"):
        for segment in reversed(_shell_segments(words[2])):
            rec = _launcher(segment)
            if rec is not None:
                # keep the user's shell line (its $VARs, cd, &&) and only mark the port
                shell = _shell_port(words[2], rec.port) if rec.port_flag else words[2]
                rec.words = [*words[:2], shell, *words[3:]]
                return rec
        return None
    return _launcher(words)


_VAR_PORT = re.compile(r"(?:--port|-p|--bind|-b)(?:=|\s+)['\"]?(?:[\w.\[\]]*:)?"  # the flag, a bind's host
                       r"(\$\{?[A-Za-z_]\w*(?::?[-+][^}\s]*)?\}?)")  # $VAR, ${VAR}, ${VAR:-default}


def port_from_variables(rec: Recognised, env: dict[str, str]) -> tuple[int, str | None] | None:
    """A port the command takes from a variable (``--port $APP_PORT``), valued from the image's ENV, and
    the variable's name when it holds the port alone (a bind variable holds host:port)."""
    m = _VAR_PORT.search(" ".join(rec.words))
    if m is None:
        return None
    raw = substitute(m.group(1), env)
    value = raw.rpartition(":")[2]
    name = re.sub(r"[${}]", "", m.group(1)).split(":")[0].split("-")[0]
    return (int(value), name if raw.isdigit() else None) if value.isdigit() else None


def _shell_port(text: str, port: int | None) -> str:
    if port is None:
        return text
    pattern = re.compile(rf"((?:--port|-p|--bind|-b)(?:=|\s+)['\"]?(?:[\w.\[\]:]*:)?){port}\b")
    return pattern.sub(lambda m: m.group(1) + PORT_PLACEHOLDER, text, count=1)


def _interpreter(path: Path) -> list[str]:
    """``#!/bin/sh`` → ["/bin/sh"]: scripts run through their interpreter (the exec bit may be lost)."""
    try:
        first = path.read_text(encoding="utf-8").splitlines()[0]
    except (OSError, UnicodeDecodeError, IndexError):
        return []
    if not first.startswith("#!"):
        return []
    parts = first[2:].split()
    if parts and Path(parts[0]).name == "env":
        parts = parts[1:]
    return parts[:1]


def image_repository(base: str) -> str:
    """``ghcr.io/org/img:tag@sha256:…`` → ``ghcr.io/org/img``; Docker Hub's ``docker.io/`` prefix dropped."""
    name = base.split("@", 1)[0]
    head, _, tail = name.rpartition("/")
    name = f"{head}/{tail.split(':', 1)[0]}" if head else tail.split(":", 1)[0]
    return name.removeprefix("docker.io/").removeprefix("library/")


def inherited_command(parsed: ParsedDockerfile) -> list[str] | None:
    """What ``docker run`` executes when the file sets no ENTRYPOINT but builds on a known server image."""
    entry, cmd = parsed.command()
    if entry is not None:
        return None
    repo = image_repository(parsed.external_base())
    args = cmd.words if cmd is not None else []
    if repo == TORCHSERVE_IMAGE:
        return list(TORCHSERVE_SERVE) if args in ([], ["serve"]) else None
    known = BASE_ENTRYPOINTS.get(repo)
    return [*known, *args] if known is not None else None


def recognise(parsed: ParsedDockerfile, context: Path) -> Recognised | None:
    """What the final image runs, as a server: an inherited server-image ENTRYPOINT, an ENTRYPOINT script
    of the project (its ``exec`` line, or CMD through ``exec "$@"``), or the command itself."""
    inherited = inherited_command(parsed)
    if inherited is not None:
        rec = recognise_words(inherited)
        if rec is not None:
            rec.notes.append(f"the command comes from the base image {parsed.external_base()}'s ENTRYPOINT "
                             f"(assumed: {' '.join(inherited[:4])}…)")
            rec.inherited = True
        return rec
    effective = parsed.effective_argv()
    if effective is None:
        return None
    argv = _unwrap(effective[0])
    entry, cmd = parsed.command()
    if argv and entry is not None and entry.form == "exec":
        rec = _through_script(parsed, context, argv, cmd.argv if cmd is not None else [])
        if rec is not None:
            return rec
    return recognise_words(argv)


def _script_file(parsed: ParsedDockerfile, context: Path, name: str) -> Path | None:
    """The project file behind an ENTRYPOINT's first word: a path, or a bare name found along PATH."""
    if "/" in name:
        return project_file(parsed, context, name)
    folders = parsed.final.env.get("PATH", DEFAULT_PATH).split(":")
    return next((found for folder in folders if folder.startswith("/")
                 and (found := project_file(parsed, context, f"{folder.rstrip('/')}/{name}"))), None)


def _through_script(parsed: ParsedDockerfile, context: Path, argv: list[str],
                    cmd: list[str]) -> Recognised | None:
    path = _script_file(parsed, context, argv[0])
    if path is None or path.name.endswith(".py"):
        return None
    rec, line = _script(path, cmd)
    if rec is None:
        return None
    rec.via, rec.via_line = path.relative_to(context).as_posix(), line
    rec.words, port = take_port(argv, rec.kind)
    rec.words = [*_interpreter(path), *rec.words]
    rec.port, rec.port_flag = port or rec.port, rec.port_flag or port is not None
    return rec
