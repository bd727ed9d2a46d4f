"""Prefetch order and random trees (hypothesis) round-trip through FlashPack exactly."""

from __future__ import annotations

import json
import os
import tarfile
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from falmigrate.oci.compress import compress_tar
from falmigrate.oci.compress import zstd_chunked as zc
from falmigrate.oci.layout import Layout
from falmigrate.oci.tarwriter import tree_tar
from falmigrate.oci.transports import repack

NAMES = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\\x00"),
                min_size=1, max_size=40).filter(lambda s: s not in (".", "..") and len(s.encode()) < 200)


def test_prefetch_files_lead_the_layer_and_are_marked(tmp_path):
    tree = tmp_path / "t"
    (tree / "z" / "deep").mkdir(parents=True)
    for name in ("a", "b", "z/deep/start.py"):
        (tree / name).write_text(name * 100)
    lay = tmp_path / "lay"
    repack(f"dir-tree:{tree}", f"oci:{lay}", "flashpack", prefetch=["/z/deep/start.py"])
    layout = Layout(lay)
    manifest = json.loads(layout.blob_path(layout.resolve("latest")["digest"]).read_bytes())
    blob = layout.blob_path(manifest["layers"][0]["digest"])
    toc = zc.read_toc(zc.file_reader(blob), blob.stat().st_size)
    names = [e["name"] for e in toc["entries"]]
    assert names[:3] == ["z", "z/deep", "z/deep/start.py"]
    assert [e["name"] for e in toc["entries"] if e.get("prefetch")] == ["z/deep/start.py"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.lists(NAMES, min_size=1, max_size=4).map(lambda p: "/".join(p)),
                       st.one_of(st.binary(max_size=3000), st.integers(0, 3)), min_size=1, max_size=8))
def test_random_trees_round_trip(files):
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        root = tmp / "root"
        root.mkdir()
        _make_tree(root, files)
        tar = tree_tar(root, tmp / "l.tar")
        comp = compress_tar(tar, tmp / "l.zst", "flashpack")
        toc = zc.read_toc(zc.file_reader(comp.path), comp.size)
        for entry in toc["entries"]:
            if entry["type"] == "reg":
                assert zc.read_file(zc.file_reader(comp.path), entry) == (root / entry["name"]).read_bytes()
        out = tmp / "out"
        import zstandard
        with open(comp.path, "rb") as raw, zstandard.ZstdDecompressor().stream_reader(
                raw, read_across_frames=True) as stream, tarfile.open(fileobj=stream, mode="r|") as t:
            t.extractall(out, filter="tar")
        _assert_same_files(root, out)


def _make_tree(root: Path, files: dict) -> None:
    """Bytes become files; 0 a symlink and 1 a hardlink to an earlier file when there is one, else (as
    other numbers) a large file of zeros. Names the file system refuses are left out."""
    made: dict[str, object] = {}
    for rel, content in sorted(files.items()):
        path = root / rel
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            elif content == 0 and made:
                os.symlink(next(iter(made)), path)
            elif content == 1 and any(isinstance(v, bytes) for v in made.values()):
                os.link(root / next(k for k, v in made.items() if isinstance(v, bytes)), path)
            else:
                with open(path, "wb") as handle:
                    handle.truncate(2_000_000 + content)  # sparse-ish: zeros
            made[rel] = content
        except (OSError, ValueError):
            continue


def _assert_same_files(root: Path, out: Path) -> None:
    for dirpath, _, names in os.walk(root):
        for name in names:
            src = Path(dirpath) / name
            dst = out / src.relative_to(root)
            if src.is_symlink():
                assert os.readlink(dst) == os.readlink(src)
            else:
                assert dst.read_bytes() == src.read_bytes()
