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

import os
import threading
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import zstandard

from falmigrate import progress
from falmigrate.errors import FalmigrateError, ImageError, IntegrityError, RegistryError
from falmigrate.oci.compress import toc as toclib
from falmigrate.oci.compress.toc import Chunk, TocPosition
from falmigrate.oci.remote.client import RegistryClient, body_pieces, repo_scope
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


def toc_checksum(pos: TocPosition) -> str:
    """The sha256 of a layer's TOC: ``toc_position`` gives no position whose annotations lack it."""
    assert pos.checksum is not None
    return pos.checksum


def _open_range(client: RegistryClient, repo: str, digest: str, start: int, end: int) -> httpx.Response:
    """The streamed response to a request for bytes [start, end) of a blob; NoRangeSupport (the
    response closed) when the registry ignores the Range header and answers 200 with the whole blob."""
    resp = client.request("GET", f"/v2/{repo}/blobs/{digest}", scope=repo_scope(repo), stream=True,
                          headers={"Range": f"bytes={start}-{end - 1}"}, ok=(200, 206),
                          what=f"range {start}-{end - 1} of blob {digest}")
    if resp.status_code != 206:
        resp.close()
        raise NoRangeSupport
    return resp


def _check_range_length(digest: str, start: int, end: int, got: int) -> None:
    if got != end - start:
        raise IntegrityError(f"range {start}-{end - 1} of blob {digest}: got {got} bytes")


def fetch_range(client: RegistryClient, repo: str, digest: str, start: int, end: int,
                stats: TransferStats) -> bytes:
    """Bytes [start, end) of a blob; NoRangeSupport when the registry sends the whole blob."""
    resp = _open_range(client, repo, digest, start, end)
    try:
        data = bytearray()
        for chunk in body_pieces(resp):
            data += chunk
            stats.add(bytes_fetched=len(chunk))
        stats.add(range_requests=1)
    finally:
        resp.close()
    _check_range_length(digest, start, end, len(data))
    return bytes(data)


def stream_range(client: RegistryClient, repo: str, digest: str, start: int, end: int, stats: TransferStats,
                 stop: threading.Event | None = None) -> Iterator[bytes]:
    """Bytes [start, end) of a blob as they arrive (for long ranges); NoRangeSupport as ``fetch_range``."""
    resp = _open_range(client, repo, digest, start, end)
    try:
        stats.add(range_requests=1)
        got = 0
        for chunk in body_pieces(resp):
            if stop is not None and stop.is_set():
                raise RegistryError(f"blob {digest}: transfer abandoned (the pull failed)")
            got += len(chunk)
            stats.add(bytes_fetched=len(chunk))
            yield chunk
    finally:
        resp.close()
    _check_range_length(digest, start, end, got)


def read_toc(client: RegistryClient, repo: str, layer: dict, pos: TocPosition, store: Store,
             stats: TransferStats) -> list[dict]:
    """The layer's TOC entries: the compressed TOC comes from the store (kept by an earlier pull, or
    read from the stored blob) or one range request."""
    checksum = toc_checksum(pos)
    if store.has_file(checksum):
        raw = store.file_path(checksum).read_bytes()
    elif store.has_blob(layer["digest"]):
        with open(store.blob_path(layer["digest"]), "rb") as handle:
            raw = os.pread(handle.fileno(), pos.length, pos.offset)
    else:
        raw = fetch_range(client, repo, layer["digest"], pos.offset, pos.offset + pos.length, stats)
    try:
        entries: list[dict] = toclib.parse_toc(raw, pos)["entries"]
    except FalmigrateError as exc:
        raise ImageError(f"layer {layer['digest']}: {exc}") from None
    store.write_file(checksum, [raw], pos.length)
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
    bytes_reused: int = 0  # compressed bytes of the layer the store already had (not fetched)
    over_budget: bool = False  # planning stopped: fetching would cost more than the caller's budget

    @property
    def fetch_bytes(self) -> int:
        return sum(chunk.end - chunk.offset for chunk, _ in self.fetch)


def _have(store: Store, local: LocalIndex, chunk: Chunk) -> bool:
    if not chunk.digest:
        return False
    return store.has_file(chunk.digest) or chunk.digest in local.chunks


def plan(entries: list[dict], store: Store, local: LocalIndex, only: Container[str] | None = None,
         skip: Container[str] = (), budget: int | None = None) -> Plan:
    """Which files the store lacks and which of their chunks must come from the registry (``only``:
    just the files of these entry names; ``skip``: not those, e.g. startup files already handled).
    With ``budget``, planning stops (``over_budget``) once the bytes to fetch exceed it: a cold pull
    then skips a store lookup per file of a layer it downloads whole anyway."""
    result = Plan()
    to_fetch = 0
    seen_files: set[str] = set()
    queued: set[str] = set()
    for entry, chunks in toclib.file_chunks(entries):
        digest = entry.get("digest")
        if not digest or digest in seen_files or (only is not None and entry["name"] not in only) \
                or entry["name"] in skip:
            continue
        seen_files.add(digest)
        if store.has_file(digest) or digest in local.files:
            result.files_reused += 1
            result.bytes_reused += entry.get("endOffset", 0) - entry.get("offset", 0)
            continue
        if len(chunks) == 1 and not chunks[0].zeros:  # fetched straight into files/<file digest>
            chunks = [Chunk(chunks[0].offset, chunks[0].end, 0, chunks[0].size, digest)]
        result.files.append(FilePlan(entry, chunks))
        for chunk in chunks:
            if chunk.digest is None and not chunk.zeros:
                raise ImageError(f"TOC entry {entry['name']!r}: a chunk without chunkDigest")
            if chunk.zeros or len(chunks) > 1 and _have(store, local, chunk):
                result.chunks_reused += 1
                result.bytes_reused += chunk.end - chunk.offset
            elif chunk.digest is not None and chunk.digest not in queued:  # not None: refused above
                queued.add(chunk.digest)
                result.fetch.append((chunk, entry["name"]))
                to_fetch += chunk.end - chunk.offset
        if budget is not None and to_fetch > budget:
            result.over_budget = True
            return result
    result.fetch.sort(key=lambda item: item[0].offset)
    return result


