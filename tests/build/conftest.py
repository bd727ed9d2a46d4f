"""Fixtures for the build pipeline tests: a captured progress log and small build contexts."""

from __future__ import annotations

import io
import tarfile
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
