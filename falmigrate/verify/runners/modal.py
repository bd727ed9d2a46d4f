"""Source side of ``falmigrate verify`` for Modal: run the user's app locally through Modal's own path.

No cloud: ``Cls().method.local(x)`` (Modal runs the ``@enter`` methods first, once per instance) and
``fn.local(x)`` for functions; an ``asgi_app``/``wsgi_app`` factory's ``.local()`` returns the app,
which is then called in-process; a ``web_server`` function's ``.local()`` starts the server, which is
then sent real HTTP requests. How to call each endpoint comes from ``ModalDetails.apps`` (written by
the importer). Runs inside the verify worker subprocess (cwd = the source root).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from falmigrate.errors import VerifyError
from falmigrate.importers.modal.entry import package_root
from falmigrate.spec import AppSpec, ModalAppDetails, ModalDetails, ModalServer, ServerSpec
from falmigrate.verify.normalize import response_value  # both sides of a server answer alike


def _module(root: Path, spec: AppSpec) -> Any:
    """Import the entry module the way ``modal run`` does (a package entry by its dotted name)."""
    entry = Path(spec.source.entry_file or "app.py")
    folder, name = package_root(root.resolve(), (root / entry).resolve())
    for path in (str((root / entry).parent.resolve()), str((root / folder).resolve())):
        if path not in sys.path:
            sys.path.insert(0, path)
    _old_names()
    try:
        return importlib.import_module(name)
    except Exception as exc:  # the user's module failed to import: the source side cannot start
        raise VerifyError(f"cannot import {entry} under modal: {type(exc).__name__}: {exc}",
                          file=str(entry)) from exc


def _old_names() -> None:
    """Run apps written for Modal's old API under the installed SDK: ``modal.Stub`` is ``modal.App``
    renamed (Modal's own error says "This is a simple name change")."""
    import modal

    if not hasattr(modal, "Stub"):
        modal.Stub = modal.App  # type: ignore[attr-defined]


def _resolve(value: Any) -> Any:
    """Await coroutines and collect (async) generators, as a Modal client would see the results."""
    if inspect.iscoroutine(value):
        value = asyncio.run(value)
    if inspect.isasyncgen(value):
        async def _collect(gen: Any) -> list[Any]:
            return [item async for item in gen]
        return asyncio.run(_collect(value))
    if inspect.isgenerator(value):
        return list(value)
    return value


class _Runner:
    def __init__(self, root: Path, spec: AppSpec) -> None:
        self.module = _module(root, spec)
        self.apps: dict[str, ModalAppDetails] = spec.require_details(ModalDetails).apps
        self.primary = spec.class_name
        self.instances: dict[str, Any] = {}
        self.served: dict[str, Any] = {}

    def _instance(self, class_name: str) -> Any:
        if class_name not in self.instances:
            instance = getattr(self.module, class_name)()
            # Modal 1.6.4's local path runs @enter before sync methods but not before async ones
            # (its _aenter only honours __aenter__); a container always runs them at start, so do
            # the same here through the same (private) entry point Modal's sync path uses.
            enter = getattr(instance, "_enter", None)
            if callable(enter):
                enter()
            self.instances[class_name] = instance
        return self.instances[class_name]

    def _target(self, owner: str | None, name: str) -> Any:
        return getattr(self._instance(owner), name) if owner else getattr(self.module, name)

    def run(self, case: dict[str, Any]) -> Any:
        app_name = case.get("app") or self.primary
        app = self.apps.get(app_name)
        if app is None:
            raise VerifyError(f"case {case.get('name')!r}: no app {app_name!r} in the spec")
        path = case.get("endpoint", "/")
        body = case.get("input", {})
        if app.server is not None:
            return self._serve(app_name, app, app.server, path, case.get("method", "POST"), body)
        call = app.calls.get(path)
        if call is None:
            raise VerifyError(f"case {case.get('name')!r}: {app_name} has no endpoint {path!r}")
        fn = self._target(call.owner, call.name)
        if call.body_param is not None:
            arg = (getattr(self.module, call.body_type).model_validate(body)
                   if call.body_type != "dict" else body)
            args, kwargs = [[arg] if call.batched else arg], {}
        else:
            args, kwargs = [], ({k: [v] for k, v in body.items()} if call.batched else dict(body))
        result = _resolve(fn.local(*args, **kwargs))
        return result[0] if call.batched else result

    def _serve(self, app_name: str, app: ModalAppDetails, server: ModalServer, path: str, method: str,
               body: Any) -> Any:
        import httpx

        if app_name not in self.served:
            factory = self._target(server.owner, server.name)
            self.served[app_name] = _resolve(factory.local())
            if app.kind == "web_server" and server.port is not None:
                _wait_for_port(server.port, server.startup_timeout or 5.0)
        target = self.served[app_name]
        # the same request the fal side's worker sends: a query string for body-less methods
        payload = {"params": body} if method.upper() in ("GET", "HEAD", "DELETE") else {"json": body}
        if app.kind == "asgi_app":
            from starlette.testclient import TestClient

            with TestClient(target) as client:
                response = client.request(method, path, **payload)
        elif app.kind == "wsgi_app":
            with httpx.Client(transport=httpx.WSGITransport(app=target), base_url="http://app") as client:
                response = client.request(method, path, **payload)
        else:
            response = httpx.request(method, f"http://127.0.0.1:{server.port}{path}", timeout=60, **payload)
        return response_value(response)


def _wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise VerifyError("the Modal web_server did not listen on port "
                                  f"{port} within {timeout}s") from exc
            time.sleep(0.1)


def _children() -> list[int]:
    """PIDs of this process's children (servers a web_server function started)."""
    pids = []
    me = str(os.getpid())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and fields[1] == me:
            pids.append(int(entry.name))
    return pids


def _stop_children(before: set[int]) -> None:
    for pid in sorted(set(_children()) - before):
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            continue
    for pid in sorted(set(_children()) - before):
        try:
            os.waitpid(pid, 0)
        except OSError:
            pass


def run_source(root: Path, spec: AppSpec, cases: list[dict[str, Any]]) -> list[Any]:
    """One value per case (a failing case gives ``{"error": "..."}``)."""
    before = set(_children()) if Path("/proc").is_dir() else set()
    os.environ.update(image_environment(spec))
    runner = _Runner(Path(root), spec)
    results: list[Any] = []
    try:
        for case in cases:
            try:
                results.append(runner.run(case))
            except VerifyError:
                raise
            except Exception as exc:  # noqa: BLE001 - the user's code raised: a result to compare
                results.append({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        if Path("/proc").is_dir():
            _stop_children(before)
    return results


def image_environment(spec: AppSpec) -> dict[str, str]:
    """What the image chain sets (``.env()``, ENV lines of the steps, kept in order as Dockerfile lines):
    Modal sets it in the container before the app module is imported, and so does the fal image."""
    from falmigrate.dockerfile import parse_text

    steps = "FROM scratch\n" + "".join(f"{line}\n" for line in spec.image.dockerfile_extra)
    return {**spec.image.env, **parse_text(steps, "image steps", check_references=False).final.env}


def fal_side_env(src: Path, spec: AppSpec) -> dict[str, str]:
    """In the image the project is copied next to fal_app.py; offline, its modules come from SRC."""
    paths = [str(Path(src).resolve()), os.environ.get("PYTHONPATH", "")]
    return {**image_environment(spec), "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _served_command(out: Path, server: ServerSpec) -> tuple[list[str], int]:
    """The image's CMD for this app, run from OUT (the launcher next to it) on a
    free port when it may move."""
    command = [sys.executable, *server.command[1:]]
    command[1] = str(out / Path(command[1]).name)
    port = server.port
    if server.kind in ("asgi", "wsgi"):
        port = _free_port()
        command[command.index("--port") + 1] = str(port)
    return command, port


def _wait_for_http(port: int, path: str, process: subprocess.Popen, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise VerifyError(f"the served app exited with {process.returncode} before answering")
        try:
            httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise VerifyError(f"the served app did not answer GET {path} on port {port} within {timeout:.0f}s")


def _request(port: int, case: dict[str, Any]) -> Any:
    import httpx

    method = str(case.get("method", "POST")).upper()
    body = case.get("input", {})
    payload = {"params": body} if method in ("GET", "HEAD", "DELETE") else {"json": body}
    response = httpx.request(method, f"http://127.0.0.1:{port}{case.get('endpoint', '/')}",
                             timeout=60, **payload)
    return response_value(response)


def run_output(out: Path, spec: AppSpec, cases: list[dict[str, Any]]) -> list[Any]:
    """The image-only side: each app's image CMD (the launcher) run from OUT, sent the cases over HTTP."""
    apps = {app.class_name: app for app in spec.served_apps()}
    results: dict[int, Any] = {}
    groups: dict[str, list[int]] = {}
    for index, case in enumerate(cases):
        groups.setdefault(case.get("app") or spec.class_name, []).append(index)
    for name, indexes in groups.items():
        app = apps.get(name)
        if app is None or app.server is None:
            raise VerifyError(f"no image-only app {name!r} in the spec")
        command, port = _served_command(Path(out), app.server)
        process = subprocess.Popen(command, cwd=out, start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _wait_for_http(port, app.server.health.path, process, 60.0)
            for index in indexes:
                try:
                    results[index] = _request(port, cases[index])
                except Exception as exc:  # noqa: BLE001 - a failed request is a result to compare
                    results[index] = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    return [results[i] for i in range(len(cases))]
