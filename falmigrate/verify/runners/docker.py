"""Both sides of ``falmigrate verify`` for servers in a Dockerfile: the server started the way the image
starts it, without Docker.

The source side runs what the source Dockerfile's image runs (``spec.server.command``: its
ENTRYPOINT script included) in the project folder the Dockerfile copies into its WORKDIR, with the
image's ENV and this interpreter's ``bin`` first on PATH; the fal side of an image-only app
(``verify.imageonly``) does the same with the output's patched Dockerfile. The server gets a free
local port (the ``{port}`` mark on its command line, and ``PORT``); one that can do neither keeps its
own. Each case is sent as a real HTTP request (``method`` → ``endpoint`` with ``input`` as the JSON
body; as query parameters for GET/DELETE/HEAD), and the answer is shaped like the fal side's worker
shapes its own (``normalize.response_value``).
"""

from __future__ import annotations

import os
import posixpath
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from falmigrate.errors import VerifyError
from falmigrate.spec import AppSpec, DockerDetails
from falmigrate.verify.normalize import response_value

PLACEHOLDER = "{port}"
STARTUP_TIMEOUT = 60.0
_BODYLESS = {"GET", "HEAD", "DELETE"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pick_port(spec: AppSpec) -> int:
    """A free port when the server can be moved ({port} in its command or it reads $PORT), else its own."""
    if spec.server is not None and spec.require_details(DockerDetails).port_movable is False:
        return spec.server.port
    return free_port()


def context_dir(root: Path, spec: AppSpec) -> Path:
    return (Path(root) / spec.require_details(DockerDetails).context).resolve()


def server_dir(root: Path, spec: AppSpec) -> Path:
    """The project folder the image's WORKDIR holds: where the server runs."""
    return context_dir(root, spec) / spec.require_details(DockerDetails).server_dir


def server_env(root: Path, spec: AppSpec, port: int, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment ``docker run`` would give the server: the image's ENV (its PYTHONPATH folders mapped
    to the project's), the port in PORT and in the variable the server reads it from, local bin on PATH."""
    details = spec.require_details(DockerDetails)
    env = dict(os.environ if base is None else base)
    env.update(spec.image.env)
    if "PYTHONPATH" in spec.image.env:
        env["PYTHONPATH"] = os.pathsep.join(
            str(context_dir(root, spec) / details.image_paths[entry]) if entry in details.image_paths
            else entry for entry in spec.image.env["PYTHONPATH"].split(":"))
    env["PORT"] = str(port)
    if details.port_variable:
        env[details.port_variable] = str(port)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def local_command(root: Path, spec: AppSpec, port: int) -> list[str]:
    """The server's command with the port filled in and its ENTRYPOINT script named by its project path
    (the image has it at another place)."""
    assert spec.server is not None
    via = spec.require_details(DockerDetails).via
    script = str(context_dir(root, spec) / via) if via else None
    words = [part.replace(PLACEHOLDER, str(port)) for part in spec.server.command]
    return [script if script and posixpath.basename(w) == posixpath.basename(via or "") else w for w in words]


def wait_healthy(process: subprocess.Popen, port: int, health: str, timeout: float) -> None:
    """Return once GET health answers below 500; a VerifyError when the server exits or the time runs out."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise VerifyError(f"the server exited with code {process.returncode} before answering GET "
                              f"{health}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}{health}", timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise VerifyError(f"the server did not answer GET {health} on port {port} within {timeout:.0f}s")
        time.sleep(0.1)


def start(root: Path, spec: AppSpec, port: int | None = None) -> tuple[subprocess.Popen, int]:
    """Start the server and wait until it is healthy; returns (process, port)."""
    if spec.server is None:
        raise VerifyError("the spec has no server to start")
    port = port or pick_port(spec)
    command = local_command(root, spec, port)
    try:
        process = subprocess.Popen(command, cwd=server_dir(root, spec), env=server_env(root, spec, port),
                                   start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except OSError as exc:
        raise VerifyError(f"cannot start {' '.join(command)!r}: {exc}") from exc
    try:
        wait_healthy(process, port, spec.server.health_path, STARTUP_TIMEOUT)
    except VerifyError as exc:
        stop(process)
        tail = (process.stderr.read().decode(errors="replace") if process.stderr else "")[-2000:]
        raise VerifyError(f"{exc.message}\n{tail}".rstrip()) from None
    return process, port


def stop(process: subprocess.Popen) -> None:
    """SIGTERM the server's process group, then SIGKILL whatever of it is left (forked workers)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def request(client: Any, case: dict[str, Any]) -> Any:
    """Send one case; the answer as the fal side reports it (``response_value``)."""
    method = str(case.get("method", "POST")).upper()
    path = case.get("endpoint", "/")
    body = case.get("input", {})
    if method in _BODYLESS:
        response = client.request(method, path, params=body or None)
    else:
        response = client.request(method, path, json=body)
    return response_value(response)


def run_source(root: Path, spec: AppSpec, cases: list[dict[str, Any]]) -> list[Any]:
    """One value per case (a failing request gives ``{"error": "..."}``)."""
    import httpx

    process, port = start(Path(root), spec)
    results: list[Any] = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            for case in cases:
                try:
                    results.append(request(client, case))
                except httpx.HTTPError as exc:
                    results.append({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        stop(process)
    return results


def fal_side_env(src: Path, spec: AppSpec) -> dict[str, str]:
    """The image's ENV for the fal side's worker: a ``--native`` app runs in that image."""
    del src
    return dict(spec.image.env)
