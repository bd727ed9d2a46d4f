"""Which HTTP server a Dockerfile's CMD/ENTRYPOINT starts, on which port, with which health path.

Recognised launchers: uvicorn, gunicorn, hypercorn, ``fastapi run``, ``flask run``, ``python app.py``
/ ``python -m pkg``, torchserve, text-generation-launcher (TGI) and ``vllm serve``; wrappers (``sh -c``,
``exec``, ``env``, tini, dumb-init) and ENTRYPOINT scripts (their ``exec`` line, or ``exec "$@"`` handing
over to CMD) are looked through. The port in the command becomes the ``{port}`` placeholder so the fal
app (and ``verify``) can move it.
"""

from __future__ import annotations

import ast
import posixpath
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from falmigrate.dockerfile import ParsedDockerfile, substitute

PORT_PLACEHOLDER = "{port}"
_PY = re.compile(r"^(?:.*/)?python(?:3(?:\.\d+)?)?$")
_DEFAULT_PORT = {"uvicorn": 8000, "gunicorn": 8000, "hypercorn": 8000, "fastapi": 8000, "flask": 5000,
                 "torchserve": 8080, "tgi": 80, "vllm": 8000}
_DEFAULT_HEALTH = {"torchserve": "/ping", "tgi": "/health", "vllm": "/health"}
_PORT_FLAGS = {
    "uvicorn": ("--port",), "fastapi": ("--port",), "flask": ("--port", "-p"), "tgi": ("--port", "-p"),
    "vllm": ("--port",),
}
_BIND_FLAGS = {"gunicorn": ("--bind", "-b"), "hypercorn": ("--bind", "-b")}
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
    kind: str  # uvicorn | gunicorn | hypercorn | fastapi | flask | python | torchserve | tgi | vllm | unknown
    words: list[str]  # the server's own command line (port → {port})
    port: int | None
    app_file: str | None = None  # the Python file serving the routes, relative to the code dir
    app_object: str | None = None  # "app" in "main:app"
    via: str | None = None  # the ENTRYPOINT script the command came from
    inherited: bool = False  # the command starts with the base image's ENTRYPOINT (not in this Dockerfile)
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


def _flag(words: list[str], names: tuple[str, ...]) -> tuple[int, str] | None:
    """(index of the value, value) of the first ``--flag value`` / ``--flag=value``."""
    for i, word in enumerate(words):
        for name in names:
            if word == name and i + 1 < len(words):
                return i + 1, words[i + 1]
            if word.startswith(name + "=") and name.startswith("--"):
                return i, word[len(name) + 1:]
    return None


def _take_port(words: list[str], kind: str) -> tuple[list[str], int | None]:
    """The port given on the command line, with that spot replaced by the placeholder."""
    words = list(words)
    hit = _flag(words, _PORT_FLAGS.get(kind, ()))
    if hit is not None and hit[1].isdigit():
        i, value = hit
        words[i] = words[i].replace(value, PORT_PLACEHOLDER) if "=" in words[i] else PORT_PLACEHOLDER
        return words, int(value)
    hit = _flag(words, _BIND_FLAGS.get(kind, ()))
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
            new, port = _take_port(words, "vllm")
            return Recognised("vllm", new, port or _DEFAULT_PORT["vllm"])
        return Recognised("python", list(words), None, app_file=module.replace(".", "/") + ".py")
    if args[0].endswith(".py"):
        return Recognised("python", list(words), None, app_file=args[0].removeprefix("./"))
    return None


