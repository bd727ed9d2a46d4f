"""Helpers of Modal web apps rewritten as fal endpoints (``falmigrate convert --native``).

fal endpoints answer POST only, so the generated catch-all endpoint ``POST /{path}`` forwards each
request to the user's ASGI/WSGI app (in-process) or ``web_server`` (a local port) with POST; when the
app answers 405 (a GET route, say), the request is sent again as GET with the JSON body's fields as
query parameters. Copied into generated apps by ``falmigrate.render.snippets`` (only what an app uses).
"""

import json
import os
import signal
import socket
import time
from typing import Any

import httpx
from fastapi import Request, Response

_HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}


def _falmigrate_response(upstream: httpx.Response) -> Response:
    headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_HEADERS}
    return Response(content=upstream.content, status_code=upstream.status_code, headers=headers)


def _falmigrate_query(request: Request, body: bytes) -> dict[str, Any]:
    """The query parameters of a GET retry: the request's own plus the JSON body's fields."""
    params: dict[str, Any] = dict(request.query_params)
    try:
        fields = json.loads(body) if body else {}
    except ValueError:
        return params
    if isinstance(fields, dict):
        params.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()})
    return params


async def _falmigrate_forward(request: Request, path: str, *, transport: Any = None,
                              base_url: str = "http://app") -> Response:
    """Send the request on to the served app (in-process ASGI app or local server port)."""
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
    body = await request.body()
    async with httpx.AsyncClient(transport=transport, base_url=base_url, timeout=None) as client:
        upstream = await client.request("POST", "/" + path, params=request.query_params,
                                        headers=headers, content=body)
        if upstream.status_code == 405:
            headers.pop("content-type", None)
            upstream = await client.request("GET", "/" + path, params=_falmigrate_query(request, body),
                                            headers=headers)
    return _falmigrate_response(upstream)


def _falmigrate_forward_wsgi(wsgi_app: Any, request: Request, path: str, body: bytes) -> Response:
    """Send the request on to an in-process WSGI app (run in a worker thread by the endpoint)."""
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
    with httpx.Client(transport=httpx.WSGITransport(app=wsgi_app), base_url="http://app") as client:
        upstream = client.request("POST", "/" + path, params=request.query_params,
                                  headers=headers, content=body)
        if upstream.status_code == 405:
            headers.pop("content-type", None)
            upstream = client.request("GET", "/" + path, params=_falmigrate_query(request, body),
                                      headers=headers)
    return _falmigrate_response(upstream)


def _falmigrate_wait_for_port(port: int, timeout: float) -> None:
    """Wait until a server listens on 127.0.0.1:port (like Modal's web_server startup_timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("the web server did not start listening on port "
                                   f"{port} within {timeout}s") from None
            time.sleep(0.1)


def _falmigrate_children() -> set[int]:
    """PIDs of this process's children (Linux /proc): the server processes setup() started."""
    me, pids = str(os.getpid()), set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[-1].split()
            except OSError:
                continue
            if len(fields) > 1 and fields[1] == me:
                pids.add(int(entry))
    return pids


def _falmigrate_stop(pids: set[int]) -> None:
    """Stop the server processes at teardown."""
    for pid in sorted(pids):
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
