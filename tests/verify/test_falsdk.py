"""The private fal API falmigrate's own checks rely on, against the installed fal: if a fal release
renames or changes any of it, this fails first and names what moved (falmigrate/falsdk.py is the one
module to adapt)."""

from __future__ import annotations

import fal
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from falmigrate import falsdk


class _Ping(BaseModel):
    text: str


class _Pong(BaseModel):
    text: str


class _App(fal.App):
    def setup(self) -> None:
        self.prefix = "pong:"

    @fal.endpoint("/")
    def ping(self, request: _Ping) -> _Pong:
        return _Pong(text=self.prefix + request.text)


def test_an_app_is_created_outside_fals_runner_only_through_allow_init():
    with pytest.raises(Exception):  # noqa: B017 - fal's own refusal, whatever its type
        _App()
    assert isinstance(falsdk.new_app(_App), _App)


def test_build_app_gives_a_fastapi_app_whose_lifespan_runs_setup():
    asgi = falsdk.asgi_app(falsdk.new_app(_App))
    assert isinstance(asgi, FastAPI), "fal.App._build_app no longer returns a FastAPI app"
    with TestClient(asgi) as client:
        assert client.post("/", json={"text": "a"}).json() == {"text": "pong:a"}
        assert client.post("/", json={}).status_code == 422


def test_in_memory_file_repository_gives_data_urls():
    from fal.toolkit import File

    falsdk.use_in_memory_files()
    assert File.from_bytes(b"abc", content_type="text/plain").url.startswith("data:")


def test_start_runs_setup_of_the_named_classes(tmp_path, monkeypatch):
    (tmp_path / "sdk_probe_app.py").write_text(
        "import fal\nRAN = []\n\nclass A(fal.App):\n    def setup(self):\n        RAN.append('A')\n\n"
        "class B(fal.App):\n    async def setup(self):\n        RAN.append('B')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    falsdk.start("sdk_probe_app", ["B"])
    import sdk_probe_app

    assert sdk_probe_app.RAN == ["B"]
    falsdk.start("sdk_probe_app")
    assert sdk_probe_app.RAN == ["B", "A", "B"]
