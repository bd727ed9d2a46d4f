"""Our FlashPack TOC against the zstd:chunked TOC skopeo writes for the same layer; our reader on theirs."""

from __future__ import annotations

import json
import subprocess

from falmigrate.oci.compress import zstd_chunked as zc
from falmigrate.oci.layout import Layout, pack_tree
from falmigrate.oci.validate import validate


def _toc(layout_dir, tag):
    layout = Layout(layout_dir)
    manifest = json.loads(layout.blob_path(layout.resolve(tag)["digest"]).read_bytes())
    path = layout.blob_path(manifest["layers"][0]["digest"])
    return path, zc.read_toc(zc.file_reader(path), path.stat().st_size)


def test_same_entries_and_digests_as_skopeo(tmp_path):
    tree = tmp_path / "t"
    (tree / "pkg" / "sub").mkdir(parents=True)
    (tree / "pkg" / "a.py").write_text("import os\n" * 300)
    (tree / "pkg" / "sub" / "b.bin").write_bytes(bytes(range(256)) * 300)
    (tree / "empty").write_bytes(b"")
    (tree / "link").symlink_to("pkg/a.py")
    pack_tree(tree, tmp_path / "ours", "gz", "gzip")
    pack_tree(tree, tmp_path / "ours", "fp", "flashpack")
    subprocess.run(["skopeo", "copy", "-q", "--dest-compress-format", "zstd:chunked",
                    f"oci:{tmp_path / 'ours'}:gz", f"oci:{tmp_path / 'theirs'}:x"], check=True,
                   capture_output=True)
    their_path, theirs = _toc(tmp_path / "theirs", "x")
    _, ours = _toc(tmp_path / "ours", "fp")

    def key(toc):
        return sorted((e["name"].rstrip("/"), e["type"], e.get("digest") if e.get("size") else None,
                       e.get("linkName", "")) for e in toc["entries"] if e["type"] != "chunk")

    assert key(ours) == key(theirs)
    for entry in theirs["entries"]:
        if entry["type"] == "reg" and entry.get("size"):
            assert zc.read_file(zc.file_reader(their_path), entry) == (tree / entry["name"]).read_bytes()
    # (no validate() of skopeo 1.9's own zstd:chunked output: its re-encoded tar does not hash to the
    # config's diff_id, which validate reports — see docs/flashpack.md)
    # skopeo reads our FlashPack layout and writes it out again as zstd:chunked and as gzip
    subprocess.run(["skopeo", "copy", "-q", f"oci:{tmp_path / 'ours'}:fp", f"dir:{tmp_path / 'dir'}"],
                   check=True, capture_output=True)
    subprocess.run(["skopeo", "copy", "-q", "--dest-compress-format", "gzip",
                    f"oci:{tmp_path / 'ours'}:fp", f"oci:{tmp_path / 'gz'}:x"], check=True,
                   capture_output=True)
    validate(tmp_path / "gz")
