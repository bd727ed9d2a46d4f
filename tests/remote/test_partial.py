"""Partial pull: after one small file changes in a ~200 MB single-layer FlashPack (zstd:chunked) image,
the update pull fetches only that file's frames, the TOC, the manifest and the config — counted by our
client and by the registry's own access log. And after an edit in the middle of a 48 MiB weights file
in our own FlashPack image, only the changed chunks travel (taken from the stored blob of the old
version, or from the old version's file kept by an earlier partial pull)."""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path

import pytest

from falmigrate.oci.remote import reference
from falmigrate.oci.remote.pull import pull_reference
from falmigrate.oci.remote.push import push_layout
from tests.helpers.wait import wait_until
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


def test_update_pull_fetches_only_the_changed_file(registry, registry_log, repo, two_versions,
                                                   tmp_path) -> None:
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
    wait_until(lambda: _log_bytes(registry_log, start, repo) >= stats.bytes_fetched, timeout=60,
               what=f"the registry log to show the {stats.bytes_fetched} B fetched")
    assert _log_bytes(registry_log, start, repo) == stats.bytes_fetched
    # exactly: manifest + config + the layer's compressed TOC + the one small file's frames
    manifest = manifest_of(v2)
    toc_length = int(next(v for k, v in manifest["layers"][0]["annotations"].items()
                          if k.endswith("manifest-position")).split(":")[1])
    manifest_bytes = (v2 / "blobs" / "sha256" / update.digest.split(":")[1]).stat().st_size
    fixed = manifest_bytes + manifest["config"]["size"] + toc_length
    assert fixed < stats.bytes_fetched <= fixed + (16 << 10), (fixed, stats.as_dict())


def _flashpack_toc(layout: Path) -> tuple[dict, list[dict]]:
    from falmigrate.oci.compress import toc as toclib

    layer = manifest_of(layout)["layers"][0]
    blob = layout / "blobs" / "sha256" / layer["digest"].split(":")[1]
    return layer, toclib.read_toc(toclib.file_reader(blob), layer["size"])["entries"]


def _chunk_frames(entries: list[dict], name: str) -> dict[str, int]:
    """chunk digest → compressed frame size, for the data chunks of file ``name``."""
    from falmigrate.oci.compress import toc as toclib

    chunks = {entry["name"]: found for entry, found in toclib.file_chunks(entries)}
    return {c.digest: c.end - c.offset for c in chunks[name] if not c.zeros}


