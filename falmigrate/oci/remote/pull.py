"""Pull an image from a registry into the local store, and optionally unpack it into a rootfs.

Manifests are fetched with every media type we read in ``Accept``; an index is narrowed to one
platform. Blobs are verified while they stream into the store (temp file + rename: a killed pull
leaves no bad blob, a rerun continues). With ``to=DIR`` the layers are unpacked safely; FlashPack /
zstd:chunked layers are pulled partially (TOC + only the files the store lacks) when the registry
honours range requests — only the files, and of big files only the chunks, that the store lacks —
other layers are downloaded whole. Without ``to`` every blob is fetched so
the store holds a complete OCI layout tagged with the reference.
"""

from __future__ import annotations

import io
import json
import os
import platform as platform_mod
import shutil
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from falmigrate import progress
from falmigrate.errors import ImageError, IntegrityError, RegistryError
from falmigrate.oci.digest import Digest
from falmigrate.oci.layout import pid_alive
from falmigrate.oci.mediatypes import INDEX_TYPES, MANIFEST_ACCEPT
from falmigrate.oci.remote import chunked, localindex
from falmigrate.oci.remote.client import RegistryClient, repo_scope
from falmigrate.oci.remote.reference import Reference
from falmigrate.oci.remote.stats import TransferStats
from falmigrate.oci.remote.store import Incoming, Store, Superseded
from falmigrate.oci.unpack import Rootfs, apply_tar

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


@dataclass
class PullResult:
    reference: str
    digest: str
    manifest: dict
    layers: list[dict] = field(default_factory=list)  # digest, mode: partial|full|cached
    stats: TransferStats = field(default_factory=TransferStats)
    rootfs: str | None = None

    def report(self) -> dict:
        return {"reference": self.reference, "manifest_digest": self.digest, "rootfs": self.rootfs,
                "layers": self.layers, **self.stats.as_dict()}


def default_platform() -> str:
    return f"linux/{_ARCH.get(platform_mod.machine().lower(), platform_mod.machine().lower())}"


def get_manifest(client: RegistryClient, repo: str, reference: str, stats: TransferStats) -> tuple[bytes, str, str]:
    """(bytes, media type, digest) of a manifest, checked against a pinned digest."""
    resp = client.request("GET", f"/v2/{repo}/manifests/{reference}", scope=repo_scope(repo),
                          headers={"Accept": MANIFEST_ACCEPT}, what=f"manifest {repo}:{reference}")
    data = resp.content
    stats.add(bytes_fetched=len(data))
    digest = str(Digest.of_bytes(data))
    if reference.startswith("sha256:") and digest != reference:
        raise IntegrityError(f"manifest {repo}@{reference}: registry sent bytes with digest {digest}")
    echoed = resp.headers.get("docker-content-digest")
    if echoed and echoed.startswith("sha256:") and echoed != digest:
        raise IntegrityError(f"manifest {repo}:{reference}: header says {echoed}, bytes are {digest}")
    try:
        media_type = json.loads(data).get("mediaType") or resp.headers.get("content-type", "").split(";")[0]
    except ValueError:
        raise ImageError(f"manifest {repo}:{reference} is not JSON") from None
    return data, media_type, digest


def _choose(index: dict, wanted: str) -> dict:
    os_name, _, rest = wanted.partition("/")
    arch, _, variant = rest.partition("/")
    for m in index.get("manifests", []):
        p = m.get("platform") or {}
        if p.get("os") == os_name and p.get("architecture") == arch and (not variant or p.get("variant") == variant):
            return m
    found = sorted(f"{(m.get('platform') or {}).get('os')}/{(m.get('platform') or {}).get('architecture')}"
                   for m in index.get("manifests", []))
    raise ImageError(f"no {wanted} image in the index (it has: {', '.join(found) or 'nothing'})")


