"""Image references with skopeo's transport prefixes, one parser, and the repack API.

Sources: ``oci:PATH[:TAG]`` (OCI layout), ``docker-archive:PATH`` (``docker save`` output, legacy
``<id>/layer.tar`` and OCI-style ``blobs/sha256/…`` entries alike), ``dir-tree:PATH`` (a directory
becomes a one-layer image), ``docker://REF`` (lazily ``falmigrate.oci.remote.transport``) and
``docker-daemon:NAME`` (lazily ``falmigrate.oci.daemon``). Destinations: ``oci:PATH[:TAG]`` and
``docker://REF`` (written to a temporary layout, then pushed).

Public: ``open_image(ref, workdir=None) -> SourceImage`` (config bytes + layers, each opening its
uncompressed tar); ``repack(src, dst, compression="flashpack", prefetch=None) -> dict`` (every
layer recompressed, each diff_id checked against the config, a per-layout layer cache keyed by
(diff_id, compression, profile hash) so unchanged layers are reused, not recompressed).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import zstandard

from falmigrate import progress
from falmigrate.errors import ImageError, IntegrityError, UsageError
from falmigrate.oci import mediatypes
from falmigrate.oci.compress import compress_tar
from falmigrate.oci.layout import Layout, _dumps

CACHE = "falmigrate-layer-cache.json"
CHUNK = 1 << 20


@dataclass(frozen=True)
class SourceLayer:
    diff_id: str
    opener: Callable[[], BinaryIO]  # a stream of the compressed-or-plain layer bytes


@dataclass
class SourceImage:
    config_bytes: bytes
    layers: list[SourceLayer]
    cleanup: list[Path] = field(default_factory=list)

    @property
    def config(self) -> dict:
        return json.loads(self.config_bytes)


def split_oci(ref: str) -> tuple[Path, str | None]:
    """``oci:PATH[:TAG]`` → (path, tag); a tag never contains '/'."""
    body = ref.removeprefix("oci:")
    path, _, tag = body.rpartition(":")
    if not path or "/" in tag:
        return Path(body), None
    return Path(path), tag or None


def _decompressing(raw: BinaryIO) -> BinaryIO:
    head = raw.read(4)
    raw.seek(0)
    if head[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw)
    if head == b"\x28\xb5\x2f\xfd":
        return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    return raw


def _file_opener(path: Path) -> Callable[[], BinaryIO]:
    return lambda: open(path, "rb")


def _from_layout(ref: str) -> SourceImage:
    path, tag = split_oci(ref)
    layout = Layout(path) if (path / "oci-layout").exists() else None
    if layout is None:
        raise ImageError(f"{path}: not an OCI image layout (no oci-layout file)")
    desc = layout.resolve(tag)
    manifest = json.loads(layout.blob_path(desc["digest"]).read_bytes())
    if manifest.get("mediaType") in mediatypes.INDEX_TYPES or "manifests" in manifest:
        desc = manifest["manifests"][0]
        manifest = json.loads(layout.blob_path(desc["digest"]).read_bytes())
    config_bytes = layout.blob_path(manifest["config"]["digest"]).read_bytes()
    diff_ids = json.loads(config_bytes)["rootfs"]["diff_ids"]
    paths = [layout.blob_path(layer["digest"]) for layer in manifest["layers"]]
    layers = [SourceLayer(d, _file_opener(p)) for d, p in zip(diff_ids, paths, strict=True)]
    return SourceImage(config_bytes, layers)


def _from_archive(ref: str) -> SourceImage:
    path = Path(ref.removeprefix("docker-archive:"))
    with tarfile.open(path) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))[0]
        config_bytes = tar.extractfile(manifest["Config"]).read()
    diff_ids = json.loads(config_bytes)["rootfs"]["diff_ids"]

    def opener(member: str) -> Callable[[], BinaryIO]:
        def open_member() -> BinaryIO:
            tar = tarfile.open(path)  # noqa: SIM115 - lives as long as the member stream
            return tar.extractfile(member)
        return open_member

    layers = [SourceLayer(d, opener(m)) for d, m in zip(diff_ids, manifest["Layers"], strict=True)]
    return SourceImage(config_bytes, layers)


def _from_tree(ref: str, workdir: Path, first: list[str] | None = None) -> SourceImage:
    from falmigrate.oci.tarwriter import tree_tar

    root = Path(ref.removeprefix("dir-tree:"))
    if not root.is_dir():
        raise UsageError(f"dir-tree: {root} is not a directory")
    tar = tree_tar(root, workdir / "tree.tar", first)
    with open(tar, "rb") as handle:
        diff_id = "sha256:" + hashlib.file_digest(handle, "sha256").hexdigest()
    config = {"architecture": "amd64", "os": "linux", "config": {},
              "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
    return SourceImage(_dumps(config), [SourceLayer(diff_id, _file_opener(tar))])


def open_image(ref: str, workdir: Path | None = None, prefetch: list[str] | None = None) -> SourceImage:
    """The source image named by ``ref`` (temporary files go to ``workdir``; a dir-tree puts the
    ``prefetch`` paths first in its layer)."""
    workdir = Path(workdir or tempfile.mkdtemp(prefix="falmigrate-src-"))
    if ref.startswith("oci:"):
        return _from_layout(ref)
    if ref.startswith("docker-archive:"):
        return _from_archive(ref)
    if ref.startswith("dir-tree:"):
        return _from_tree(ref, workdir, prefetch)
    if ref.startswith("docker://"):
        from falmigrate.oci.remote import transport
        return transport.open_image(ref, workdir)
    if ref.startswith("docker-daemon:"):
        from falmigrate.oci import daemon
        return daemon.open_image(ref, workdir)
    raise UsageError(f"unknown image reference {ref!r}",
                     hint="use oci:PATH[:TAG], docker-archive:PATH, dir-tree:PATH, docker://REF or docker-daemon:NAME")


def _spool(layer: SourceLayer, dest: Path) -> None:
    """Write the uncompressed tar of ``layer`` to ``dest`` and check its diff_id."""
    h = hashlib.sha256()
    with layer.opener() as raw, open(dest, "wb") as out:
        stream = _decompressing(raw) if hasattr(raw, "seek") and raw.seekable() else raw
        while data := stream.read(CHUNK):
            h.update(data)
            out.write(data)
    if "sha256:" + h.hexdigest() != layer.diff_id:
        raise IntegrityError(f"layer tar digest sha256:{h.hexdigest()} != config diff_id {layer.diff_id}")


def _layer(layout: Layout, cache: dict, layer: SourceLayer, compression: str,
           prefetch: list[str] | None, tmp: Path) -> tuple[dict, bool]:
    profile = hashlib.sha256("\n".join(prefetch or []).encode()).hexdigest()[:16]
    key = f"{layer.diff_id}|{compression}|{profile}"
    hit = cache.get(key)
    if hit and layout.blob_path(hit["digest"]).exists():
        return hit, True
    tar = tmp / "layer.tar"
    _spool(layer, tar)
    comp = compress_tar(tar, tmp / "layer.blob", compression, prefetch=prefetch)
    layout.put_file(comp.path, comp.digest)
    desc = {"mediaType": comp.media_type, "digest": comp.digest, "size": comp.size}
    if comp.annotations:
        desc["annotations"] = comp.annotations
    cache[key] = desc
    return desc, False


def repack(src: str, dst: str, compression: str = "flashpack", prefetch: list[str] | None = None) -> dict:
    """Recompress every layer of ``src`` into ``dst``; returns digests, sizes, timings, cache hits."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="falmigrate-pack-") as tmpdir:
        tmp = Path(tmpdir)
        remote = dst.startswith("docker://")
        if not remote and not dst.startswith("oci:"):
            raise UsageError(f"cannot write to {dst!r}", hint="use oci:PATH[:TAG] or docker://REF")
        path, tag = (tmp / "out", "latest") if remote else split_oci(dst)
        tag = tag or "latest"
        image = open_image(src, tmp, prefetch)
        layout = Layout(path)
        cache_file = layout.path / CACHE
        cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}
        layers, reused = [], 0
        with progress.task(f"pack {compression}", len(image.layers)) as task:
            for layer in image.layers:
                desc, hit = _layer(layout, cache, layer, compression, prefetch, tmp)
                layers.append(desc)
                reused += hit
                task.advance(1)
        layout._atomic(cache_file, _dumps(cache))
        config_digest = layout.put_bytes(image.config_bytes)
        manifest = {"schemaVersion": 2, "mediaType": mediatypes.OCI_MANIFEST,
                    "config": {"mediaType": mediatypes.OCI_CONFIG, "digest": config_digest,
                               "size": len(image.config_bytes)},
                    "layers": layers}
        body = _dumps(manifest)
        desc = {"mediaType": mediatypes.OCI_MANIFEST, "digest": layout.put_bytes(body), "size": len(body)}
        layout.tag(desc, tag)
        if remote:
            from falmigrate.oci.remote import transport
            transport.write_image(path, tag, dst)
            shutil.rmtree(path, ignore_errors=True)
    return {"digest": desc["digest"], "destination": dst, "compression": compression,
            "layers": [{"digest": d["digest"], "size": d["size"]} for d in layers],
            "layers_reused": reused, "seconds": round(time.monotonic() - started, 3)}
