"""Partial pull of FlashPack / zstd:chunked layers with HTTP range requests, chunk by chunk.

The layer's annotations give the position and sha256 of its compressed TOC; we fetch just that range
and read it with ``oci.compress.toc`` (the same reader the validator uses, here over HTTP ranges).
``plan`` decides, for each regular file whose digest the store lacks, where each of its chunks comes
from: a zero run (written, never fetched), a chunk already on disk (``localindex``: a frame of a stored
blob, a range of an earlier version of the file, or ``files/<chunk digest>``), or the registry. Only
the last kind is fetched — neighbouring ranges coalesced when the gap is small, ``jobs`` in parallel —
and each chunk is decompressed and verified against its digest. Single-chunk files go straight into
``files/<digest>``; a chunked file is assembled from its chunks into ``files/<digest>`` and its whole
digest checked. So after an edit in the middle of a large file only the changed chunks travel.

A registry that answers a range request with 200 (no range support), or a layer without the
annotations, makes the caller fall back to downloading the whole blob.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import zstandard

from falmigrate import progress
from falmigrate.errors import FalmigrateError, ImageError, IntegrityError
from falmigrate.oci.compress import toc as toclib
from falmigrate.oci.compress.toc import Chunk, TocPosition
from falmigrate.oci.remote.client import RegistryClient, repo_scope
from falmigrate.oci.remote.localindex import LocalIndex, Source, opener
from falmigrate.oci.remote.stats import TransferStats
from falmigrate.oci.remote.store import Store
from falmigrate.oci.unpack import Entry, Rootfs, parse_time

GAP = 16 << 10  # fetch a gap this small rather than issue another request
MAX_RANGE = 16 << 20
ZEROS = bytes(1 << 20)


class NoRangeSupport(Exception):
    """The registry ignored a Range header; use the whole blob."""


def toc_position(layer: dict) -> TocPosition | None:
    if not layer.get("mediaType", "").endswith("+zstd"):
        return None
    return toclib.position_from_annotations(layer.get("annotations"), layer.get("size", 0))


def fetch_range(client: RegistryClient, repo: str, digest: str, start: int, end: int,
                stats: TransferStats) -> bytes:
    """Bytes [start, end) of a blob; NoRangeSupport when the registry sends the whole blob."""
    resp = client.request("GET", f"/v2/{repo}/blobs/{digest}", scope=repo_scope(repo), stream=True,
                          headers={"Range": f"bytes={start}-{end - 1}"}, ok=(200, 206),
                          what=f"range {start}-{end - 1} of blob {digest}")
    try:
        if resp.status_code != 206:
            raise NoRangeSupport
        data = bytearray()
        for chunk in resp.iter_bytes(1 << 20):
            data += chunk
            stats.add(bytes_fetched=len(chunk))
        stats.add(range_requests=1)
    finally:
        resp.close()
    if len(data) != end - start:
        raise IntegrityError(f"range {start}-{end - 1} of blob {digest}: got {len(data)} bytes")
    return bytes(data)


def read_toc(client: RegistryClient, repo: str, layer: dict, pos: TocPosition, store: Store,
             stats: TransferStats) -> list[dict]:
    """The layer's TOC entries: the compressed TOC comes from the store or one range request."""
    if store.has_file(pos.checksum):
        raw = store.file_path(pos.checksum).read_bytes()
    else:
        raw = fetch_range(client, repo, layer["digest"], pos.offset, pos.offset + pos.length, stats)
    try:
        entries = toclib.parse_toc(raw, pos)["entries"]
    except FalmigrateError as exc:
        raise ImageError(f"layer {layer['digest']}: {exc}") from None
    store.write_file(pos.checksum, [raw], pos.length)
    return entries


@dataclass
class FilePlan:
    entry: dict
    chunks: list[Chunk]


@dataclass
class Plan:
    """What a partial pull of one layer needs: files to produce and the chunks to fetch for them."""

    files: list[FilePlan] = field(default_factory=list)
    fetch: list[tuple[Chunk, str]] = field(default_factory=list)  # (chunk, file name), by offset
    files_reused: int = 0
    chunks_reused: int = 0

    @property
    def fetch_bytes(self) -> int:
        return sum(chunk.end - chunk.offset for chunk, _ in self.fetch)


def _have(store: Store, local: LocalIndex, chunk: Chunk) -> bool:
    return bool(chunk.digest) and (store.has_file(chunk.digest) or chunk.digest in local.chunks)


