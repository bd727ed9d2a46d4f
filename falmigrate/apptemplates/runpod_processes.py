"""Start-up work of a RunPod worker, done by the generated fal app's ``setup()`` and undone by ``teardown()``.

fal imports the app inside the image and never runs the image's CMD, so what the worker's launcher
script did before starting the worker (a model server in the background, a wait for it, exports) runs
here: the script's lines as one shell script in their own process group, the variables they exported
taken over, the server's port waited for. Processes the worker's own start-up code started are found
as this process's new children. ``_falmigrate_stop`` ends both (SIGTERM, then SIGKILL).

Copied into generated apps by ``falmigrate.render.snippets``; only the definitions an app uses.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

_FALMIGRATE_STOP_SECONDS = 10.0
# Run after the launcher's lines: writes the environment they left to a file setup() reads back.
_FALMIGRATE_ENV_DUMP = "import json, os, sys; json.dump(dict(os.environ), open(sys.argv[1], 'w'))"


def _falmigrate_worker_dir(relative: str) -> str:
    """The worker's folder: next to this file in the image, or ``relative`` below it in a project checkout."""
    here = Path(__file__).resolve().parent
    folder = here / relative
    return str(folder if relative and folder.is_dir() else here)


def _falmigrate_wait(port: int, health_path: str | None, timeout: float, group: int | None = None) -> None:
    """Wait until ``port`` accepts connections (answers GET ``health_path`` below 500, when given)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if health_path:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{health_path}", timeout=5) as response:
                    if response.status < 500:
                        return
            else:
                with socket.create_connection(("127.0.0.1", port), timeout=5):
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except OSError:
            pass
        if group is not None:
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                raise RuntimeError(f"what the launcher started exited before port {port} answered") from None
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing answered on port {port} within {timeout:.0f}s")
        time.sleep(0.5)


def _falmigrate_take_env(path: str) -> None:
    """Take over the variables the launcher's lines exported (the worker read them as its environment)."""
    try:
        with open(path) as handle:
            exported = json.load(handle)
    except (OSError, ValueError):
        return
    for key, value in exported.items():
        if not key.startswith("FALMIGRATE_") and os.environ.get(key) != value:
            os.environ[key] = value


def _falmigrate_launch(script: str, shell: str, cwd: str, name: str, port: int | None = None,
                       health_path: str | None = None, timeout: float = 600.0) -> int:
    """Run a launcher script's lines (``name`` is its ``$0``) in a new process group and wait for them to
    finish (what they start in the background keeps running), then for ``port``. Returns the group id."""
    fd, env_file = tempfile.mkstemp(prefix="falmigrate-launcher-", suffix=".json")
    os.close(fd)
    trailer = '\n"$FALMIGRATE_PYTHON" -c "$FALMIGRATE_ENV_DUMP" "$FALMIGRATE_ENV_FILE"\n'
    env = {**os.environ, "FALMIGRATE_PYTHON": sys.executable, "FALMIGRATE_ENV_DUMP": _FALMIGRATE_ENV_DUMP,
           "FALMIGRATE_ENV_FILE": env_file}
    process = subprocess.Popen([shell, "-c", script + trailer, name], cwd=cwd, env=env,
                               start_new_session=True)
    try:
        code = process.wait(timeout=timeout)
        if code != 0:
            raise RuntimeError(f"the launcher lines from {name} exited with code {code}")
        _falmigrate_take_env(env_file)
    finally:
        os.unlink(env_file)
    if port is not None:
        _falmigrate_wait(port, health_path, timeout, process.pid)
    return process.pid


def _falmigrate_children() -> list[int]:
    """This process's child processes (from /proc)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == os.getpid():
            children.append(int(entry.name))
    return sorted(children)


def _falmigrate_gone(group: int | None, pids: list[int]) -> bool:
    for pid in pids:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == 0:
                return False
        except ChildProcessError:
            pass
    if group is not None:
        try:
            os.killpg(group, 0)
            return False
        except ProcessLookupError:
            pass
    return True


def _falmigrate_signal(group: int | None, pids: list[int], sig: int) -> None:
    targets = [(os.killpg, group)] if group is not None else []
    targets += [(os.kill, pid) for pid in pids]
    for kill, target in targets:
        try:
            kill(target, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _falmigrate_stop(group: int | None = None, pids: list[int] | None = None) -> None:
    """Stop the launcher's process group and the given child processes: SIGTERM, then SIGKILL."""
    pids = list(pids or [])
    _falmigrate_signal(group, pids, signal.SIGTERM)
    deadline = time.monotonic() + _FALMIGRATE_STOP_SECONDS
    while not _falmigrate_gone(group, pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    _falmigrate_signal(group, pids, signal.SIGKILL)