def _launcher(words: list[str]) -> Recognised | None:
    """Recognise an unwrapped command line (no shell, no script)."""
    if not words:
        return None
    name = Path(words[0]).name
    if _PY.match(words[0]):
        return _python(words)
    kind = {"text-generation-launcher": "tgi"}.get(name, name)
    if kind not in _DEFAULT_PORT:
        return None
    if kind == "vllm" and (len(words) < 2 or words[1] != "serve"):
        return None
    new, port = _take_port(words, kind)
    rec = Recognised(kind, new, port or _DEFAULT_PORT[kind])
    if kind in ("uvicorn", "gunicorn", "hypercorn"):
        skip = ("--bind", "-b", "--port", "--host", "-k", "--worker-class", "-w", "--workers", "--log-level",
                "--timeout", "-t", "--app-dir", "-c", "--config", "--root-path", "--threads")
        refs = [w for w in _positional(words, skip) if ":" in w or w.isidentifier()]
        if refs:
            rec.app_file, rec.app_object = _module_file(refs[0])
    elif kind == "fastapi":
        pos = _positional(words, ("--port", "--host", "--app", "--workers", "--root-path"))
        rec.app_file = pos[1] if len(pos) > 1 else "main.py"
    elif kind == "flask":
        hit = _flag(words, ("--app", "-A"))
        if hit is not None:
            rec.app_file, rec.app_object = _module_file(hit[1])
    elif kind == "torchserve" and "--foreground" not in words:
        rec.words.append("--foreground")
        rec.notes.append("torchserve gets --foreground so the fal app can supervise it")
    return rec


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
                found.append((3, number, rec))
            continue
        for words in _shell_segments(stripped):
            rec = _launcher(words)
            if rec is not None:
                # a plain `python x.py` before the end is more likely a setup step than the server
                found.append((3 if stripped.startswith("exec ") else 2 if rec.kind != "python" else 1, number, rec))
    if not found:
        return None, 0
    best = max(found, key=lambda item: (item[0], item[1]))
    return best[2], best[1]


def recognise_words(words: list[str]) -> Recognised | None:
    words = _unwrap(list(words))
    if len(words) >= 3 and Path(words[0]).name in ("sh", "bash", "dash") and words[1] in ("-c", "-lc", "-ec"):
        for segment in reversed(_shell_segments(words[2])):
            rec = _launcher(segment)
            if rec is not None:
                # keep the user's shell line (its $VARs, cd, &&) and only move the port
                rec.words = [*words[:2], _shell_port(words[2], rec.port), *words[3:]]
                return rec
        return None
    return _launcher(words)


_VAR_PORT = re.compile(r"(?:--port|-p|--bind|-b)(?:=|\s+)['\"]?(?:[\w.\[\]]*:)?(\$\{?[A-Za-z_]\w*(?::?[-+][^}\s]*)?\}?)")


def port_from_variables(rec: Recognised, env: dict[str, str]) -> int | None:
    """A port the command takes from a variable (``--port $APP_PORT``), valued from the image's ENV."""
    m = _VAR_PORT.search(" ".join(rec.words))
    if m is None:
        return None
    value = substitute(m.group(1), env).rpartition(":")[2]  # a bind variable holds host:port
    return int(value) if value.isdigit() else None


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


def project_file(parsed: ParsedDockerfile, code_dir: Path, image_path: str) -> Path | None:
    """The project file the image has at ``image_path`` (a COPY of it, or of the code folder)."""
    workdir = (parsed.final.workdir or "/").rstrip("/") or ""
    if not image_path.startswith("/"):
        image_path = f"{workdir}/{image_path}"
    image_path = posixpath.normpath(image_path)
    for stage in parsed.chain():
        for ins in stage.instructions:
            if ins.instruction not in ("COPY", "ADD") or "from" in ins.flags:
                continue
            words = [w for w in ins.value.split() if not w.startswith("--")]
            if len(words) < 2:
                continue
            dest = words[-1] if words[-1].startswith("/") else f"{(stage.workdir or '/').rstrip('/')}/{words[-1]}"
            for src in words[:-1]:
                folder = posixpath.normpath(dest)
                if folder == image_path:  # COPY file /exact/path
                    candidate = code_dir / src.removeprefix("./")
                elif image_path.startswith(prefix := folder.rstrip("/") + "/"):  # COPY dir/ /dest/, COPY f /dest/
                    rest = image_path[len(prefix):]
                    is_dir = src.endswith("/") or src in (".", "./") or (code_dir / src).is_dir()
                    candidate = code_dir / src.removeprefix("./") / rest if is_dir else code_dir / src.removeprefix("./")
                else:
                    continue
                if candidate.is_file():
                    return candidate
    return None


