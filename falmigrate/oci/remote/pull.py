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
import time
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from falmigrate import progress
from falmigrate.errors import ImageError, IntegrityError, RegistryError
from falmigrate.oci.compress.toc import TocPosition
from falmigrate.oci.digest import Digest
from falmigrate.oci.layout import pid_alive
from falmigrate.oci.mediatypes import INDEX_TYPES, MANIFEST_ACCEPT
from falmigrate.oci.remote import chunked, localindex, startup
from falmigrate.oci.remote.client import RegistryClient, body_pieces, repo_scope
from falmigrate.oci.remote.reference import Reference
from falmigrate.oci.remote.stats import TransferStats
from falmigrate.oci.remote.store import Incoming, Store, Superseded
from falmigrate.oci.unpack import Rootfs
from falmigrate.oci.untar import apply_tar

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


@dataclass
class PullResult:
    reference: str
    digest: str
    manifest: dict
    layers: list[dict] = field(default_factory=list)  # digest, mode: partial|full|cached
    stats: TransferStats = field(default_factory=TransferStats)
    rootfs: str | None = None
    seconds: float = 0.0  # the whole pull (and unpack)
    startup_files: int = 0  # files and symlinks of the startup profile written ahead of their layers
    startup_ready_seconds: float | None = None  # when all of them were on disk (None: no profile)

    def report(self) -> dict:
        return {"reference": self.reference, "manifest_digest": self.digest, "rootfs": self.rootfs,
                "layers": self.layers, "seconds": self.seconds, "startup_files": self.startup_files,
                "startup_ready_seconds": self.startup_ready_seconds, **self.stats.as_dict()}


def default_platform() -> str:
    return f"linux/{_ARCH.get(platform_mod.machine().lower(), platform_mod.machine().lower())}"


def get_manifest(client: RegistryClient, repo: str, reference: str,
                 stats: TransferStats) -> tuple[bytes, str, str]:
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
    manifests: list[dict] = index.get("manifests", [])
    for m in manifests:
        p = m.get("platform") or {}
        if (p.get("os") == os_name and p.get("architecture") == arch
                and (not variant or p.get("variant") == variant)):
            return m
    found = sorted(f"{(m.get('platform') or {}).get('os')}/{(m.get('platform') or {}).get('architecture')}"
                   for m in manifests)
    raise ImageError(f"no {wanted} image in the index (it has: {', '.join(found) or 'nothing'})")


def fetch_blob(client: RegistryClient, repo: str, desc: dict, store: Store, stats: TransferStats,
               on_progress: Callable[[int], None] = lambda n: None, attempts: int = 3,
               incoming: Incoming | None = None,
               stop: threading.Event | None = None, spool: chunked.Spool | None = None) -> Path:
    """Download a blob into the store, verified while streaming; retried on truncation/corruption.
    ``incoming`` lets another thread read the bytes as they arrive (see ``Incoming``); setting ``stop``
    abandons the transfer (nothing is stored); ranges already fetched into ``spool`` are read from there
    and only the rest of the blob is requested (by range)."""
    digest = desc["digest"]
    if store.has_blob(digest):
        stats.add(bytes_reused=desc.get("size", 0))
        if incoming is not None:
            incoming.done(store.blob_path(digest))
        return store.blob_path(digest)
    for attempt in range(attempts):
        pieces = (_around(client, repo, desc, stats, stop, spool) if spool is not None
                  else _whole(client, repo, digest, stats, stop))
        try:
            path = store.write_blob(digest, _counted(pieces, on_progress), desc.get("size"),
                                    incoming=incoming)
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
            pieces.close()
    raise AssertionError("unreachable")


def _counted(pieces: Iterator[bytes], on_progress: Callable[[int], None]) -> Iterator[bytes]:
    for piece in pieces:
        on_progress(len(piece))
        yield piece


def _whole(client: RegistryClient, repo: str, digest: str, stats: TransferStats,
           stop: threading.Event | None) -> Generator[bytes, None, None]:
    resp = client.request("GET", f"/v2/{repo}/blobs/{digest}", scope=repo_scope(repo), stream=True,
                          what=f"blob {digest}")
    try:
        for chunk in body_pieces(resp):
            if stop is not None and stop.is_set():
                raise RegistryError(f"blob {digest}: transfer abandoned (the pull failed)")
            stats.add(bytes_fetched=len(chunk))
            yield chunk
    finally:
        resp.close()


