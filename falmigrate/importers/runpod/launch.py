"""Work a RunPod worker does before its handler serves jobs, found statically so ``setup()`` can do it.

Two shapes are common. A launcher script the Dockerfile's CMD/ENTRYPOINT runs (``start.sh``) starts a
server in the background (``vllm serve …  &``, ComfyUI's ``main.py &``), maybe waits for it, and then
runs the worker module: the lines before that worker line become a ``RunpodProcess`` of origin
``launcher`` (run as one script in ``setup()``, its process group stopped in ``teardown()``). Or the
worker module's own ``main()``, called under the main guard, starts a process (``subprocess.Popen``)
before ``runpod.serverless.start``: that function now runs in ``setup()`` and its children are
stopped in ``teardown()`` (origin ``main``). fal never runs the image's CMD for an entry-point app, so
without this the server the handler talks to would not exist.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

import libcst as cst

from falmigrate.dockerfile.shell import words
from falmigrate.importers.runpod.image import PatchedDockerfile, code_dir
from falmigrate.importers.runpod.reader import WorkerModule
from falmigrate.spec import RunpodProcess

_SHELL_WORDS = {"sh", "bash", "/bin/sh", "/bin/bash", "/usr/bin/env", "exec", "dumb-init", "tini", "--"}
_PORT_FLAG = re.compile(r"--port[= ]+[\"']?(?:\$\{[A-Za-z_][A-Za-z0-9_]*:-)?(\d{2,5})")
_LOCAL_URL = re.compile(r"https?://(?:localhost|127\.0\.0\.1|0\.0\.0\.0):(\d{2,5})(/[A-Za-z0-9_./-]*)?")
_SPAWNERS = ("subprocess.Popen", "subprocess.run", "subprocess.call", "subprocess.check_call", "os.system",
             "os.spawnl", "os.spawnv", "asyncio.create_subprocess_exec", "asyncio.create_subprocess_shell")
_QUIET = re.compile(r"^\s*(?:#.*|set\s+-[euxo]+(?:\s+pipefail)?|)\s*$")


def _script_word(argv: list[str]) -> str | None:
    """The launcher script a command runs (``/start.sh``, ``bash start.sh``, ``sh -c "./start.sh"``)."""
    todo = list(argv)
    while todo:
        word = todo.pop(0)
        if word == "-c" and todo:
            todo = words(todo[0]) + todo[1:]
            continue
        if word in _SHELL_WORDS or word.startswith("-"):
            continue
        return word if word.endswith(".sh") else None
    return None


def _script_file(root: Path, patch: PatchedDockerfile, image_path: str) -> str | None:
    """The context file (relative to the source root) that the Dockerfile copies to ``image_path``."""
    context = root / patch.context
    for path in sorted(context.rglob("*.sh")):
        rel = path.relative_to(context).as_posix()
        landed = code_dir(patch.parsed, rel)
        if landed is not None and posixpath.join(landed[0], posixpath.basename(rel)) == image_path:
            return path.relative_to(root).as_posix()
    return None


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each shell line, backslash continuations joined."""
    out: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, line in enumerate(text.splitlines(), 1):
        if not pending:
            start = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        out.append((start, pending + line))
        pending = ""
    if pending:
        out.append((start, pending))
    return out


def _runs_worker(line: str, module: str) -> bool:
    found = words(line)
    return any(w == module or w.endswith("/" + module) for w in found) and any("python" in w for w in found)


def _shell(text: str) -> str:
    first = text.splitlines()[0] if text else ""
    return "bash" if first.startswith("#!") and "bash" in first else "sh"


def _port_and_health(lines: list[str]) -> tuple[int | None, str | None]:
    """A port the launcher's background server listens on, and a path it polls, when the lines say."""
    background = [line for line in lines if line.rstrip().endswith("&") and not line.rstrip().endswith("&&")]
    urls = [m for line in lines for m in _LOCAL_URL.finditer(line)]
    if urls:
        return int(urls[0].group(1)), (urls[0].group(2) or None)
    for line in background:
        if m := _PORT_FLAG.search(line):
            return int(m.group(1)), None
    return None, None


def launcher_process(root: Path, patch: PatchedDockerfile, worker_file: str) -> RunpodProcess | None:
    """The launcher script's lines before the worker starts, when the image starts through one."""
    started = patch.parsed.effective_argv()
    script_word = _script_word(started[0]) if started else None
    if script_word is None:
        return None
    workdir = patch.parsed.final.workdir or "/"
    image_path = (script_word if script_word.startswith("/")
                  else posixpath.normpath(posixpath.join(workdir, script_word)))
    rel = _script_file(root, patch, image_path)
    if rel is None:
        return None
    text = (root / rel).read_text(encoding="utf-8", errors="replace")
    lines = _logical_lines(text)
    module = posixpath.basename(worker_file)
    at = next((i for i, (_, line) in enumerate(lines) if _runs_worker(line, module)), None)
    if at is None:
        return None
    before = lines[:at]
    if all(_QUIET.match(line) or line.startswith("#!") for _, line in before):
        return None  # the script only starts the worker
    last = lines[at][0] - 1
    kept = "\n".join(text.splitlines()[:last]) + "\n"
    port, health = _port_and_health([line for _, line in before])
    dropped = [line.strip() for _, line in lines[at + 1:]
               if line.strip() and not line.strip().startswith("#")]
    return RunpodProcess(origin="launcher", script=kept, shell=_shell(text), file=rel, first_line=1,
                         last_line=last, port=port, health_path=health, dropped=dropped)


def _calls(node: cst.CSTNode, mod: WorkerModule) -> tuple[set[str], bool]:
    """(module functions ``node`` calls, whether it starts a process)."""
    called: set[str] = set()
    spawns = False

    class _Visit(cst.CSTVisitor):
        def visit_Call(self, call: cst.Call) -> None:
            nonlocal spawns
            if isinstance(call.func, cst.Name) and call.func.value in mod.functions:
                called.add(call.func.value)
            dotted = mod.module.code_for_node(call.func)
            spawns = (spawns or dotted in _SPAWNERS
                      or dotted.split(".")[-1] in ("Popen", "create_subprocess_exec"))

    node.visit(_Visit())
    return called, spawns


def reachable(mod: WorkerModule, names: set[str]) -> tuple[set[str], bool]:
    """Module functions reachable from ``names`` (included), and whether any of them starts a process."""
    seen: set[str] = set()
    todo = [n for n in names if n in mod.functions]
    spawns = False
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        called, spawned = _calls(mod.functions[name], mod)
        spawns = spawns or spawned
        todo += sorted(called - seen)
    return seen, spawns


def main_process(mod: WorkerModule, guard: cst.If | None, start_in: set[str]) -> RunpodProcess | None:
    """The worker's start-up function (called under the main guard, reaching ``start``) when it starts a
    process: it runs in ``setup()`` now, so its children must be stopped in ``teardown()``."""
    if guard is None or not start_in:
        return None
    called, _ = _calls(guard, mod)
    functions, spawns = reachable(mod, called & start_in)
    if not functions or not spawns:
        return None
    lines = sorted(mod.line(mod.functions[name]) for name in functions)
    return RunpodProcess(origin="main", file=mod.path, first_line=lines[0], last_line=lines[-1])