def fetch_blob(client: RegistryClient, repo: str, desc: dict, store: Store, stats: TransferStats,
               on_progress=lambda n: None, attempts: int = 3, incoming: Incoming | None = None,
               stop: threading.Event | None = None) -> Path:
    """Download a blob into the store, verified while streaming; retried on truncation/corruption.
    ``incoming`` lets another thread read the bytes as they arrive (see ``Incoming``); setting ``stop``
    abandons the transfer (nothing is stored)."""
    digest = desc["digest"]
    if store.has_blob(digest):
        stats.add(bytes_reused=desc.get("size", 0))
        if incoming is not None:
            incoming.done(store.blob_path(digest))
        return store.blob_path(digest)
    for attempt in range(attempts):
        try:
            resp = client.request("GET", f"/v2/{repo}/blobs/{digest}", scope=repo_scope(repo), stream=True,
                                  what=f"blob {digest}")
        except BaseException:
            if incoming is not None:
                incoming.failed()
            raise
        try:
            def chunks(resp=resp):
                for chunk in resp.iter_bytes(1 << 20):
                    if stop is not None and stop.is_set():
                        raise RegistryError(f"blob {digest}: transfer abandoned (the pull failed)")
                    stats.add(bytes_fetched=len(chunk))
                    on_progress(len(chunk))
                    yield chunk
            path = store.write_blob(digest, chunks(), desc.get("size"), incoming=incoming)
            stats.add(blobs_fetched=1)
            return path
        except (IntegrityError, httpx.TransportError) as exc:
            if attempt == attempts - 1:
                if isinstance(exc, IntegrityError):
                    raise
                raise RegistryError(f"blob {digest}: transfer failed ({type(exc).__name__}) "
                                    f"after {attempts} attempts") from None
            progress.log(f"retrying blob {digest[:19]}: {exc}")
        finally:
            resp.close()
    raise AssertionError("unreachable")


def _resolve(client: RegistryClient, ref: Reference, store: Store, stats: TransferStats,
             platform: str | None) -> tuple[dict, dict, str]:
    """(root descriptor, image manifest, image manifest digest); manifests stored as blobs."""
    data, media_type, digest = get_manifest(client, ref.repository, ref.reference, stats)
    store.write_blob(digest, [data], len(data))
    root = {"mediaType": media_type, "digest": digest, "size": len(data)}
    doc = json.loads(data)
    if media_type in INDEX_TYPES or "manifests" in doc:
        chosen = _choose(doc, platform or default_platform())
        data, media_type, digest = get_manifest(client, ref.repository, chosen["digest"], stats)
        store.write_blob(digest, [data], len(data))
        doc = json.loads(data)
    if "config" not in doc:
        raise ImageError(f"{ref}: manifest {digest} has no config (media type {media_type!r})")
    return root, doc, digest


def pull(ref: Reference, store: Store, client: RegistryClient, *, to: Path | None = None,
         platform: str | None = None, partial: bool = True, jobs: int = 4, allow_devices: bool = False) -> PullResult:
    """Pull ``ref`` into ``store``; with ``to``, unpack its rootfs there.

    Layers download in parallel while the rootfs is built layer by layer in order: a whole layer is
    unpacked as its bytes arrive. Nothing unverified stays: an empty or new ``to`` is built in a
    staging directory renamed onto it once every blob checked out (a non-empty ``to`` is unpacked in
    place, each layer only after its blob was verified)."""
    stats = TransferStats()
    root, manifest, _ = _resolve(client, ref, store, stats, platform)
    repo = ref.repository
    fetch_blob(client, repo, manifest["config"], store, stats)
    layers = manifest.get("layers", [])
    result = PullResult(reference=f"{ref.name}@{root['digest']}", digest=root["digest"], manifest=manifest, stats=stats)
    local = localindex.sources(store) if to is not None and partial else localindex.LocalIndex()
    staging = _Staging(Path(to)) if to is not None else None
    plans: list[Future] = [Future() for _ in layers]
    stop = threading.Event()
    with progress.task(f"pull {ref}", sum(layer.get("size", 0) for layer in layers)) as bar:
        def one(number: int, layer: dict) -> str:
            pos = chunked.toc_position(layer) if to is not None and partial else None
            if pos is not None and not store.has_blob(layer["digest"]):
                try:
                    entries = chunked.read_toc(client, repo, layer, pos, store, stats)
                    work = chunked.plan(entries, store, local)
                    if work.fetch_bytes * 2 < layer.get("size", 0):
                        chunked.fetch_files(client, repo, layer, work, store, stats, bar.advance, jobs, local)
                        localindex.remember(store, layer["digest"], pos.checksum)  # its chunks, for next time
                        plans[number].set_result(("partial", entries))
                        return "partial"
                except chunked.NoRangeSupport:
                    progress.log(f"{ref.registry} ignores range requests: downloading whole layers")
                    pos = None
            cached = store.has_blob(layer["digest"])
            incoming = Incoming() if staging is not None and staging.atomic and not cached else None
            plans[number].set_result(("cached" if cached else "full", incoming))
            fetch_blob(client, repo, layer, store, stats, bar.advance, incoming=incoming, stop=stop)
            if pos is not None and store.has_file(pos.checksum):
                localindex.remember(store, layer["digest"], pos.checksum)  # cold layer: whole blob, TOC kept
            return "cached" if cached else "full"

        def guarded(number: int, layer: dict) -> str:
            try:
                return one(number, layer)
            except BaseException as exc:
                if not plans[number].done():
                    plans[number].set_exception(exc)
                raise

        with progress.ThreadPool(max_workers=max(1, jobs)) as pool:
            downloads = [pool.submit(guarded, n, layer) for n, layer in enumerate(layers)]
            try:
                if staging is not None:
                    _unpack(staging, layers, plans, downloads, store, local, allow_devices, jobs)
                modes = [f.result() for f in downloads]
            except BaseException:
                stop.set()  # running downloads stop at their next chunk
                for f in downloads:
                    f.cancel()
                if staging is not None:
                    staging.abandon()
                raise
    result.layers = [{"digest": layer["digest"], "size": layer.get("size"), "mode": mode}
                     for layer, mode in zip(layers, modes)]
    if staging is None:
        store.tag(root, ref.tag or root["digest"])
    else:
        staging.commit()
        result.rootfs = str(to)
    return result


