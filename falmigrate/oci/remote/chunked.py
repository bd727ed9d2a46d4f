"""Partial pull of FlashPack / zstd:chunked layers with HTTP range requests.

The layer's annotations give the position and sha256 of its compressed TOC; we fetch just that range,
verify it, and list the regular files. Every file whose content digest the local store lacks is
fetched as its own compressed range (each file starts a new zstd frame, and its frames end at the
entry's ``endOffset``), with neighbouring ranges coalesced when the gap is small; each file is
decompressed, verified against the TOC digest and stored by digest. The layer is then applied from
the TOC and the file store. A registry that answers a range request with 200 (no range support), or a
layer without the annotations, makes the caller fall back to downloading the whole blob.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import zstandard

from falmigrate.errors import ImageError, IntegrityError
from falmigrate.oci.mediatypes import (
    ZSTD_CHUNKED_MANIFEST_CHECKSUM,
    ZSTD_CHUNKED_MANIFEST_CHECKSUM_OLD,
    ZSTD_CHUNKED_MANIFEST_POSITION,
    ZSTD_CHUNKED_MANIFEST_POSITION_OLD,
)
from falmigrate.oci.remote.client import RegistryClient, repo_scope
from falmigrate.oci.remote.stats import TransferStats
from falmigrate.oci.remote.store import Store
from falmigrate.oci.unpack import Entry, Rootfs, parse_time

GAP = 16 << 10  # fetch a gap this small rather than issue another request
MAX_RANGE = 16 << 20
MAX_TOC = 256 << 20


class NoRangeSupport(Exception):
    """The registry ignored a Range header; use the whole blob."""


@dataclass(frozen=True)
class TocPosition:
    checksum: str
    offset: int
    length: int
    uncompressed: int


def toc_position(layer: dict) -> TocPosition | None:
    ann = layer.get("annotations") or {}
    checksum = ann.get(ZSTD_CHUNKED_MANIFEST_CHECKSUM) or ann.get(ZSTD_CHUNKED_MANIFEST_CHECKSUM_OLD)
    position = ann.get(ZSTD_CHUNKED_MANIFEST_POSITION) or ann.get(ZSTD_CHUNKED_MANIFEST_POSITION_OLD)
    if not checksum or not position or not layer.get("mediaType", "").endswith("+zstd"):
        return None
    try:
        offset, length, uncompressed, kind = (int(x) for x in position.split(":")[:4])
    except ValueError:
        return None
    if kind != 1 or length <= 0 or offset + length > layer.get("size", 0) or uncompressed > MAX_TOC:
        return None
    return TocPosition(checksum, offset, length, uncompressed)


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
    if not store.has_file(pos.checksum):
        data = fetch_range(client, repo, layer["digest"], pos.offset, pos.offset + pos.length, stats)
        store.write_file(pos.checksum, [data], pos.length)
    compressed = store.file_path(pos.checksum).read_bytes()
    try:
        raw = zstandard.ZstdDecompressor().decompress(compressed, max_output_size=max(pos.uncompressed, 1))
        toc = json.loads(raw)
        return list(toc["entries"])
    except (zstandard.ZstdError, ValueError, KeyError, TypeError) as exc:
        raise ImageError(f"layer {layer['digest']}: unreadable zstd:chunked TOC ({exc})") from None


def missing_files(entries: list[dict], store: Store, local: dict) -> list[dict]:
    """Regular files (one per digest) neither in the file store nor in a stored blob, by offset."""
    seen: set[str] = set()
    wanted = []
    for e in entries:
        if e.get("type") == "reg" and e.get("size") and e.get("digest") and e["digest"] not in seen:
            seen.add(e["digest"])
            if e["digest"] not in local and not store.has_file(e["digest"]):
                if "offset" not in e or "endOffset" not in e:
                    raise ImageError(f"TOC entry {e.get('name')!r} has no offset/endOffset")
                wanted.append(e)
    return sorted(wanted, key=lambda e: e["offset"])


def _groups(files: list[dict]) -> Iterator[list[dict]]:
    group: list[dict] = []
    for e in files:
        if group and (e["offset"] - group[-1]["endOffset"] > GAP or e["endOffset"] - group[0]["offset"] > MAX_RANGE):
            yield group
            group = []
        group.append(e)
    if group:
        yield group


_local = threading.local()


def _decompressor() -> zstandard.ZstdDecompressor:
    if not hasattr(_local, "dctx"):
        _local.dctx = zstandard.ZstdDecompressor()
    return _local.dctx


def fetch_files(client: RegistryClient, repo: str, layer: dict, entries: list[dict], store: Store,
                stats: TransferStats, on_progress=lambda n: None, jobs: int = 4, local: dict | None = None) -> None:
    """Fetch, verify and store every file of the TOC the store lacks (``jobs`` ranges in parallel)."""
    missing = missing_files(entries, store, local or {})
    reused = {e["digest"] for e in entries if e.get("type") == "reg" and e.get("digest")} - {e["digest"] for e in missing}
    stats.add(files_reused=len(reused))
    def one(group: list[dict]) -> None:
        start, end = group[0]["offset"], max(e["endOffset"] for e in group)
        data = fetch_range(client, repo, layer["digest"], start, end, stats)
        on_progress(end - start)
        for e in group:
            piece = data[e["offset"] - start:e["endOffset"] - start]
            try:
                content = _decompressor().stream_reader(io.BytesIO(piece), read_across_frames=True).read()
                store.write_file(e["digest"], [content], e["size"])  # verified against the TOC digest
            except (zstandard.ZstdError, IntegrityError) as exc:
                raise IntegrityError(f"layer {layer['digest']}: file {e['name']!r}: {exc}") from None
            stats.add(files_fetched=1)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(one, _groups(missing)))


def _entry(e: dict) -> Entry:
    return Entry(name=e["name"], type=e["type"], mode=int(e.get("mode", 0o644)), uid=int(e.get("uid", 0)),
                 gid=int(e.get("gid", 0)), mtime=parse_time(e.get("modtime")), linkname=e.get("linkName", ""),
                 devmajor=int(e.get("devMajor", 0)), devminor=int(e.get("devMinor", 0)))


def apply_toc(rootfs: Rootfs, entries: list[dict], store: Store, local: dict | None = None) -> None:
    """Apply a partially pulled layer: TOC metadata plus file contents from the store."""
    from falmigrate.oci.remote import localindex

    for e in entries:
        if e.get("type") == "chunk":
            continue
        opener = None
        if e.get("type") == "reg" and e.get("size"):
            opener = localindex.opener(store, local or {}, e["digest"])
        rootfs.apply(_entry(e), opener, parallel=True)
    rootfs.flush()