def _around(client: RegistryClient, repo: str, desc: dict, stats: TransferStats, stop: threading.Event | None,
            spool: chunked.Spool) -> Generator[bytes, None, None]:
    """The blob in order: spooled ranges from the spool, the holes between them by range requests."""
    digest, size, pos = desc["digest"], desc.get("size", 0), 0
    for start, end in spool.merged():
        if pos < start:
            yield from chunked.stream_range(client, repo, digest, pos, start, stats, stop)
        yield from spool.read(start, end)
        pos = end
    if pos < size:
        yield from chunked.stream_range(client, repo, digest, pos, size, stats, stop)


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
         platform: str | None = None, partial: bool = True, jobs: int = 4,
         allow_devices: bool = False) -> PullResult:
    """Pull ``ref`` into ``store``; with ``to``, unpack its rootfs there.

    With ``to``, the image's startup files (marked in its FlashPack TOCs) are fetched and written first
    (``oci.remote.startup``). Then layers download in parallel while the rootfs is built layer by layer
    in order: a whole layer is unpacked as its bytes arrive. Nothing unverified stays: an empty or new
    ``to`` is built in a staging directory renamed onto it once every blob checked out (a non-empty
    ``to`` is unpacked in place, each layer only after its blob was verified)."""
    return _Pull(ref, store, client, to=to, partial=partial, jobs=jobs,
                 allow_devices=allow_devices).run(platform)