def _torchserve_port(rec: Recognised, parsed: ParsedDockerfile, code_dir: Path) -> None:
    hit = _flag(rec.words, ("--ts-config",))
    path = project_file(parsed, code_dir, hit[1]) if hit else None
    if path is None:
        return
    text = path.read_text(encoding="utf-8", errors="replace")
    m = re.search(r"^\s*inference_address\s*=\s*https?://[^\s:/]+:(\d+)", text, re.MULTILINE)
    if m:
        rec.port = int(m.group(1))
        rec.notes.append(f"torchserve's inference port {rec.port} comes from inference_address in {path.name}")


def _gunicorn_port(rec: Recognised, parsed: ParsedDockerfile, code_dir: Path) -> None:
    """A bind from gunicorn's config file (``-c file``, else ./gunicorn.conf.py) or GUNICORN_CMD_ARGS."""
    if _flag(rec.words, _BIND_FLAGS["gunicorn"]) is not None:
        return
    env_args = parsed.final.env.get("GUNICORN_CMD_ARGS", "")
    m = re.search(r"(?:--bind[= ]|-b\s*)['\"]?[\w.\[\]:]*:(\d+)", env_args)
    if m:
        rec.port = int(m.group(1))
        return
    hit = _flag(rec.words, ("-c", "--config"))
    name = hit[1] if hit else "gunicorn.conf.py"
    path = project_file(parsed, code_dir, name.removeprefix("file:")) if not name.startswith("python:") else None
    if path is None:
        return
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError):
        return
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "bind" for t in node.targets):
            value = node.value
            if isinstance(value, (ast.List, ast.Tuple)) and value.elts:
                value = value.elts[0]
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                port = value.value.rpartition(":")[2]
                if port.isdigit():
                    rec.port = int(port)
                    rec.notes.append(f"gunicorn's bind port {rec.port} comes from {path.name}")


def recognise(parsed: ParsedDockerfile, code_dir: Path) -> Recognised | None:
    """The final stage's server (ENTRYPOINT scripts under ``code_dir`` and server config files read)."""
    rec = _recognise(parsed, code_dir)
    if rec is not None and rec.kind == "torchserve":
        _torchserve_port(rec, parsed, code_dir)
    elif rec is not None and rec.kind == "gunicorn":
        _gunicorn_port(rec, parsed, code_dir)
    return rec


def _recognise(parsed: ParsedDockerfile, code_dir: Path) -> Recognised | None:
    inherited = inherited_command(parsed)
    if inherited is not None:
        rec = recognise_words(inherited)
        if rec is not None:
            rec.notes.append(f"the command comes from the base image {parsed.external_base()}'s ENTRYPOINT "
                             f"(assumed: {' '.join(inherited[:4])}…); the generated Dockerfile resets ENTRYPOINT")
            rec.inherited = True
        return rec
    effective = parsed.effective_argv()
    if effective is None:
        return None
    argv = _unwrap(effective[0])
    entry, cmd = parsed.command()
    if argv and entry is not None and entry.form == "exec":
        script = code_dir / argv[0].removeprefix("./").lstrip("/").split("/")[-1]
        candidates = [code_dir / argv[0].removeprefix("./"), script]
        for path in candidates:
            if path.is_file() and not path.name.endswith(".py"):
                rec, _ = _script(path, cmd.argv if cmd is not None else [])
                if rec is not None:
                    rec.via = path.relative_to(code_dir).as_posix()
                    rec.words, port = _take_port(argv, rec.kind)
                    rec.words = [*_interpreter(path), *rec.words]
                    rec.port = port or rec.port
                    return rec
    return recognise_words(argv)
