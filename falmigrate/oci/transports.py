"""Image references with skopeo's transport prefixes, and the repack API.

Sources: ``oci:PATH[:TAG]`` (OCI layout), ``docker-archive:PATH`` (``docker save`` output),
``dir-tree:PATH`` (a directory becomes a one-layer image) — read by ``oci.sources`` — plus
``docker://REF`` (lazily ``falmigrate.oci.remote.transport``) and ``docker-daemon:NAME`` (lazily
``falmigrate.oci.daemon``), which fetch into a layout or archive and read it through ``oci.sources``.
Destinations: ``oci:PATH[:TAG]`` and ``docker://REF`` (written to a temporary layout, then pushed).

Public: ``open_image(ref, workdir=None) -> SourceImage`` (config bytes + layers, each opening its
uncompressed tar); ``repack(src, dst, compression="flashpack", prefetch=None) -> dict`` (every
layer recompressed, each diff_id checked against the config, a per-layout layer cache keyed by
(diff_id, compression, profile hash) so unchanged layers are reused, not recompressed).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from pathlib import Path

from falmigrate import progress
from falmigrate.errors import IntegrityError, UsageError
from falmigrate.oci import sources
from falmigrate.oci.compress import compress_tar
from falmigrate.oci.digest import Digest
from falmigrate.oci.layout import Layout, parse_reference, stored_layer
from falmigrate.oci.objects import Descriptor, Image, ImageConfig, Layer, decompressing
from falmigrate.oci.sources import SourceImage, SourceLayer

CACHE = "falmigrate-layer-cache.json"
# Bump when any compressor writes different bytes for the same tar (see _layer).
ENCODER_VERSION = 3  # 3: symlinks on the way to profiled paths are marked too
CHUNK = 1 << 20


def open_image(ref: str, workdir: Path | None = None, prefetch: list[str] | None = None,
               registry_options: dict | None = None) -> SourceImage:
    """The source image named by ``ref`` (temporary files go to ``workdir``; a dir-tree puts the
    ``prefetch`` paths first in its layer)."""
    workdir = Path(workdir or tempfile.mkdtemp(prefix="falmigrate-src-"))
    if ref.startswith("oci:"):
        return sources.from_layout(ref)
    if ref.startswith("docker-archive:"):
        return sources.from_archive(ref)
    if ref.startswith("dir-tree:"):
        return sources.from_tree(ref, workdir, prefetch)
    if ref.startswith("docker://"):
        from falmigrate.oci.remote import transport
        return transport.open_image(ref, workdir, **(registry_options or {}))
    if ref.startswith("docker-daemon:"):
        from falmigrate.oci import daemon
        return daemon.open_image(ref, workdir)
    raise UsageError(f"unknown image reference {ref!r}",
                     hint="use oci:PATH[:TAG], docker-archive:PATH, dir-tree:PATH, docker://REF "
                          "or docker-daemon:NAME")


def _spool(layer: SourceLayer, dest: Path) -> None:
    """Write the uncompressed tar of ``layer`` to ``dest`` and check its diff_id."""
    h = hashlib.sha256()
    with layer.opener() as raw, open(dest, "wb") as out:
        stream = decompressing(raw) if hasattr(raw, "seek") and raw.seekable() else raw
        while data := stream.read(CHUNK):
            h.update(data)
            out.write(data)
    if "sha256:" + h.hexdigest() != layer.diff_id:
        raise IntegrityError(f"layer tar digest sha256:{h.hexdigest()} != config diff_id {layer.diff_id}")


def _layer(layout: Layout, cache: dict, layer: SourceLayer, compression: str,
           prefetch: list[str] | None, tmp: Path) -> tuple[Layer, bool]:
    profile = hashlib.sha256("\n".join(prefetch or []).encode()).hexdigest()[:16]
    # The encoder version is part of the key: a layout cached by an older FlashPack writer (e.g.
    # before content-defined chunks) must not keep serving that older encoding.
    key = f"{layer.diff_id}|{compression}-{ENCODER_VERSION}|{profile}"
    hit = cache.get(key)
    if hit and layout.blob_path(hit["digest"]).exists():
        return Layer(Descriptor.from_dict(hit, f"{layout.path / CACHE}: {key}"),
                     Digest.parse(layer.diff_id)), True
    tar = tmp / "layer.tar"
    _spool(layer, tar)
    stored = stored_layer(layout, compress_tar(tar, tmp / "layer.blob", compression, prefetch=prefetch))
    cache[key] = stored.descriptor.to_dict()
    return stored, False


def repack(src: str, dst: str, compression: str = "flashpack", prefetch: list[str] | None = None,
           registry_options: dict | None = None) -> dict:
    """Recompress every layer of ``src`` into ``dst``; returns digests, sizes, timings, cache hits."""
    started = time.monotonic()
    pushed: dict | None = None  # a docker:// destination's push summary (bytes sent/skipped/mounted)
    with tempfile.TemporaryDirectory(prefix="falmigrate-pack-") as tmpdir:
        tmp = Path(tmpdir)
        remote = dst.startswith("docker://")
        if not remote and not dst.startswith("oci:"):
            raise UsageError(f"cannot write to {dst!r}", hint="use oci:PATH[:TAG] or docker://REF")
        path, tag = (tmp / "out", "latest") if remote else parse_reference(dst)
        tag = tag or "latest"
        image = open_image(src, tmp, prefetch, registry_options)
        layout = Layout(path)
        cache_file = layout.path / CACHE
        cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}
        known = dict(cache)
        layers: list[Layer] = []
        reused = 0
        with progress.task(f"pack {compression}", len(image.layers)) as task:
            for layer in image.layers:
                packed, hit = _layer(layout, cache, layer, compression, prefetch, tmp)
                layers.append(packed)
                reused += hit
                task.advance(1)
        added = {k: v for k, v in cache.items() if known.get(k) != v}
        layout.update_json(CACHE, lambda current: {**current, **added})  # merged: writers at once keep both
        config = ImageConfig.parse(image.config_bytes, f"{src}: config")
        desc = layout.write_image(Image.build(config, layers), tag)  # same diff_ids: config bytes kept
        if remote:
            from falmigrate.oci.remote import transport
            pushed = transport.write_image(path, tag, dst, **(registry_options or {})).report()
            shutil.rmtree(path, ignore_errors=True)
    return {"digest": str(desc.digest), "destination": dst, "compression": compression,
            "layers": [{"digest": str(layer.digest), "size": layer.size} for layer in layers],
            "layers_reused": reused, "seconds": round(time.monotonic() - started, 3),
            **({"push": pushed} if pushed else {})}
