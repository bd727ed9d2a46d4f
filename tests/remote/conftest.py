"""Fixtures for registry tests: small OCI layouts (gzip and zstd:chunked) made from the harness's busybox
image, unique repository names, and a per-test cache/Docker-config so nothing leaks between tests."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from falmigrate.cli.app import app


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "docker-config").mkdir()
    (tmp_path / "docker-config" / "config.json").write_text("{}")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))


@pytest.fixture
def repo() -> str:
    return f"test/{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def busybox_archive(docker_client, tiny_image: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("archive") / "busybox.tar"
    with path.open("wb") as handle:
        for chunk in docker_client.images.get(tiny_image).save(named=True):
            handle.write(chunk)
    return path


def skopeo_layout(archive: Path, dest: Path, compression: str) -> Path:
    subprocess.run(["skopeo", "copy", "-q", "--dest-compress-format", compression,
                    f"docker-archive:{archive}", f"oci:{dest}:latest"], check=True, capture_output=True)
    return dest


@pytest.fixture(scope="session")
def gzip_layout(busybox_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return skopeo_layout(busybox_archive, tmp_path_factory.mktemp("gz") / "layout", "gzip")


@pytest.fixture(scope="session")
def chunked_layout(busybox_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return skopeo_layout(busybox_archive, tmp_path_factory.mktemp("zc") / "layout", "zstd:chunked")


@pytest.fixture(scope="session")
def flashpack_layout(busybox_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The busybox image packed by our own FlashPack writer."""
    from falmigrate.oci.transports import repack

    dest = tmp_path_factory.mktemp("fp") / "layout"
    repack(f"docker-archive:{busybox_archive}", f"oci:{dest}:latest", "flashpack")
    return dest


def manifest_of(layout: Path) -> dict:
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":", 1)[1]
    return json.loads((layout / "blobs" / "sha256" / digest).read_text())


@pytest.fixture
def cli():
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args), catch_exceptions=False)
    return invoke
