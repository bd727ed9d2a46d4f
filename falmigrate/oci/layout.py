"""OCI image layout on disk: ``oci-layout``, ``index.json`` (tags as ref.name), ``blobs/sha256/``.

Content-addressed: a blob is stored once under its digest (``put_file``/``put_bytes`` are no-ops
when it exists); every write is temp + rename; ``index.json`` updates hold an exclusive ``flock``
so two writers at once are safe. Public: ``Layout(path)`` with ``put_bytes``, ``put_file``,
``blob_path``, ``tag``, ``resolve``, ``read_index``; ``pack_tree(tree, layout, tag, compression)``
writes a one-layer image of a directory tree.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from falmigrate.errors import ImageError
from falmigrate.oci import mediatypes

REF_NAME = "org.opencontainers.image.ref.name"


def _dumps(obj: dict) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


class Layout:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        (self.path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        if not (self.path / "oci-layout").exists():
            self._atomic(self.path / "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        if not (self.path / "index.json").exists():
            with self._lock():
                if not (self.path / "index.json").exists():
                    self._atomic(self.path / "index.json", _dumps({"schemaVersion": 2, "manifests": []}))

    def _atomic(self, dest: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, dest)

    @contextmanager
    def _lock(self):
        with open(self.path / ".falmigrate.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def blob_path(self, digest: str) -> Path:
        algo, _, hexpart = digest.partition(":")
        return self.path / "blobs" / algo / hexpart

    def put_bytes(self, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if not self.blob_path(digest).exists():
            self._atomic(self.blob_path(digest), data)
        return digest

    def put_file(self, src: Path, digest: str) -> Path:
        """Move ``src`` (already digested) into the store, or drop it if the blob exists."""
        dest = self.blob_path(digest)
        if dest.exists():
            os.unlink(src)
        else:
            os.replace(src, dest)
        return dest

    def read_index(self) -> dict:
        return json.loads((self.path / "index.json").read_bytes())

    def tag(self, descriptor: dict, tag: str) -> None:
        """Point ``tag`` at ``descriptor`` in index.json (replacing an older one of that name)."""
        with self._lock():
            index = self.read_index()
            keep = [m for m in index["manifests"] if m.get("annotations", {}).get(REF_NAME) != tag]
            desc = dict(descriptor, annotations={**descriptor.get("annotations", {}), REF_NAME: tag})
            index["manifests"] = keep + [desc]
            self._atomic(self.path / "index.json", _dumps(index))

    def resolve(self, tag: str | None) -> dict:
        manifests = self.read_index()["manifests"]
        for desc in manifests:
            if tag is None or desc.get("annotations", {}).get(REF_NAME) == tag:
                return desc
        raise ImageError(f"{self.path}: no image tagged {tag!r}")


def pack_tree(tree: Path, layout_path: Path, tag: str = "latest", compression: str = "flashpack",
              prefetch: list[str] | None = None) -> dict:
    """Write ``tree`` as a one-layer image into the layout; returns the manifest descriptor."""
    from falmigrate.oci.compress import compress_tar
    from falmigrate.oci.tarwriter import tree_tar

    layout = Layout(layout_path)
    with tempfile.TemporaryDirectory(dir=layout.path) as tmp:
        tar = tree_tar(Path(tree), Path(tmp) / "layer.tar")
        comp = compress_tar(tar, Path(tmp) / "layer.blob", compression, prefetch=prefetch)
        layout.put_file(comp.path, comp.digest)
    config = {"architecture": "amd64", "os": "linux", "config": {},
              "rootfs": {"type": "layers", "diff_ids": [comp.diff_id]}}
    config_bytes = _dumps(config)
    layer = {"mediaType": comp.media_type, "digest": comp.digest, "size": comp.size}
    if comp.annotations:
        layer["annotations"] = comp.annotations
    manifest = {"schemaVersion": 2, "mediaType": mediatypes.OCI_MANIFEST,
                "config": {"mediaType": mediatypes.OCI_CONFIG, "digest": layout.put_bytes(config_bytes),
                           "size": len(config_bytes)},
                "layers": [layer]}
    manifest_bytes = _dumps(manifest)
    desc = {"mediaType": mediatypes.OCI_MANIFEST, "digest": layout.put_bytes(manifest_bytes),
            "size": len(manifest_bytes)}
    layout.tag(desc, tag)
    return desc
