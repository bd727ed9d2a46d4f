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

from falmigrate import progress
from falmigrate.errors import ImageError, IntegrityError, UsageError
from falmigrate.oci.compress import compress_tar
from falmigrate.oci.digest import Digest
from falmigrate.oci.layout import Layout, stored_layer
from falmigrate.oci.objects import Descriptor, Image, ImageConfig, Layer, decompressing

CACHE = "falmigrate-layer-cache.json"
# Bump when any compressor writes different bytes for the same tar (see _layer).
ENCODER_VERSION = 2
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


def _file_opener(path: Path) -> Callable[[], BinaryIO]:
    return lambda: open(path, "rb")


def _from_layout(ref: str) -> SourceImage:
    path, tag = split_oci(ref)
    if not (path / "oci-layout").exists():
        raise ImageError(f"{path}: not an OCI image layout (no oci-layout file)")
    image = Layout(path).image(tag)
    layers = [SourceLayer(str(layer.diff_id), layer.opener) for layer in image.layers]
    return SourceImage(image.config.to_bytes(), layers)


def _archive_member(tar: tarfile.TarFile, path: Path, name: str) -> bytes:
    try:
        member = tar.extractfile(name)
    except KeyError:
        member = None
    if member is None:
        raise ImageError(f"{path}: docker-archive has no file {name!r}",
                         hint="make it with `docker save IMAGE -o FILE` or `skopeo copy … docker-archive:FILE`")
    return member.read()


def _from_archive(ref: str) -> SourceImage:
    path = Path(ref.removeprefix("docker-archive:"))
    try:
        with tarfile.open(path) as tar:
            entries = json.loads(_archive_member(tar, path, "manifest.json"))
            if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict):
                raise ImageError(f"{path}: manifest.json lists no image")
            manifest = entries[0]
            if not isinstance(manifest.get("Config"), str) or not isinstance(manifest.get("Layers"), list):
                raise ImageError(f"{path}: manifest.json entry needs 'Config' and 'Layers'")
            config_bytes = _archive_member(tar, path, manifest["Config"])
            missing = [m for m in manifest["Layers"] if m not in tar.getnames()]
    except (OSError, tarfile.TarError) as exc:
        raise ImageError(f"{path}: cannot read docker-archive: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ImageError(f"not valid JSON: {exc.msg}", file=f"{path}:manifest.json",
                         line=exc.lineno) from exc
    if missing:
        raise ImageError(f"{path}: layers named in manifest.json are missing: {missing}")
    diff_ids = [str(d) for d in ImageConfig.parse(config_bytes, f"{path}:{manifest['Config']}").diff_ids]
    if len(diff_ids) != len(manifest["Layers"]):
        raise ImageError(f"{path}: {len(manifest['Layers'])} layers but {len(diff_ids)} diff_ids in the config")

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
    return SourceImage(ImageConfig.new([diff_id]).to_bytes(), [SourceLayer(diff_id, _file_opener(tar))])


def open_image(ref: str, workdir: Path | None = None, prefetch: list[str] | None = None,
               registry_options: dict | None = None) -> SourceImage:
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
        return transport.open_image(ref, workdir, **(registry_options or {}))
    if ref.startswith("docker-daemon:"):
        from falmigrate.oci import daemon
        return daemon.open_image(ref, workdir)
    raise UsageError(f"unknown image reference {ref!r}",
                     hint="use oci:PATH[:TAG], docker-archive:PATH, dir-tree:PATH, docker://REF or docker-daemon:NAME")


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
        return Layer(Descriptor.from_dict(hit, f"{layout.path / CACHE}: {key}"), Digest.parse(layer.diff_id)), True
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
        path, tag = (tmp / "out", "latest") if remote else split_oci(dst)
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
