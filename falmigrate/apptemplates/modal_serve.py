"""Serve a Modal web function's app in a plain container, the way Modal's own container does.

fal's image-only route runs this file as the image's CMD (``falmigrate convert`` writes it next to the
Dockerfile as ``falmigrate_modal_serve.py``; it is copied whole, it needs nothing of falmigrate)::

    python3 falmigrate_modal_serve.py asgi app:web --port 8000          # @modal.asgi_app → uvicorn
    python3 falmigrate_modal_serve.py wsgi app:Model.web --port 8000    # @modal.wsgi_app → gunicorn
    python3 falmigrate_modal_serve.py web_server app:serve --port 8000  # @modal.web_server: its own command

The user's module is imported unchanged, with the ``modal`` package installed in the image: Modal's
definitions are lazy (importing the module contacts nothing), and Modal's own local-call path runs the
function the way a Modal container does — a class's ``__enter__`` and ``@modal.enter`` methods first,
then the factory that returns the app (or, for ``web_server``, starts the server process). The app
object is then served bound to 0.0.0.0, so streaming responses, server-sent events and websockets reach
clients exactly as they did on Modal.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import os
import signal
import socket
import sys
import threading
import time
from typing import Any


def load_factory(target: str, paths: list[str]) -> Any:
    """The Modal function ``module:name`` or ``module:Class.method``, ready for ``.local()``."""
    here = os.path.dirname(os.path.abspath(__file__))
    for folder in reversed([here, *(os.path.join(here, p) for p in paths)]):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    module_name, _, qualname = target.partition(":")
    module = importlib.import_module(module_name)
    owner, _, name = qualname.rpartition(".")
    if not owner:
        return getattr(module, name)
    instance = getattr(module, owner)()
    # A Modal container runs a class's enter methods when it starts, before any method; Modal's local
    # path does so before sync methods only (modal 1.x: ``_Obj._enter``), so run them here for both.
    enter = getattr(instance, "_enter", None)
    if callable(enter):
        enter()
    return getattr(instance, name)


def build_app(target: str, paths: list[str]) -> Any:
    """The ASGI/WSGI app the factory returns (an ``async def`` factory is awaited)."""
    app = load_factory(target, paths).local()
    if inspect.iscoroutine(app):
        app = asyncio.run(app)
    return app


def serve_asgi(app: Any, port: int) -> None:
    import uvicorn

    uvicorn.run(app, host="0.0.0.0", port=port, log_level="info")


def serve_wsgi(app: Any, port: int, threads: int) -> None:
    from gunicorn.app.base import BaseApplication

    class _Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options = {"bind": f"0.0.0.0:{port}", "workers": 1, "threads": threads, "timeout": 0}
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return app

    _Server().run()


def wait_for_port(port: int, timeout: float) -> None:
    """Wait until something listens on the port (Modal's web_server ``startup_timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("the web server did not listen on port "
                                 f"{port} within {timeout:g}s") from None
            time.sleep(0.1)


def serve_web_server(target: str, paths: list[str], port: int, timeout: float) -> int:
    """Run the user's web_server function (it starts its server), then live as long as the server does."""
    if os.getpgrp() != os.getpid():
        try:
            os.setpgrp()  # the server processes the function starts share this group: stopped together
        except OSError:
            pass
    signal.signal(signal.SIGTERM, _stop_children)
    result = load_factory(target, paths).local()
    if inspect.iscoroutine(result):
        asyncio.run(result)
    wait_for_port(port, timeout)
    while True:
        try:
            _, status = os.wait()
        except ChildProcessError:  # the server runs in a thread of this process
            threading.Event().wait()
            return 0
        return os.waitstatus_to_exitcode(status)


def _stop_children(signum: int, frame: Any) -> None:
    """SIGTERM (the container stops): pass it on to the server processes, then exit."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if os.getpgrp() == os.getpid():
        os.killpg(os.getpgrp(), signal.SIGTERM)
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve a Modal web function's app (asgi, "
                                                 "wsgi or web_server).")
    parser.add_argument("kind", choices=("asgi", "wsgi", "web_server"))
    parser.add_argument("target", help="module:function or module:Class.method")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--threads", type=int, default=1, help="WSGI request threads")
    parser.add_argument("--startup-timeout", type=float, default=5.0,
                        help="web_server: seconds to wait for the port")
    parser.add_argument("--path", action="append", default=[],
                        help="more folders (relative to this file) to import from")
    args = parser.parse_args(argv)
    if args.kind == "web_server":
        return serve_web_server(args.target, args.path, args.port, args.startup_timeout)
    app = build_app(args.target, args.path)
    if args.kind == "asgi":
        serve_asgi(app, args.port)
    else:
        serve_wsgi(app, args.port, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
