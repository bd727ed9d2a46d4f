"""Our OCI layouts (gzip, zstd, FlashPack; one image and several tags) pass the image-spec JSON schemas,
and the schema check does catch a document that breaks them."""

from __future__ import annotations

import json
import subprocess

import pytest

from falmigrate.oci.layout import Layout, pack_tree
from falmigrate.oci.transports import repack
from falmigrate.oci.validate import validate
from tests.oci.schemas import check_layout


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "tree"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "mod.py").write_text("x = 1\n" * 400)
    (root / "weights.bin").write_bytes(bytes(range(256)) * 2000)
    (root / "link").symlink_to("pkg/mod.py")
    return root


@pytest.mark.parametrize("compression", ["gzip", "zstd", "flashpack"])
def test_each_compression_passes_the_schemas(tree, tmp_path, compression):
    lay = tmp_path / "lay"
    result = repack(f"dir-tree:{tree}", f"oci:{lay}:{compression}", compression, prefetch=["pkg/mod.py"])
    assert check_layout(lay) == 4  # oci-layout, index.json, manifest, config
    validate(lay)
    manifest = json.loads(Layout(lay).blob_path(result["digest"]).read_bytes())
    annotations = manifest["layers"][0].get("annotations", {})
    has_checksum = "io.github.containers.zstd-chunked.manifest-checksum" in annotations
    assert has_checksum == (compression == "flashpack")


def test_shared_layout_with_several_images_passes_and_skopeo_copy_too(tree, tmp_path):
    lay = tmp_path / "lay"
    for tag, compression in (("gz", "gzip"), ("zst", "zstd"), ("fp", "flashpack")):
        pack_tree(tree, lay, tag, compression)
    assert check_layout(lay) == 2 + 3 * 2
    subprocess.run(["skopeo", "copy", "-q", f"oci:{lay}:fp", f"oci:{tmp_path / 'copy'}:x"], check=True,
                   capture_output=True)
    check_layout(tmp_path / "copy")  # the checker accepts a layout written by a third party


def test_schema_check_catches_a_broken_manifest(tree, tmp_path):
    lay = tmp_path / "lay"
    pack_tree(tree, lay, "t", "gzip")
    layout = Layout(lay)
    manifest = json.loads(layout.blob_path(layout.resolve("t")["digest"]).read_bytes())
    manifest["layers"][0]["annotations"] = {"size": 12}  # annotation values must be strings
    manifest["config"].pop("size")
    body = json.dumps(manifest).encode()
    layout.tag({"mediaType": manifest["mediaType"], "digest": layout.put_bytes(body),
                "size": len(body)}, "bad")
    with pytest.raises(AssertionError) as err:
        check_layout(lay)
    assert "layers/0/annotations/size" in str(err.value) and "'size' is a required property" in str(err.value)