def _unpack(staging: _Staging, layers: list[dict], plans: list[Future], downloads: list[Future], store: Store,
            local: localindex.LocalIndex, allow_devices: bool, jobs: int) -> None:
    """Apply the layers in order as each becomes available (see ``pull``)."""
    rootfs = Rootfs(staging.path, allow_devices=allow_devices, jobs=jobs)
    try:
        for number, layer in enumerate(layers):
            label = f"{number} ({layer['digest'][:19]})"
            rootfs.begin_layer(label)
            mode, detail = plans[number].result()
            if mode == "partial":
                chunked.apply_toc(rootfs, detail, store, local)
                continue
            if detail is not None and _apply_arriving(rootfs, detail):
                continue
            if detail is not None:
                rootfs.begin_layer(label)  # that transfer failed: apply the verified retry over it
            downloads[number].result()
            with open(store.blob_path(layer["digest"]), "rb") as handle:
                apply_tar(rootfs, handle)
    finally:
        rootfs.close()


def _apply_arriving(rootfs: Rootfs, incoming: Incoming) -> bool:
    """Unpack a layer from its bytes as they arrive. True when the transfer we read was verified; False
    when it failed (garbled bytes may have made the unpack fail too: only the retry counts)."""
    reader = incoming.open()
    try:
        apply_tar(rootfs, io.BufferedReader(reader, 1 << 20))
        rootfs.flush()
    except Superseded:
        return False
    except Exception:
        if reader.generation and not incoming.verified(reader):
            return False
        raise  # the verified layer itself is bad
    finally:
        reader.close()
    return incoming.verified(reader)


class _Staging:
    """Where a rootfs is built: a hidden sibling of an empty/new target, renamed onto it at the end."""

    PREFIX = ".falmigrate-unpack-"

    def __init__(self, target: Path) -> None:
        self.target = target
        self.atomic = not target.exists() or (target.is_dir() and not any(target.iterdir()))
        if not self.atomic:
            self.path = target
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(target.parent, f"{self.PREFIX}{target.name}-")
        self.path = target.parent / f"{self.PREFIX}{target.name}-{os.getpid()}"
        shutil.rmtree(self.path, ignore_errors=True)

    def commit(self) -> None:
        if self.atomic:
            if self.target.is_dir():
                self.target.rmdir()  # empty, checked at the start
            os.rename(self.path, self.target)

    def abandon(self) -> None:
        if self.atomic:
            shutil.rmtree(self.path, ignore_errors=True)


def _remove_stale(parent: Path, prefix: str) -> None:
    """Staging directories left by killed pulls (their process is gone)."""
    for path in parent.glob(f"{prefix}*"):
        pid = path.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def pull_reference(ref: Reference, store_dir: Path, *, to: Path | None = None, platform: str | None = None,
                   partial: bool = True, **client_options) -> PullResult:
    with RegistryClient(ref.api_host, **client_options) as client:
        return pull(ref, Store(store_dir), client, to=to, platform=platform, partial=partial)