def plan(entries: list[dict], store: Store, local: LocalIndex) -> Plan:
    """Which files the store lacks and which of their chunks must come from the registry."""
    result = Plan()
    seen_files: set[str] = set()
    queued: set[str] = set()
    for entry, chunks in toclib.file_chunks(entries):
        digest = entry.get("digest")
        if not digest or digest in seen_files:
            continue
        seen_files.add(digest)
        if store.has_file(digest) or digest in local.files:
            result.files_reused += 1
            continue
        if len(chunks) == 1 and not chunks[0].zeros:  # fetched straight into files/<file digest>
            chunks = [Chunk(chunks[0].offset, chunks[0].end, 0, chunks[0].size, digest)]
        result.files.append(FilePlan(entry, chunks))
        for chunk in chunks:
            if chunk.digest is None and not chunk.zeros:
                raise ImageError(f"TOC entry {entry['name']!r}: a chunk without chunkDigest")
            if chunk.zeros or len(chunks) > 1 and _have(store, local, chunk):
                result.chunks_reused += 1
            elif chunk.digest not in queued:
                queued.add(chunk.digest)
                result.fetch.append((chunk, entry["name"]))
    result.fetch.sort(key=lambda item: item[0].offset)
    return result


def _groups(items: list[tuple[Chunk, str]]) -> Iterator[list[tuple[Chunk, str]]]:
    group: list[tuple[Chunk, str]] = []
    for item in items:
        chunk = item[0]
        if group and (chunk.offset - group[-1][0].end > GAP or chunk.end - group[0][0].offset > MAX_RANGE):
            yield group
            group = []
        group.append(item)
    if group:
        yield group


_local = threading.local()


def _decompressor() -> zstandard.ZstdDecompressor:
    if not hasattr(_local, "dctx"):
        _local.dctx = zstandard.ZstdDecompressor()
    return _local.dctx


def _chunk_pieces(store: Store, local: LocalIndex, chunk: Chunk) -> Iterator[bytes]:
    if chunk.zeros:
        for start in range(0, chunk.size, len(ZEROS)):
            yield ZEROS[:min(len(ZEROS), chunk.size - start)]
        return
    path = store.file_path(chunk.digest)
    source = Source(path, 0, chunk.size, chunk.size, compressed=False) if path.is_file() else local.chunks[chunk.digest]
    yield from source.read()


def _assemble(store: Store, local: LocalIndex, item: FilePlan) -> None:
    """Write a chunked file into files/ from its chunks; the store checks the whole-file digest."""
    def pieces() -> Iterator[bytes]:
        for chunk in item.chunks:
            yield from _chunk_pieces(store, local, chunk)
    try:
        store.write_file(item.entry["digest"], pieces(), item.entry["size"])
    except IntegrityError as exc:
        raise IntegrityError(f"file {item.entry['name']!r} assembled from its chunks: {exc}") from None


def fetch_files(client: RegistryClient, repo: str, layer: dict, work: Plan, store: Store,
                stats: TransferStats, on_progress=lambda n: None, jobs: int = 4,
                local: LocalIndex | None = None) -> None:
    """Fetch and verify the planned chunks, then assemble every planned file into the store."""
    local = local or LocalIndex()
    stats.add(files_reused=work.files_reused, chunks_reused=work.chunks_reused)

    def one(group: list[tuple[Chunk, str]]) -> None:
        start, end = group[0][0].offset, max(chunk.end for chunk, _ in group)
        data = fetch_range(client, repo, layer["digest"], start, end, stats)
        on_progress(end - start)
        for chunk, name in group:
            piece = data[chunk.offset - start:chunk.end - start]
            try:
                content = _decompressor().decompressobj(read_across_frames=True).decompress(piece)
                store.write_file(chunk.digest, [content], chunk.size)  # verified against the TOC digest
            except (zstandard.ZstdError, IntegrityError) as exc:
                raise IntegrityError(f"layer {layer['digest']}: file {name!r}, chunk at blob bytes "
                                     f"{chunk.offset}-{chunk.end}: {exc}") from None
            stats.add(chunks_fetched=1)

    with progress.ThreadPool(max_workers=max(1, jobs)) as pool:
        list(pool.map(one, _groups(work.fetch)))
        multi = [item for item in work.files if len(item.chunks) > 1 or item.chunks[0].zeros]
        list(pool.map(lambda item: _assemble(store, local, item), multi))
    stats.add(files_fetched=len(work.files))


def _entry(e: dict) -> Entry:
    return Entry(name=e["name"], type=e["type"], mode=int(e.get("mode", 0o644)), uid=int(e.get("uid", 0)),
                 gid=int(e.get("gid", 0)), mtime=parse_time(e.get("modtime")), linkname=e.get("linkName", ""),
                 devmajor=int(e.get("devMajor", 0)), devminor=int(e.get("devMinor", 0)))


def apply_toc(rootfs: Rootfs, entries: list[dict], store: Store, local: LocalIndex | None = None) -> None:
    """Apply a partially pulled layer: TOC metadata plus file contents from the store."""
    local = local or LocalIndex()
    for e in entries:
        if e.get("type") == "chunk":
            continue
        content = None
        if e.get("type") == "reg" and e.get("size"):
            content = opener(store, local, e["digest"])
        rootfs.apply(_entry(e), content, parallel=True)
    rootfs.flush()
