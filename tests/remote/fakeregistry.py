"""An in-process HTTP proxy in front of the real registry that injects faults (and can demand Bearer
tokens), for tests of retries, resume, integrity checks and the token flow."""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

import httpx


@dataclass
class Fault:
    method: str
    path: str  # regex searched in the request path
    action: str  # "status" | "reset" | "truncate" | "corrupt" | "slow" | "reset-body" | "half-then-reset"
    # | "hang" (after reading the body: no answer until the client hangs up, at most 20 s)
    times: int = 1  # -1: always
    status: int = 500
    retry_after: str | None = None
    after: int = 0  # let this many matching requests through first

    def matches(self, method: str, path: str) -> bool:
        return self.times != 0 and method == self.method and re.search(self.path, path) is not None


class FaultProxy:
    def __init__(self, upstream: str, *, token: str | None = None, user: str = "u", password: str = "p",
                 no_ranges: bool = False, host: str = "127.0.0.1") -> None:
        self.no_ranges = no_ranges
        self.upstream = f"http://{upstream}"
        self.faults: list[Fault] = []
        self.log: list[tuple[str, str, int]] = []
        self.token = token
        self.creds = (user, password)
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _handle(self) -> None:
                proxy.handle(self)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.address = f"{host}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.client = httpx.Client(timeout=60)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.client.close()

    def add(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    def _take(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    if fault.after > 0:
                        fault.after -= 1
                        return None
                    if fault.times > 0:
                        fault.times -= 1
                    return fault
        return None

    def _record(self, method: str, path: str, status: int) -> None:
        with self.lock:
            self.log.append((method, path, status))

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        length = int(h.headers.get("Content-Length") or 0)
        fault = self._take(h.command, path)
        if fault and fault.action == "reset-body":
            h.rfile.read(min(length, max(1, length // 2)))
            self._record(h.command, path, 0)
            _reset(h)
            return
        body = h.rfile.read(length) if length else b""
        if fault and fault.action == "hang":  # no answer until the client goes away (it is expected to die)
            self._record(h.command, path, -1)
            _wait_for_hangup(h, timeout=20)
            _reset(h)
            return
        if fault and fault.action == "half-then-reset":
            return self._half_then_reset(h, body)
        if path == "/token":
            return self._token(h)
        if (self.token and path.startswith("/v2/")
                and h.headers.get("Authorization") != f"Bearer {self.token}"):
            realm = f"http://{self.address}/token"
            self._record(h.command, path, 401)
            return self._reply(h, 401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', {
                "WWW-Authenticate": f'Bearer realm="{realm}",service="fake",scope="repository:x:pull"'})
        if fault and fault.action == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            self._record(h.command, path, fault.status)
            return self._reply(h, fault.status,
                               b'{"errors":[{"code":"UNAVAILABLE","message":"injected"}]}', headers)
        if fault and fault.action == "reset":
            self._record(h.command, path, 0)
            _reset(h)
            return
        self._forward(h, path, body, fault.action if fault else None)

    def _forward(self, h: BaseHTTPRequestHandler, path: str, body: bytes, action: str | None) -> None:
        """The upstream registry's answer, spoilt as the fault's action says (corrupt, truncate, slow)."""
        dropped = ("host", "authorization", "content-length") + (("range",) if self.no_ranges else ())
        headers = {k: v for k, v in h.headers.items() if k.lower() not in dropped}
        resp = self.client.request(h.command, self.upstream + h.path, content=body, headers=headers)
        data = resp.content
        self._record(h.command, path, resp.status_code)
        out = {k: v for k, v in resp.headers.items()
               if k.lower() not in ("content-length", "transfer-encoding", "connection",
                                    "content-encoding", "location")}
        if "location" in resp.headers:
            out["Location"] = resp.headers["location"].replace(self.upstream, f"http://{self.address}")
        if action == "corrupt" and data:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        if action == "truncate" and data:
            return _truncated(h, resp.status_code, out, data)
        if action == "slow":
            return self._slow(h, resp.status_code, out, data)
        self._reply(h, resp.status_code, data if h.command != "HEAD" else b"", out,
                    length=len(data) if h.command != "HEAD" else int(resp.headers.get("content-length") or 0))

    def _half_then_reset(self, h, body: bytes) -> None:
        """The registry gets the first half of an upload's body, then the client's connection breaks:
        the upload session really holds partial data (as after a reset mid-transfer)."""
        start = int((h.headers.get("Content-Range") or "0-0").split("-")[0])
        half = body[: len(body) // 2]
        target = self.upstream + h.path.split("?", 1)[0]
        headers = {"Content-Type": "application/octet-stream",
                   "Content-Range": f"{start}-{start + len(half) - 1}"}
        resp = self.client.request("PATCH", target, content=half, headers=headers)
        self._record(h.command, h.path.split("?", 1)[0], 0)
        assert resp.status_code == 202, resp.text
        _reset(h)

    def _slow(self, h, status: int, headers: dict, data: bytes) -> None:
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        try:
            for i in range(0, len(data), 16384):
                h.wfile.write(data[i:i + 16384])
                h.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass

    def _token(self, h) -> None:
        expected = "Basic " + base64.b64encode(":".join(self.creds).encode()).decode()
        self._record(h.command, "/token", 200 if h.headers.get("Authorization") == expected else 401)
        if h.headers.get("Authorization") != expected:
            return self._reply(h, 401, b'{"details":"bad credentials"}', {})
        self._reply(h, 200, json.dumps({"token": self.token}).encode(), {"Content-Type": "application/json"})

    def _reply(self, h, status: int, body: bytes, headers: dict, length: int | None = None) -> None:
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body) if length is None else length))
        h.end_headers()
        if body and h.command != "HEAD":
            h.wfile.write(body)


def _truncated(h: BaseHTTPRequestHandler, status: int, headers: dict, data: bytes) -> None:
    """Half of the body the headers announce, then a reset connection."""
    h.send_response(status)
    for k, v in headers.items():
        h.send_header(k, v)
    h.send_header("Content-Length", str(len(data)))
    h.end_headers()
    h.wfile.write(data[: len(data) // 2])
    h.wfile.flush()
    _reset(h)


def _reset(h: BaseHTTPRequestHandler) -> None:
    """Close the connection abruptly (RST)."""
    import struct

    try:
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        h.connection.close()
    except OSError:
        pass
    h.close_connection = True


def _wait_for_hangup(h: BaseHTTPRequestHandler, timeout: float) -> None:
    """Block until the client closes its end of the connection (a read sees EOF or an error), at most
    ``timeout`` seconds: a server that never answers, for as long as anyone is waiting for it."""
    try:
        h.connection.settimeout(timeout)
        while h.rfile.read1(65536):  # a client still sending (it should not) is read and ignored
            pass
    except OSError:  # the timeout, or a reset by the dying client
        pass