class _Pull:
    """One pull: the phases of ``pull`` and the state they share."""

    def __init__(self, ref: Reference, store: Store, client: RegistryClient, *, to: Path | None,
                 partial: bool, jobs: int, allow_devices: bool) -> None:
        self.ref, self.store, self.client, self.repo = ref, store, client, ref.repository
        self.to, self.jobs, self.allow_devices = to, max(1, jobs), allow_devices
        self.chunking = to is not None and partial
        self.stats = TransferStats()
        self.started = time.monotonic()
        self.local = localindex.sources(store) if self.chunking else localindex.LocalIndex()
        self.stop = threading.Event()
        self.early = startup.StartupSet()

    def run(self, platform: str | None) -> PullResult:
        root, manifest, _ = _resolve(self.client, self.ref, self.store, self.stats, platform)
        fetch_blob(self.client, self.repo, manifest["config"], self.store, self.stats)
        self.layers = manifest.get("layers", [])
        result = PullResult(reference=f"{self.ref.name}@{root['digest']}", digest=root["digest"],
                            manifest=manifest, stats=self.stats)
        staging = _Staging(Path(self.to)) if self.to is not None else None
        total = sum(layer.get("size", 0) for layer in self.layers)
        with (progress.task(f"pull {self.ref}", total) as bar,
              progress.ThreadPool(max_workers=self.jobs) as pool):
            self.bar, self.pool = bar, pool
            try:
                self.tocs = self._tocs()
                modes = self._layers(staging, result) if staging is not None else self._downloads()
            except BaseException:
                self.stop.set()  # running downloads stop at their next chunk
                if staging is not None:
                    staging.abandon()
                raise
            finally:
                self.early.close()
        result.layers = [{"digest": layer["digest"], "size": layer.get("size"), "mode": mode}
                         for layer, mode in zip(self.layers, modes)]
        if staging is None:
            self.store.tag(root, self.ref.tag or root["digest"])
        else:
            staging.commit()
            result.rootfs = str(self.to)
        result.seconds = round(time.monotonic() - self.started, 3)
        return result

    def _tocs(self) -> list[tuple[TocPosition, list[dict]] | None]:
        """Every FlashPack layer's verified TOC (from the store or one range request each), in parallel."""
        if not self.chunking:
            return [None] * len(self.layers)

        def one(layer: dict) -> tuple[TocPosition, list[dict]] | None:
            pos = chunked.toc_position(layer)
            if pos is None:
                return None
            return pos, chunked.read_toc(self.client, self.repo, layer, pos, self.store, self.stats)
        try:
            return list(self.pool.map(one, self.layers))
        except chunked.NoRangeSupport:
            progress.log(f"{self.ref.registry} ignores range requests: downloading whole layers")
            return [None] * len(self.layers)

    def _layers(self, staging: _Staging, result: PullResult) -> list[str]:
        """Startup set first, then every layer (downloads in parallel, unpacked in order)."""
        rootfs = Rootfs(staging.path, allow_devices=self.allow_devices, jobs=self.jobs)
        try:
            entries = [toc[1] if toc else None for toc in self.tocs]
            self.early = startup.fetch(self.client, self.repo, self.layers, entries, self.store, self.local,
                                       self.stats, self.bar.advance, self.jobs)
            if self.early.files:
                startup.write(rootfs, self.early, self.store, self.local)
                result.startup_files = self.early.files
                result.startup_ready_seconds = round(time.monotonic() - self.started, 3)
                progress.event("pull.startup_ready", str(result.startup_ready_seconds))
            plans: list[Future] = [Future() for _ in self.layers]
            downloads = [self.pool.submit(self._guarded, n, plans[n], staging)
                         for n in range(len(self.layers))]
            try:
                _unpack(rootfs, self.layers, plans, downloads, self.store, self.local)
                return [f.result() for f in downloads]
            except BaseException:
                for f in downloads:
                    f.cancel()
                raise
        finally:
            rootfs.close()

    def _downloads(self) -> list[str]:
        """Without a rootfs: every blob into the store."""
        plans: list[Future] = [Future() for _ in self.layers]
        downloads = [self.pool.submit(self._guarded, n, plans[n], None) for n in range(len(self.layers))]
        try:
            return [f.result() for f in downloads]
        except BaseException:
            for f in downloads:
                f.cancel()
            raise

    def _guarded(self, number: int, plan: Future, staging: _Staging | None) -> str:
        try:
            return self._one(number, plan, staging)
        except BaseException as exc:
            if not plan.done():
                plan.set_exception(exc)
            raise

    def _one(self, number: int, plan: Future, staging: _Staging | None) -> str:
        """Fetch one layer: partially (only what the store lacks) when that is less than half of it, else
        whole; ``plan`` tells the unpacker which (and hands it the arriving bytes)."""
        layer, toc, store = self.layers[number], self.tocs[number], self.store
        if toc is not None and not store.has_blob(layer["digest"]):
            pos, entries = toc
            size = layer.get("size", 0)
            work = chunked.plan(entries, store, self.local, skip=self.early.names(number), budget=size // 2)
            if not work.over_budget and work.fetch_bytes * 2 < size:
                chunked.fetch_files(self.client, self.repo, layer, work, store, self.stats, self.bar.advance,
                                    self.jobs, self.local)
                # its chunks, for next time
                localindex.remember(store, layer["digest"], chunked.toc_checksum(pos))
                plan.set_result(("partial", entries))
                return "partial"
        cached = store.has_blob(layer["digest"])
        incoming = Incoming() if staging is not None and staging.atomic and not cached else None
        plan.set_result(("cached" if cached else "full", incoming))
        fetch_blob(self.client, self.repo, layer, store, self.stats, self.bar.advance, incoming=incoming,
                   stop=self.stop, spool=self.early.spools.get(number))
        if toc is not None and store.has_file(chunked.toc_checksum(toc[0])):
            # cold layer: whole blob, TOC kept
            localindex.remember(store, layer["digest"], chunked.toc_checksum(toc[0]))
        return "cached" if cached else "full"


def _unpack(rootfs: Rootfs, layers: list[dict], plans: list[Future], downloads: list[Future], store: Store,
            local: localindex.LocalIndex) -> None:
    """Apply the layers in order as each becomes available (see ``pull``)."""
    for number, layer in enumerate(layers):
        label = f"{number} ({layer['digest'][:19]})"
        rootfs.begin_layer(label, number)
        mode, detail = plans[number].result()
        if mode == "partial":
            chunked.apply_toc(rootfs, detail, store, local)
            continue
        if detail is not None and _apply_arriving(rootfs, detail):
            continue
        if detail is not None:
            rootfs.begin_layer(label, number)  # that transfer failed: apply the verified retry over it
        downloads[number].result()
        with open(store.blob_path(layer["digest"]), "rb") as handle:
            apply_tar(rootfs, handle)
    rootfs.flush()


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
                   partial: bool = True, **client_options: Any) -> PullResult:
    with RegistryClient(ref.api_host, **client_options) as client:
        return pull(ref, Store(store_dir), client, to=to, platform=platform, partial=partial)
