"""Outputs that the Modal SDK of today cannot run on the source side, checked on their own terms.

- the old-API fixture (``modal.Stub``, ``SharedVolume``, ``@stub.webhook``…: modal 1.x cannot import it)
  is converted and its fal apps are called offline; the answers are what the source's code computes;
- the image-only ASGI fixture is served by its launcher exactly as the image's CMD runs it, and its
  websocket and server-sent events reach the client as on Modal (verify compares plain HTTP only).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from falmigrate.convert import convert, write_output
from falmigrate.verify.normalize import normalize
from falmigrate.verify.runners.modal import _free_port, _wait_for_http
from falmigrate.verify.worker import run_fal

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "modal"


def test_old_api_app_answers_like_its_code(tmp_path: Path) -> None:
    result = convert(FIXTURES / "legacy_stub" / "input", "modal")
    out = write_output(result, tmp_path / "out")
    cases = [
        {"name": "count", "endpoint": "/", "input": {"text": "The cat and the dog and a cat"}},
        {"name": "normalize", "app": "LegacyWordsApp", "endpoint": "/normalize",
         "input": {"text": "  A  b C "}},
        {"name": "shout", "app": "LegacyWordsApp", "endpoint": "/shout", "input": {"text": " hi  there "}},
    ]
    old = os.getcwd()
    try:
        answers = [normalize(v) for v in run_fal(out, result.spec, cases)]
    finally:
        os.chdir(old)
    # stopwords.txt drops the/and/a: cat, dog, cat remain; __enter__ read it (setup())
    assert answers == [{"words": 3, "distinct": 2}, "a b c", {"text": "HI THERE"}]


@pytest.fixture
def served_asgi(tmp_path: Path):
    result = convert(FIXTURES / "asgi_app" / "input", "modal")
    out = write_output(result, tmp_path / "out")
    assert result.spec.route == "image_only" and result.spec.server is not None
    command = [sys.executable, *result.spec.server.command[1:]]
    command[1] = str(out / Path(command[1]).name)
    port = _free_port()
    command[command.index("--port") + 1] = str(port)
    process = subprocess.Popen(command, cwd=out, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        _wait_for_http(port, result.spec.server.health.path, process, 60.0)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def test_launcher_serves_websockets_and_server_sent_events(served_asgi: int) -> None:
    with connect(f"ws://127.0.0.1:{served_asgi}/ws") as socket:
        socket.send("hello")
        assert socket.recv(timeout=10) == "HELLO"
        socket.send("bye")
    with httpx.stream("GET", f"http://127.0.0.1:{served_asgi}/events", params={"n": 3},
                      timeout=30) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line]
    assert events == ["data: 0", "data: 1", "data: 4"]
