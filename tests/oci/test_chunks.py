"""FlashPack chunking of large files: round trip through the zstd CLI and tarfile, chunk entries as
containers/storage lays them out, zero runs, few changed chunks after an edit in the middle, the same
bytes whatever the thread count, bounded memory, and validate naming the chunk that is corrupt."""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from falmigrate.errors import ValidationFailed
from falmigrate.oci.compress import cdc, compress_tar, zstd_chunked
from falmigrate.oci.compress import toc as toclib
from falmigrate.oci.layout import Layout, pack_tree
from falmigrate.oci.tarwriter import tree_tar
from falmigrate.oci.validate import validate

MiB = 1 << 20


def write_weights(path: Path, mib: int, seed: int = 7) -> None:
    """Sparse-ish: random MiBs, zero runs of several sizes (one not MiB-aligned), repeated blocks."""
    rng = random.Random(seed)
    block = rng.randbytes(MiB)
    with path.open("wb") as out:
        for i in range(mib):
            kind = i % 8
            if kind in (1, 2):
                out.write(bytes(MiB))
            elif kind == 5:
                out.write(rng.randbytes(MiB // 3) + bytes(MiB - MiB // 3))
            elif kind == 6:
                out.write(block)
            else:
                out.write(rng.randbytes(MiB))


def _tree(root: Path, mib: int = 64) -> Path:
    (root / "models").mkdir(parents=True)
    write_weights(root / "models" / "weights.bin", mib)
    (root / "models" / "tiny.bin").write_bytes(b"\0" * (2 * MiB))  # a file that is one zero run
    (root / "app.py").write_text("print('hi')\n" * 100)
    (root / "edge.bin").write_bytes(random.Random(3).randbytes(cdc.CHUNKED_MIN))  # exactly the threshold
    return root


def _toc(blob: Path) -> dict:
    return toclib.read_toc(toclib.file_reader(blob), blob.stat().st_size)


def _chunks(blob: Path) -> dict[str, list[toclib.Chunk]]:
    return {entry["name"]: chunks for entry, chunks in toclib.file_chunks(_toc(blob)["entries"])}


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    base = tmp_path_factory.mktemp("chunks")
    tree = _tree(base / "tree")
    tar = tree_tar(tree, base / "layer.tar")
    return tree, tar, compress_tar(tar, base / "layer.fp", "flashpack").path


def test_round_trip_through_zstd_cli_and_tarfile(packed, tmp_path) -> None:
    tree, tar, blob = packed
    subprocess.run(["zstd", "-q", "-d", str(blob), "-o", str(tmp_path / "out.tar")], check=True)
    assert (hashlib.sha256((tmp_path / "out.tar").read_bytes()).digest()
            == hashlib.sha256(tar.read_bytes()).digest())
    with tarfile.open(tmp_path / "out.tar") as t:
        t.extractall(tmp_path / "x", filter="tar")
    for name in ("models/weights.bin", "models/tiny.bin", "app.py", "edge.bin"):
        assert (tmp_path / "x" / name).read_bytes() == (tree / name).read_bytes(), name


def test_toc_has_chunk_entries_like_containers_storage(packed) -> None:
    tree, _, blob = packed
    entries = _toc(blob)["entries"]
    names = [e["name"] for e in entries]
    first = names.index("models/weights.bin")
    reg = entries[first]
    following = entries[first + 1:first + 1 + sum(1 for e in entries if e["type"] == "chunk"
                                                  and e["name"] == "models/weights.bin")]
    assert following and all(e["type"] == "chunk" and e["name"] == reg["name"] for e in following)
    assert "chunkOffset" not in reg and reg["chunkSize"] > 0 and reg["chunkDigest"].startswith("sha256:")
    assert [e["chunkOffset"] for e in following] == sorted(e["chunkOffset"] for e in following)
    assert all(set(e) <= {"type", "name", "chunkOffset", "chunkSize", "chunkDigest", "chunkType", "offset"}
               for e in following)
    chunks = _chunks(blob)
    weights = chunks["models/weights.bin"]
    data = (tree / "models" / "weights.bin").read_bytes()
    for chunk in weights:
        piece = data[chunk.file_offset:chunk.file_offset + chunk.size]
        assert chunk.digest == "sha256:" + hashlib.sha256(piece).hexdigest()
        assert chunk.zeros == (piece.count(0) == len(piece) and len(piece) >= cdc.ZERO_MIN)
        assert chunk.zeros or chunk.size <= cdc.MAX_CHUNK
    zero_runs = [c for c in weights if c.zeros]
    # the 2 MiB zero blocks every 8 MiB, and the 2/3 MiB tails of the "kind 5" MiBs, are zero chunks
    assert len(zero_runs) >= 8 * 2 - 1
    assert sum(c.size for c in zero_runs) >= 64 * MiB * (2 / 8 + 1 / 8 * 2 / 3) - 8 * cdc.MAX_CHUNK
    assert all(c.end - c.offset < 4096 for c in zero_runs)  # a zero run costs a tiny frame
    assert [c.zeros for c in chunks["models/tiny.bin"]] == [True]
    app = next(e for e in entries if e["name"] == "app.py")
    assert len(chunks["app.py"]) == 1 and "chunkSize" not in app  # small file: one frame, no chunk fields
    assert len(chunks["edge.bin"]) > 1
    for name, file_chunks in chunks.items():
        entry = next(e for e in entries if e["name"] == name)
        assert toclib.read_file(toclib.file_reader(blob), entry, file_chunks) == (tree / name).read_bytes()


def test_mid_file_edit_changes_few_chunks(tmp_path) -> None:
    tree = tmp_path / "tree"
    (tree / "m").mkdir(parents=True)
    weights = tree / "m" / "w.bin"
    write_weights(weights, 48, seed=11)
    before = _chunks(compress_tar(tree_tar(tree, tmp_path / "1.tar"), tmp_path / "1.fp",
                                  "flashpack").path)["m/w.bin"]
    data = bytearray(weights.read_bytes())
    data[len(data) // 2 + 12345:len(data) // 2 + 12345 + 64] = b"\xff" * 64  # overwrite in the middle
    weights.write_bytes(bytes(data))
    after_edit = _chunks(compress_tar(tree_tar(tree, tmp_path / "2.tar"), tmp_path / "2.fp",
                                      "flashpack").path)["m/w.bin"]
    data[len(data) // 3:len(data) // 3] = b"inserted bytes shift everything after them"
    weights.write_bytes(bytes(data))
    after_insert = _chunks(compress_tar(tree_tar(tree, tmp_path / "3.tar"), tmp_path / "3.fp",
                                        "flashpack").path)["m/w.bin"]
    old = {c.digest for c in before}
    assert len(before) > 60
    assert 1 <= len({c.digest for c in after_edit} - old) <= 2
    assert 1 <= len({c.digest for c in after_insert} - {c.digest for c in after_edit}) <= 3


def test_same_bytes_for_any_thread_count(packed, tmp_path, monkeypatch) -> None:
    _, tar, blob = packed
    monkeypatch.setattr(zstd_chunked, "_threads", lambda: 1)
    one = compress_tar(tar, tmp_path / "one.fp", "flashpack")
    assert one.path.read_bytes() == blob.read_bytes()


def test_memory_stays_bounded_for_a_big_file(tmp_path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    write_weights(tree / "big.bin", 200)
    tar = tree_tar(tree, tmp_path / "big.tar")
    code = ("import sys,resource;from falmigrate.oci.compress import compress_tar as c;"
            "base=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss;"
            "c(sys.argv[1],sys.argv[2],'flashpack');"
            "print(base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, str(tar), str(tmp_path / "big.fp")],
                         check=True, capture_output=True, text=True).stdout.split()
    base_kb, peak_kb = int(out[0]), int(out[1])
    assert (peak_kb - base_kb) * 1024 < 64 * MiB, (base_kb, peak_kb)  # 200 MiB file, far less held


def _layout_with_blob(tmp_path: Path) -> tuple[Path, dict, Path]:
    tree = tmp_path / "tree"
    (tree / "m").mkdir(parents=True)
    write_weights(tree / "m" / "w.bin", 12)
    lay = tmp_path / "lay"
    desc = pack_tree(tree, lay, "fp", "flashpack")
    layer = json.loads(Layout(lay).blob_path(desc["digest"]).read_bytes())["layers"][0]
    validate(lay)
    return lay, layer, Layout(lay).blob_path(layer["digest"])


@pytest.mark.parametrize("where", ["data-chunk", "zeros-chunk", "toc", "footer"])
def test_corruption_names_the_chunk_toc_or_footer(tmp_path, where) -> None:
    lay, layer, blob = _layout_with_blob(tmp_path)
    chunks = _chunks(blob)["m/w.bin"]
    data = bytearray(blob.read_bytes())
    position = toclib.position_from_annotations(layer["annotations"], len(data))
    data_chunks = [(i, c) for i, c in enumerate(chunks) if not c.zeros]
    zero_chunks = [(i, c) for i, c in enumerate(chunks) if c.zeros]
    index, chunk = {"data-chunk": data_chunks[len(data_chunks) // 2], "zeros-chunk": zero_chunks[1],
                    "toc": (None, None), "footer": (None, None)}[where]
    pos = {"toc": position.offset + position.length // 2, "footer": len(data) - 20}.get(
        where, chunk and (chunk.offset + chunk.end) // 2)
    data[pos] ^= 0x41
    blob.write_bytes(bytes(data))
    with pytest.raises(ValidationFailed) as err:
        validate(lay)
    text = "\n".join(err.value.problems)
    assert f"content digest is sha256:{hashlib.sha256(data).hexdigest()}" in text  # the blob itself
    if chunk is not None:
        assert f"m/w.bin: chunk {index + 1}/{len(chunks)}" in text, text
        assert f"blob bytes {chunk.offset}-{chunk.end}" in text
    elif where == "toc":
        assert "TOC does not match its manifest-checksum annotation" in text
    else:
        assert f"layer {layer['digest']}: footer" in text, text
