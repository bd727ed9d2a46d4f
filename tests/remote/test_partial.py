"""Partial pull: after one small file changes in a ~200 MB single-layer FlashPack (zstd:chunked) image,
the update pull fetches only that file's frames, the TOC, the manifest and the config — counted by our
client and by the registry's own access log."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from falmigrate.oci.remote import reference
from falmigrate.oci.remote.pull import pull_reference
from falmigrate.oci.remote.push import push_layout
from tests.remote.conftest import manifest_of
from tests.remote.imagegen import layout_from_tree, make_tree, recompress
from tests.remote.test_push_pull import _tree

_LOG_LINE = re.compile(r'"(GET|HEAD) (/v2/\S+) HTTP/[\d.]+" (\d{3}) (\d+)')


def _log_bytes(log: Path, start: int, repo: str) -> int:
    with log.open("rb") as handle:
        handle.seek(start)
        text = handle.read().decode(errors="replace")
    return sum(int(m.group(4)) for m in _LOG_LINE.finditer(text) if f"/v2/{repo}/" in m.group(2))


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, Path]:
    base = tmp_path_factory.mktemp("big")
    tree = make_tree(base / "tree")
    v1 = recompress(layout_from_tree(tree, base / "plain1"), base / "v1", "zstd:chunked")
    shutil.copytree(tree, base / "tree_v1", symlinks=True)
    (tree / "app" / "config.txt").write_text("version = 2\n" + "x = 2\n" * 2000)
    v2 = recompress(layout_from_tree(tree, base / "plain2"), base / "v2", "zstd:chunked")
    return v1, v2, tree, base


def test_update_pull_fetches_only_the_changed_file(registry, registry_log, repo, two_versions, tmp_path) -> None:
    v1, v2, tree, _ = two_versions
    push_layout(v1, "latest", reference.parse(f"{registry}/{repo}:v1"))
    push_layout(v2, "latest", reference.parse(f"{registry}/{repo}:v2"))
    store = tmp_path / "store"
    first = pull_reference(reference.parse(f"{registry}/{repo}:v1"), store, to=tmp_path / "a")
    layer_size = manifest_of(v2)["layers"][0]["size"]
    assert layer_size > 190 << 20
    assert [layer["mode"] for layer in first.layers] == ["full"]  # cold: whole blob, TOC remembered
    assert first.stats.bytes_fetched < layer_size * 1.01
    assert _tree(tmp_path / "a") == _tree(two_versions[3] / "tree_v1")

    start = registry_log.stat().st_size
    update = pull_reference(reference.parse(f"{registry}/{repo}:v2"), store, to=tmp_path / "b")
    assert _tree(tmp_path / "b") == _tree(tree)
    stats = update.stats
    assert stats.files_fetched == 1 and stats.files_reused == 41
    assert [layer["mode"] for layer in update.layers] == ["partial"]
    assert stats.bytes_fetched <= layer_size // 100, stats.as_dict()  # ≤ 1% of the image
    # the registry saw the same bytes leave (its log is written as requests complete)
    deadline = time.monotonic() + 5
    while _log_bytes(registry_log, start, repo) < stats.bytes_fetched and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _log_bytes(registry_log, start, repo) == stats.bytes_fetched
    # exactly: manifest + config + the layer's compressed TOC + the one small file's frames
    manifest = manifest_of(v2)
    toc_length = int(next(v for k, v in manifest["layers"][0]["annotations"].items()
                          if k.endswith("manifest-position")).split(":")[1])
    manifest_bytes = (v2 / "blobs" / "sha256" / update.digest.split(":")[1]).stat().st_size
    fixed = manifest_bytes + manifest["config"]["size"] + toc_length
    assert fixed < stats.bytes_fetched <= fixed + (16 << 10), (fixed, stats.as_dict())
