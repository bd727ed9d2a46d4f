"""FlashPack / layout / validate: round trips through real readers (zstd CLI, tarfile, skopeo, umoci)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from falmigrate.errors import ValidationFailed
from falmigrate.oci.compress import compress_tar
from falmigrate.oci.compress import zstd_chunked as zc
from falmigrate.oci.layout import Layout, pack_tree
from falmigrate.oci.tarwriter import tree_tar
from falmigrate.oci.validate import validate


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "tree"
    (root / "sub" / "déjà").mkdir(parents=True)
    (root / "a.txt").write_text("hello\n" * 5000)
    (root / "sub" / "empty").write_bytes(b"")
    (root / "sub" / "déjà" / ("x" * 120)).write_bytes(os.urandom(300_000))
    os.symlink("../a.txt", root / "sub" / "link")
    os.link(root / "a.txt", root / "hard")
    return root


def _files(root):
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            out[rel] = os.readlink(p) if os.path.islink(p) else Path(p).read_bytes()
    return out


def test_flashpack_roundtrip_zstd_cli_and_tarfile(tree, tmp_path):
    tar = tree_tar(tree, tmp_path / "l.tar")
    comp = compress_tar(tar, tmp_path / "l.zst", "flashpack")
    out = tmp_path / "out.tar"
    subprocess.run(["zstd", "-q", "-d", str(comp.path), "-o", str(out)], check=True)
    assert out.read_bytes() == tar.read_bytes()
    dest = tmp_path / "x"
    with tarfile.open(out) as t:
        t.extractall(dest)
    assert _files(dest) == _files(tree)


def test_same_diff_id_for_all_compressions(tree, tmp_path):
    tar = tree_tar(tree, tmp_path / "l.tar")
    ids = {compress_tar(tar, tmp_path / c, c).diff_id for c in ("gzip", "zstd", "flashpack")}
    assert len(ids) == 1


def test_toc_reader_extracts_single_file_by_range(tree, tmp_path):
    tar = tree_tar(tree, tmp_path / "l.tar")
    comp = compress_tar(tar, tmp_path / "l.zst", "flashpack", prefetch=["a.txt"])
    calls = []
    base = zc.file_reader(comp.path)

    def read_range(offset, length):
        calls.append((offset, length))
        return base(offset, length)

    toc = zc.read_toc(read_range, comp.size, checksum=comp.annotations[
        "io.github.containers.zstd-chunked.manifest-checksum"])
    entry = next(e for e in toc["entries"] if e["name"] == "a.txt")
    assert entry["prefetch"] is True
    assert zc.read_file(read_range, entry) == (tree / "a.txt").read_bytes()
    assert all(length < comp.size for _, length in calls)


def test_reproducible_across_mtime_and_umask(tree, tmp_path):
    first = pack_tree(tree, tmp_path / "l1", "t")
    for p in tree.rglob("*"):
        if not p.is_symlink():
            os.utime(p, (12345, 12345))
    copy = tmp_path / "copy"
    shutil.copytree(tree, copy, symlinks=True)
    os.link(copy / "a.txt", copy / "hard.tmp")
    os.replace(copy / "hard.tmp", copy / "hard")
    second = pack_tree(copy, tmp_path / "l2", "t")
    assert first["digest"] == second["digest"]


def test_layout_dedups_and_skopeo_umoci_read_it(tree, tmp_path):
    lay = tmp_path / "lay"
    pack_tree(tree, lay, "fp", "flashpack")
    pack_tree(tree, lay, "gz", "gzip")
    pack_tree(tree, lay, "gz2", "gzip")
    assert len(Layout(lay).read_index()["manifests"]) == 3
    # 2 layers, 1 shared config, 2 manifests (gz2 = gz)
    assert len(list((lay / "blobs" / "sha256").iterdir())) == 5
    validate(lay)
    subprocess.run(["skopeo", "inspect", f"oci:{lay}:fp"], check=True, capture_output=True)
    subprocess.run(["skopeo", "copy", f"oci:{lay}:fp", f"oci:{tmp_path / 'copy'}:x"], check=True,
                   capture_output=True)
    subprocess.run(["umoci", "unpack", "--rootless", "--image", f"{lay}:gz", str(tmp_path / "bundle")],
                   check=True, capture_output=True)
    assert _files(tmp_path / "bundle" / "rootfs") == _files(tree)


@pytest.mark.parametrize("where", ["frame", "toc", "footer"])
def test_corruption_is_named(tree, tmp_path, where):
    lay = tmp_path / "lay"
    desc = pack_tree(tree, lay, "fp", "flashpack")
    import json
    manifest = json.loads(Layout(lay).blob_path(desc["digest"]).read_bytes())
    layer = manifest["layers"][0]
    path = Layout(lay).blob_path(layer["digest"])
    data = bytearray(path.read_bytes())
    toc_off = int(layer["annotations"]["io.github.containers.zstd-chunked.manifest-position"].split(":")[0])
    pos = {"frame": 200, "toc": toc_off + 5, "footer": len(data) - 3}[where]
    data[pos] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValidationFailed) as err:
        validate(lay)
    text = "\n".join(err.value.problems)
    assert "content digest" in text
    assert {"frame": "diff_id", "toc": "TOC", "footer": "footer"}[where].lower() in text.lower() or \
        "decompress" in text