def _groups(items: list[tuple[Chunk, str]], gap: int = GAP) -> Iterator[list[tuple[Chunk, str]]]:
    group: list[tuple[Chunk, str]] = []
    for item in items:
        chunk = item[0]
        if group and (chunk.offset - group[-1][0].end > gap or chunk.end - group[0][0].offset > MAX_RANGE):
            yield group
            group = []
        group.append(item)
    if group:
        yield group


_local = threading.local()


def _decompressor() -> zstandard.ZstdDecompressor:
    dctx: zstandard.ZstdDecompressor | None = getattr(_local, "dctx", None)
    if dctx is None:
        dctx = _local.dctx = zstandard.ZstdDecompressor()
    return dctx


def _chunk_pieces(store: Store, local: LocalIndex, chunk: Chunk) -> Iterator[bytes]:
    if chunk.zeros:
        for start in range(0, chunk.size, len(ZEROS)):
            yield ZEROS[:min(len(ZEROS), chunk.size - start)]
        return
    assert chunk.digest is not None  # plan() refuses data chunks without one
    path = store.file_path(chunk.digest)
    source = (Source(path, 0, chunk.size, chunk.size, compressed=False) if path.is_file()
              else local.chunks[chunk.digest])
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


class Spool:
    """Compressed ranges of a blob fetched ahead (the startup files), kept at their own offsets in a sparse
    file so the whole-blob download later reads them from here instead of fetching them again."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ranges: list[tuple[int, int]] = []
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        self._lock = threading.Lock()

    def put(self, offset: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.pwrite(self._fd, view, offset)
            view, offset = view[written:], offset + written
        with self._lock:
            self.ranges.append((offset - len(data), offset))

    def merged(self) -> list[tuple[int, int]]:
        """The fetched ranges, sorted, touching ones joined."""
        out: list[tuple[int, int]] = []
        for start, end in sorted(self.ranges):
            if out and start <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], end))
            else:
                out.append((start, end))
        return out

    def read(self, start: int, end: int) -> Iterator[bytes]:
        while start < end:
            data = os.pread(self._fd, min(1 << 20, end - start), start)
            if not data:
                raise IntegrityError(f"{self.path}: spooled range ends early at {start}")
            start += len(data)
            yield data

    def close(self) -> None:
        os.close(self._fd)
        self.path.unlink(missing_ok=True)


def fetch_files(client: RegistryClient, repo: str, layer: dict, work: Plan, store: Store,
                stats: TransferStats, on_progress: Callable[[int], None] = lambda n: None, jobs: int = 4,
                local: LocalIndex | None = None, *, spool: Spool | None = None, gap: int = GAP) -> None:
    """Fetch and verify the planned chunks, then assemble every planned file into the store. With a
    ``spool``, the fetched compressed ranges are kept there too; ``gap``: the largest hole between two
    chunks fetched in one request."""
    local = local or LocalIndex()
    stats.add(files_reused=work.files_reused, chunks_reused=work.chunks_reused,
              bytes_reused=work.bytes_reused)

    def one(group: list[tuple[Chunk, str]]) -> None:
        start, end = group[0][0].offset, max(chunk.end for chunk, _ in group)
        data = fetch_range(client, repo, layer["digest"], start, end, stats)
        if spool is not None:
            spool.put(start, data)
        on_progress(end - start)
        for chunk, name in group:
            assert chunk.digest is not None  # plan() queues only chunks with one
            piece = data[chunk.offset - start:chunk.end - start]
            try:
                content = _decompressor().decompressobj(read_across_frames=True).decompress(piece)
                store.write_file(chunk.digest, [content], chunk.size)  # verified against the TOC digest
            except (zstandard.ZstdError, IntegrityError) as exc:
                raise IntegrityError(f"layer {layer['digest']}: file {name!r}, chunk at blob bytes "
                                     f"{chunk.offset}-{chunk.end}: {exc}") from None
            stats.add(chunks_fetched=1)

    with progress.ThreadPool(max_workers=max(1, jobs)) as pool:
        list(pool.map(one, _groups(work.fetch, gap)))
        multi = [item for item in work.files if len(item.chunks) > 1 or item.chunks[0].zeros]
        list(pool.map(lambda item: _assemble(store, local, item), multi))
    stats.add(files_fetched=len(work.files))


def toc_entry(e: dict) -> Entry:
    """The unpacker's Entry of a TOC entry."""
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
        rootfs.apply(toc_entry(e), content, parallel=True)
    rootfs.flush()