@pytest.fixture(scope="module")
def edited_weights(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Our FlashPack image of a tree with a 48 MiB sparse-ish weights file, in three versions: v2 and v3
    each overwrite 64 bytes at a different place in the middle of the weights file."""
    from falmigrate.oci.layout import pack_tree
    from tests.oci.test_chunks import write_weights

    base = tmp_path_factory.mktemp("weights")
    tree = base / "tree"
    (tree / "model").mkdir(parents=True)
    (tree / "app").mkdir()
    write_weights(tree / "model" / "weights.bin", 48, seed=5)
    (tree / "app" / "main.py").write_text("print('serving')\n" * 50)
    versions: dict = {}
    for version, at in (("v1", None), ("v2", 0.5), ("v3", 0.3)):
        if at is not None:
            data = bytearray((tree / "model" / "weights.bin").read_bytes())
            spot = int(len(data) * at) + 777
            data[spot:spot + 64] = bytes(range(64))
            (tree / "model" / "weights.bin").write_bytes(bytes(data))
        pack_tree(tree, base / version, "latest", "flashpack")
        shutil.copytree(tree, base / f"tree_{version}")
        versions[version] = base / version
    versions["base"] = base
    return versions


def test_update_pull_after_mid_file_edit_fetches_only_changed_chunks(
        registry, registry_log, repo, edited_weights, tmp_path) -> None:
    v = edited_weights
    for version in ("v1", "v2", "v3"):
        push_layout(v[version], "latest", reference.parse(f"{registry}/{repo}:{version}"))
    store = tmp_path / "store"
    first = pull_reference(reference.parse(f"{registry}/{repo}:v1"), store, to=tmp_path / "r1")
    assert [layer["mode"] for layer in first.layers] == ["full"]
    assert _tree(tmp_path / "r1") == _tree(v["base"] / "tree_v1")

    _, toc1 = _flashpack_toc(v["v1"])
    layer2, toc2 = _flashpack_toc(v["v2"])
    old, new = _chunk_frames(toc1, "model/weights.bin"), _chunk_frames(toc2, "model/weights.bin")
    changed = {d: size for d, size in new.items() if d not in old}
    assert 1 <= len(changed) <= 2 and len(new) > 60
    start = registry_log.stat().st_size
    update = pull_reference(reference.parse(f"{registry}/{repo}:v2"), store, to=tmp_path / "r2")
    assert [layer["mode"] for layer in update.layers] == ["partial"]
    assert _tree(tmp_path / "r2") == _tree(v["base"] / "tree_v2")
    stats = update.stats
    assert stats.files_fetched == 1 and stats.chunks_fetched == len(changed), stats.as_dict()
    weights2 = next(found for entry, found in _files(toc2) if entry["name"] == "model/weights.bin")
    assert stats.chunks_reused == sum(1 for c in weights2 if c.digest not in changed)  # zero runs included
    position = layer2["annotations"]["io.github.containers.zstd-chunked.manifest-position"]
    toc_length = int(position.split(":")[1])
    manifest_bytes = (v["v2"] / "blobs" / "sha256" / update.digest.split(":")[1]).stat().st_size
    fixed = manifest_bytes + manifest_of(v["v2"])["config"]["size"] + toc_length
    assert (fixed + sum(changed.values()) <= stats.bytes_fetched
            <= fixed + sum(changed.values()) + (16 << 10)), (fixed, changed, stats.as_dict())
    assert stats.bytes_fetched < layer2["size"] // 20  # a 48 MiB file changed: a chunk or two travel
    wait_until(lambda: _log_bytes(registry_log, start, repo) >= stats.bytes_fetched, timeout=60,
               what=f"the registry log to show the {stats.bytes_fetched} B fetched")
    assert _log_bytes(registry_log, start, repo) == stats.bytes_fetched

    # without the v1 blob, v3's unchanged chunks come from v2's weights file kept in the store's files/
    (store / "blobs" / "sha256" / manifest_of(v["v1"])["layers"][0]["digest"].split(":")[1]).unlink()
    _, toc3 = _flashpack_toc(v["v3"])
    changed3 = {d: s for d, s in _chunk_frames(toc3, "model/weights.bin").items() if d not in new}
    third = pull_reference(reference.parse(f"{registry}/{repo}:v3"), store, to=tmp_path / "r3")
    assert [layer["mode"] for layer in third.layers] == ["partial"]
    assert _tree(tmp_path / "r3") == _tree(v["base"] / "tree_v3")
    small = sum(e["endOffset"] - e["offset"] for e, c in _files(toc3) if e["name"] != "model/weights.bin")
    assert 1 <= third.stats.chunks_fetched <= len(changed3) + 1, third.stats.as_dict()
    assert (third.stats.bytes_fetched
            <= fixed + sum(changed3.values()) + small + (32 << 10)), third.stats.as_dict()


def _files(entries: list[dict]) -> list:
    from falmigrate.oci.compress import toc as toclib

    return list(toclib.file_chunks(entries))


def test_update_pull_of_skopeo_chunked_layers_fetches_only_changed_chunks(registry, repo, tmp_path) -> None:
    """The same chunk-aware pull on layers containers/storage chunked itself (skopeo 1.9's rolling sum)."""
    tree = tmp_path / "tree"
    (tree / "m").mkdir(parents=True)
    weights = tree / "m" / "w.bin"
    weights.write_bytes(random.Random(9).randbytes(16 << 20))
    layouts = []
    for version in ("v1", "v2"):
        if version == "v2":
            data = bytearray(weights.read_bytes())
            data[len(data) // 2:len(data) // 2 + 64] = bytes(64)
            weights.write_bytes(bytes(data))
        layouts.append(recompress(layout_from_tree(tree, tmp_path / f"plain-{version}"), tmp_path / version,
                                  "zstd:chunked"))
        push_layout(layouts[-1], "latest", reference.parse(f"{registry}/{repo}:{version}"))
    old = _chunk_frames(_flashpack_toc(layouts[0])[1], "m/w.bin")
    new = _chunk_frames(_flashpack_toc(layouts[1])[1], "m/w.bin")
    changed = {d: size for d, size in new.items() if d not in old}
    assert len(new) > 100 and 1 <= len(changed) <= 3  # skopeo's chunks: ~64 KiB on average
    store = tmp_path / "store"
    pull_reference(reference.parse(f"{registry}/{repo}:v1"), store, to=tmp_path / "r1")
    update = pull_reference(reference.parse(f"{registry}/{repo}:v2"), store, to=tmp_path / "r2")
    assert [layer["mode"] for layer in update.layers] == ["partial"]
    assert (tmp_path / "r2" / "m" / "w.bin").read_bytes() == weights.read_bytes()
    assert update.stats.chunks_fetched == len(changed), update.stats.as_dict()
    layer = manifest_of(layouts[1])["layers"][0]
    toc_length = int(next(v for k, v in layer["annotations"].items()  # skopeo 1.9: the old prefix
                          if k.endswith("zstd-chunked.manifest-position")).split(":")[1])
    assert (update.stats.bytes_fetched
            <= toc_length + sum(changed.values()) + (32 << 10)), update.stats.as_dict()
