"""Startup set first: a pull writes the files the image's startup profile names (marked in its FlashPack
TOCs) before anything else — observed through the unpack's progress events — and reports when they were
all on disk (``startup_ready_seconds`` <= the whole pull). The rootfs is the same as an in-order unpack,
and a cold pull fetches the startup bytes only once."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from falmigrate import progress
from falmigrate.oci.remote import reference
from falmigrate.oci.remote.pull import pull_reference
from falmigrate.oci.remote.push import push_layout
from falmigrate.oci.transports import repack
from falmigrate.oci.untar import unpack_layers
from tests.remote.conftest import manifest_of
from tests.remote.imagegen import layout_from_trees
from tests.remote.test_push_pull import _tree

PROFILE = ["/usr/bin/python3", "/lib/x86_64-linux-gnu/libfoo.so.1", "/usr/lib/x86_64-linux-gnu/libfoo.so.1",
           "/usr/lib/x86_64-linux-gnu/libbar.so", "/opt/stack/torchish/core.so", "/app/main.py"]
# what the pull must write first: the profiled files, the symlinks on their way and behind them
STARTUP = {"usr/bin/python3", "usr/bin/python3.11", "lib", "usr/lib/x86_64-linux-gnu/libfoo.so.1",
           "usr/lib/x86_64-linux-gnu/libbar.so", "opt/stack/torchish/core.so", "app/main.py"}


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def start(self, key: int, description: str, total: int | None) -> None: ...
    def advance(self, key: int, amount: int) -> None: ...
    def finish(self, key: int) -> None: ...
    def log(self, message: str) -> None: ...

    def event(self, kind: str, detail: str) -> None:
        self.events.append((kind, detail))


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.fixture(scope="module")
def profiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Three layers like a GPU image: a base (merged /usr, python, libraries), a stack (one big file, many
    small ones), an app; the profile's files are scattered among the others. Packed by our writer with
    the profile (entries marked, tar order kept). Returns (FlashPack layout, plain layout)."""
    root = tmp_path_factory.mktemp("startup")
    rng = random.Random(7)
    base, stack, app = root / "base", root / "stack", root / "app"
    libdir = base / "usr/lib/x86_64-linux-gnu"
    for n in range(60):
        _write(libdir / f"libother{n:02d}.so", rng.randbytes(20_000))
    _write(libdir / "libfoo.so.1", rng.randbytes(300_000))
    _write(libdir / "libbar.so", b"old bar")  # replaced by the stack layer
    _write(base / "usr/bin/python3.11", rng.randbytes(50_000))
    (base / "usr/bin/python3").symlink_to("python3.11")
    (base / "lib").symlink_to("usr/lib")
    for n in range(80):
        _write(stack / f"opt/stack/pkg{n:02d}/mod.py", f"VALUE = {n}\n".encode() * 200)
    _write(stack / "opt/stack/torchish/core.so", rng.randbytes(3 << 20))  # chunked (>= 1 MiB)
    _write(stack / "opt/stack/torchish/big_unused.so", rng.randbytes(4 << 20))
    _write(stack / "usr/lib/x86_64-linux-gnu/libbar.so", rng.randbytes(10_000))
    _write(app / "app/main.py", b"import torchish\n")
    _write(app / "app/README", b"not read at start\n")
    plain = layout_from_trees([base, stack, app], root / "plain")
    layout = root / "fp"
    repack(f"oci:{plain}:latest", f"oci:{layout}:latest", "flashpack", [p.lstrip("/") for p in PROFILE])
    return layout, plain


def _expected_tree(plain: Path, dest: Path) -> dict:
    blobs = [plain / "blobs" / "sha256" / layer["digest"].split(":")[1]
             for layer in manifest_of(plain)["layers"]]
    unpack_layers(blobs, dest)
    return _tree(dest)


def test_cold_pull_writes_the_startup_set_first(registry, profiled, repo, tmp_path) -> None:
    layout, plain = profiled
    push_layout(layout, "latest", reference.parse(f"{registry}/{repo}:v1"))
    sink = Recorder()
    with progress.use_sink(sink):
        result = pull_reference(reference.parse(f"{registry}/{repo}:v1"), tmp_path / "store",
                                to=tmp_path / "fs")
    files = [detail for kind, detail in sink.events if kind == "unpack.file"]
    first = files[:len(STARTUP)]
    assert set(first) == STARTUP, first
    assert STARTUP.isdisjoint(files[len(STARTUP):])  # and never written again
    assert result.startup_files == len(STARTUP)
    assert 0 < result.startup_ready_seconds <= result.seconds
    ready = [detail for kind, detail in sink.events if kind == "pull.startup_ready"]
    assert ready == [str(result.startup_ready_seconds)]
    assert _tree(tmp_path / "fs") == _expected_tree(plain, tmp_path / "expected")
    # the startup bytes were fetched once: the blobs, their TOCs (read first), manifest and config
    manifest = manifest_of(layout)
    tocs = sum(int(v.split(":")[1]) for layer in manifest["layers"] for k, v in layer["annotations"].items()
               if k.startswith("io.github") and k.endswith("manifest-position"))
    image = sum(layer["size"] for layer in manifest["layers"]) + manifest["config"]["size"]
    assert image + tocs < result.stats.bytes_fetched <= image + tocs + 4096, result.stats.as_dict()
    # base and stack: the rest of the blob around the ranges fetched first; the app layer's rest (one
    # small file) is less than half of it, so it is fetched as a file
    assert [layer["mode"] for layer in result.layers] == ["full", "full", "partial"]


def test_a_pull_from_the_store_writes_the_startup_set_first_too(registry, profiled, repo, tmp_path) -> None:
    """With the image already in the store, the startup files come from the stored blobs' frames."""
    layout, _ = profiled
    push_layout(layout, "latest", reference.parse(f"{registry}/{repo}:v1"))
    store = tmp_path / "store"
    pull_reference(reference.parse(f"{registry}/{repo}:v1"), store, to=tmp_path / "one")
    sink = Recorder()
    with progress.use_sink(sink):
        result = pull_reference(reference.parse(f"{registry}/{repo}:v1"), store, to=tmp_path / "two")
    files = [detail for kind, detail in sink.events if kind == "unpack.file"]
    assert set(files[:len(STARTUP)]) == STARTUP
    assert result.startup_ready_seconds <= result.seconds
    manifest_bytes = (layout / "blobs" / "sha256" / result.digest.split(":")[1]).stat().st_size
    assert result.stats.bytes_fetched == manifest_bytes  # nothing but the manifest
    assert _tree(tmp_path / "two") == _tree(tmp_path / "one")


def test_cli_json_reports_startup_ready(registry, profiled, repo, tmp_path) -> None:
    layout, _ = profiled
    push_layout(layout, "latest", reference.parse(f"{registry}/{repo}:v1"))
    done = subprocess.run([sys.executable, "-m", "falmigrate", "pull", f"docker://{registry}/{repo}:v1",
                           "--store", str(tmp_path / "store"), "--to", str(tmp_path / "fs"), "--json"],
                          capture_output=True, text=True, check=False, env=os.environ.copy())
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["startup_files"] == len(STARTUP)
    assert 0 < report["startup_ready_seconds"] <= report["seconds"]
    assert report["bytes_fetched"] > 0 and "bytes_reused" in report
