"""Multi-platform indexes: pushed with their media type after their children; pull picks the platform."""

from __future__ import annotations

import json
import shutil

import pytest

from falmigrate.errors import ImageError
from falmigrate.oci.digest import Digest
from falmigrate.oci.mediatypes import OCI_INDEX
from falmigrate.oci.remote import reference
from falmigrate.oci.remote.client import RegistryClient
from falmigrate.oci.remote.pull import get_manifest, pull_reference
from falmigrate.oci.remote.push import push_layout
from falmigrate.oci.remote.stats import TransferStats


def test_index_push_and_platform_pull(registry, gzip_layout, repo, tmp_path) -> None:
    layout = tmp_path / "layout"
    shutil.copytree(gzip_layout, layout)
    child = dict(json.loads((layout / "index.json").read_text())["manifests"][0])
    child.pop("annotations", None)
    child["platform"] = {"os": "linux", "architecture": "amd64"}
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [child]}).encode()
    digest = Digest.of_bytes(index)
    (layout / "blobs" / "sha256" / digest.hex).write_bytes(index)
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": OCI_INDEX, "digest": str(digest), "size": len(index),
         "annotations": {"org.opencontainers.image.ref.name": "multi"}}]}))
    pushed = push_layout(layout, "multi", reference.parse(f"{registry}/{repo}:multi"))
    assert pushed.digest == str(digest) and pushed.media_type == OCI_INDEX
    with RegistryClient(registry) as client:
        data, media_type, got = get_manifest(client, repo, "multi", TransferStats())
    assert (media_type, got, data) == (OCI_INDEX, str(digest), index)
    pulled = pull_reference(reference.parse(f"{registry}/{repo}:multi"), tmp_path / "store",
                            to=tmp_path / "fs", platform="linux/amd64")
    assert pulled.digest == str(digest) and (tmp_path / "fs" / "bin" / "busybox").is_file()
    with pytest.raises(ImageError, match="no linux/arm64 image"):
        pull_reference(reference.parse(f"{registry}/{repo}:multi"), tmp_path / "store",
                       platform="linux/arm64")
