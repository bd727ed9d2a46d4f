"""Fixtures for the build pipeline tests: a captured progress log and small build contexts."""

from __future__ import annotations

import io
import socket
import tarfile
import threading
import uuid
from pathlib import Path

import pytest

from falmigrate import progress


class CaptureSink:
    """A progress sink that keeps every log line (what the CLI would print)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def start(self, key, description, total):
        pass

    def advance(self, key, amount):
        pass

    def finish(self, key):
        pass

    def log(self, message: str) -> None:
        self.lines.append(message)


@pytest.fixture
def captured_log():
    sink = CaptureSink()
    with progress.use_sink(sink):
        yield sink


@pytest.fixture
def unique_repo(registry) -> str:
    return f"{registry}/build-tests/{uuid.uuid4().hex[:10]}"


def write_context(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def archive_members(archive: Path) -> dict[str, bytes]:
    """Every file of every layer of a docker-archive tar: {layer/path: content}."""
    found: dict[str, bytes] = {}
    with tarfile.open(archive) as outer:
        for member in outer.getmembers():
            if not member.isfile():
                continue
            data = outer.extractfile(member).read()
            found[member.name] = data
            if member.name.endswith((".tar", "/layer.tar")) or "blobs/sha256/" in member.name:
                try:
                    with tarfile.open(fileobj=io.BytesIO(data)) as inner:
                        for item in inner.getmembers():
                            if item.isfile():
                                found[f"{member.name}!{item.name}"] = inner.extractfile(item).read()
                except tarfile.TarError:
                    pass
    return found


@pytest.fixture
def tcp_docker_host(docker_host):
    """The test engine reached over TCP: a loopback port relayed to its unix socket (what a remote
    engine in DOCKER_HOST=tcp://host:port looks like to our code: the SDK's and the docker CLI's HTTP
    over TCP). Yields ``tcp://127.0.0.1:PORT`` and the number of connections relayed."""
    assert docker_host.startswith("unix://"), docker_host
    target = docker_host[len("unix://"):]
    server = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def serve() -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            accepted.append(1)
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(target)
            threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=pump, args=(upstream, client), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield f"tcp://127.0.0.1:{server.getsockname()[1]}", accepted
    server.close()
