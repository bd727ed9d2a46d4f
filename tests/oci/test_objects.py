"""oci.objects: parse/serialise round trips, digests of original bytes, read-only changes, typed errors,
and what we serialise passes the OCI image-spec schemas."""

from __future__ import annotations

import json

import pytest

from falmigrate.errors import ImageError
from falmigrate.oci import mediatypes as mt
from falmigrate.oci.digest import Digest
from falmigrate.oci.objects import REF_NAME, Descriptor, Image, ImageConfig, Index, Layer, Manifest
from tests.oci.schemas import check_layout, problems

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def _image() -> Image:
    layers = [Layer(Descriptor.of_bytes(mt.OCI_LAYER_ZSTD, b"layer-a", {"k": "v"}), D1),
              Layer(Descriptor.of_bytes(mt.OCI_LAYER_GZIP, b"layer-b"), D2)]
    return Image.build(ImageConfig.new([]), layers)


def test_built_image_is_consistent_and_schema_valid():
    image = _image()
    manifest = json.loads(image.manifest.to_bytes())
    config = json.loads(image.config.to_bytes())
    assert problems("image-manifest", manifest) == [] and problems("config", config) == []
    assert config["rootfs"]["diff_ids"] == [D1, D2]
    assert manifest["config"]["digest"] == str(Digest.of_bytes(image.config.to_bytes()))
    assert image.digest == Digest.of_bytes(image.manifest.to_bytes())
    assert [layer.compression for layer in image.layers] == ["zstd", "gzip"]
    assert manifest["layers"][0]["annotations"] == {"k": "v"} and "annotations" not in manifest["layers"][1]


def test_parse_keeps_original_bytes_and_unknown_keys():
    image = _image()
    pretty = json.dumps({**json.loads(image.manifest.to_bytes()), "x-vendor": {"a": [1, 2]}},
                        indent=3).encode()
    parsed = Manifest.parse(pretty)
    assert parsed.to_bytes() == pretty and parsed.digest == Digest.of_bytes(pretty)
    assert parsed.layers == image.manifest.layers
    assert json.loads(parsed.to_bytes())["x-vendor"] == {"a": [1, 2]}
    changed = parsed.layers[0].with_annotations({"more": "1"})  # a change drops the original bytes
    again = Manifest(parsed.config, (changed, parsed.layers[1]), extra=parsed.extra)
    assert json.loads(again.to_bytes())["x-vendor"] == {"a": [1, 2]}
    assert again.digest != parsed.digest and parsed.layers[0].annotations == {"k": "v"}


def test_objects_are_read_only():
    image = _image()
    with pytest.raises(AttributeError):
        image.manifest.layers = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        image.manifest.layers[0].annotations["x"] = "y"  # type: ignore[index]
    docker_cfg = ImageConfig.parse(b'{"architecture":"arm64","os":"linux","config":{"Env":["A=1"]},'
                                   b'"rootfs":{"type":"layers","diff_ids":[]}}', media_type=mt.DOCKER_CONFIG)
    with pytest.raises(TypeError):
        docker_cfg.config["Env"] = []  # type: ignore[index]
    assert docker_cfg.config["Env"] == ("A=1",) and docker_cfg.media_type.is_docker


def test_index_tags_replace_and_keep_order():
    one, two = _image().descriptor(), Descriptor.of_bytes(mt.OCI_MANIFEST, b"{}")
    index = Index().with_tag(one, "a").with_tag(two, "b").with_tag(two, "a")
    assert index.tags == ["b", "a"] and index.find("a").digest == two.digest
    assert index.find("nope") is None and index.without_tag("a").tags == ["b"]
    assert Index().tags == [] and index.find("b").annotations[REF_NAME] == "b"
    assert problems("image-index", json.loads(index.to_bytes())) == []
    assert Index.parse(index.to_bytes()) == index


