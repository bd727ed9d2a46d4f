"""A broken docker-archive or OCI-layout source is a typed error naming the problem (CLI exit
4), and nothing is written."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
from typer.testing import CliRunner

from falmigrate.cli.app import app

CONFIG = json.dumps({"architecture": "amd64", "os": "linux",
                     "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "a" * 64]}}).encode()
GOOD_MANIFEST = json.dumps([{"Config": "c.json", "Layers": ["l/layer.tar"]}]).encode()


def _archive(path, files: dict[str, bytes]):
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize(("files", "expected"), [
    (None, "cannot read docker-archive"),
    ({"c.json": CONFIG}, "has no file 'manifest.json'"),
    ({"manifest.json": b'[{"Config": "c.json",\n "Layers": [}]'}, "manifest.json:2: not valid JSON"),
    ({"manifest.json": b"[]"}, "lists no image"),
    ({"manifest.json": GOOD_MANIFEST, "l/layer.tar": b""}, "has no file 'c.json'"),
    ({"manifest.json": GOOD_MANIFEST, "c.json": CONFIG}, "missing: ['l/layer.tar']"),
    ({"manifest.json": GOOD_MANIFEST, "c.json": b'{"os": "linux"}', "l/layer.tar": b""}, "missing 'rootfs'"),
    ({"manifest.json": json.dumps([{"Config": "c.json", "Layers": ["l/layer.tar", "l/layer.tar"]}]).encode(),
      "c.json": CONFIG, "l/layer.tar": b""}, "2 layers but 1 diff_ids"),
])
def test_broken_archive_is_named_and_nothing_written(tmp_path, files, expected):
    archive = tmp_path / "img.tar"
    if files is None:
        archive.write_bytes(b"not a tar at all" * 100)
    else:
        _archive(archive, files)
    result = CliRunner().invoke(app,
                                ["pack", f"docker-archive:{archive}", f"oci:{tmp_path / 'out'}", "--json"])
    assert result.exit_code == 4, result.output
    assert expected in json.loads(result.stdout)["error"]["message"] or expected in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("damage", "expected"), [
    ("config", "config sha256:"),
    ("manifest-json", "not valid JSON"),
    ("tag", "no image tagged 'nope'"),
])
def test_broken_oci_source_is_named(tmp_path, damage, expected):
    from falmigrate.oci.layout import Layout, pack_tree

    tree = tmp_path / "t"
    tree.mkdir()
    (tree / "f").write_text("x")
    desc = pack_tree(tree, tmp_path / "lay", "t", "gzip")
    layout = Layout(tmp_path / "lay")
    manifest = json.loads(layout.blob_path(desc["digest"]).read_bytes())
    if damage == "config":
        layout.blob_path(manifest["config"]["digest"]).unlink()
    elif damage == "manifest-json":
        layout.blob_path(desc["digest"]).write_bytes(b'{"schemaVersion": 2,\n')
    tag = "nope" if damage == "tag" else "t"
    result = CliRunner().invoke(app, ["pack", f"oci:{tmp_path / 'lay'}:{tag}",
                                      f"oci:{tmp_path / 'out'}", "--json"])
    assert result.exit_code == 4, result.output
    assert expected in result.output
    if damage == "config":
        assert "missing from blobs/" in result.output
    assert not (tmp_path / "out").exists()