def test_image_refuses_mismatched_parts():
    image = _image()
    with pytest.raises(ImageError, match="diff_ids"):
        Image.from_parts(image.manifest, image.config.with_diff_ids([D1]))
    with pytest.raises(ImageError, match="config"):
        Image(image.manifest, ImageConfig.new([D1, D2], architecture="arm64"), image.layers)
    swapped = (image.layers[1], image.layers[0])
    with pytest.raises(ImageError, match="layers"):
        Image(image.manifest, image.config, swapped)


@pytest.mark.parametrize(("text", "expected"), [
    (b'{"schemaVersion": 2,\n "config": ', "m.json:2:12"),
    (b'{"schemaVersion": 1, "config": {}, "layers": []}', "schemaVersion 1"),
    (b'{"schemaVersion": 2, "layers": []}', "missing 'config'"),
    (b'{"schemaVersion": 2, "config": {"mediaType": "a/b", "digest": "sha256:12", "size": 1}, "layers": []}',
     "m.json: config: not a valid digest"),
    (b'{"schemaVersion": 2, "config": {"mediaType": "a/b", "digest": "' + D1.encode() + b'", "size": -3},'
     b' "layers": []}', "non-negative"),
    (b'{"schemaVersion": 2, "mediaType": "text/plain", "config": {}, "layers": []}', "media type"),
    (b'[1]', "expected a JSON object"),
])
def test_bad_manifests_raise_typed_errors_naming_the_problem(text, expected):
    with pytest.raises(ImageError) as err:
        Manifest.parse(text, "m.json")
    assert expected in str(err.value)


def test_docker_manifest_and_list_are_read():
    layer = Descriptor.of_bytes(mt.DOCKER_LAYER_GZIP, b"x")
    body = {"schemaVersion": 2, "mediaType": mt.DOCKER_MANIFEST,
            "config": Descriptor.of_bytes(mt.DOCKER_CONFIG, b"{}").to_dict(), "layers": [layer.to_dict()]}
    manifest = Manifest.parse(json.dumps(body).encode())
    assert manifest.media_type.is_docker and manifest.layers[0].media_type.compression == "gzip"
    listing = Index.parse(json.dumps({"schemaVersion": 2, "mediaType": mt.DOCKER_MANIFEST_LIST, "manifests": [
        {**manifest.descriptor().to_dict(), "platform": {"architecture": "amd64", "os": "linux"}}]}).encode())
    assert listing.manifests[0].platform["os"] == "linux" and listing.media_type.is_index


def test_layout_image_picks_the_platform_from_a_nested_index(tmp_path):
    from falmigrate.oci.compress import compress_tar
    from falmigrate.oci.layout import Layout, stored_layer
    from falmigrate.oci.tarwriter import tree_tar

    layout = Layout(tmp_path / "lay")
    entries = []
    for arch in ("arm64", "amd64", "s390x"):
        tree = tmp_path / arch
        tree.mkdir()
        (tree / "arch").write_text(arch)
        layer = stored_layer(layout,
                             compress_tar(tree_tar(tree, tmp_path / f"{arch}.tar"), tmp_path / arch / "l",
                                                  "gzip"))
        image = Image.build(ImageConfig.new([layer.diff_id], architecture=arch), [layer])
        desc = layout.write_image(image)
        entries.append(Descriptor(desc.media_type, desc.digest, desc.size,
                                  platform={"os": "linux", "architecture": arch}))
    index = Index(manifests=tuple(entries))
    layout.tag(layout.put_document(index), "multi")
    assert check_layout(tmp_path / "lay") == 2 + 1 + 3 * 2  # nested index, its three images
    assert layout.image("multi", architecture="amd64").config.architecture == "amd64"
    assert layout.image("multi", architecture="s390x").config.architecture == "s390x"
    # none fits: the first
    assert layout.image("multi", architecture="riscv64").config.architecture == "arm64"
    with layout.image("multi", architecture="amd64").layers[0].open_uncompressed() as tar_stream:
        import tarfile
        with tarfile.open(fileobj=tar_stream, mode="r|") as tar:
            member = next(iter(tar))
            assert tar.extractfile(member).read() == b"amd64"
