"""FlashPack: write zstd:chunked-compatible layers (the reading side is ``compress.toc``).

Layout of a blob (what skopeo 1.9 / containers/storage read): one valid zstd stream of the tar in
many frames; each regular file's content starts its own frame so it can be fetched with one HTTP
range, and files of ``cdc.CHUNKED_MIN`` bytes or more are cut at content-defined boundaries into
chunks of their own frames (``chunk`` TOC entries; zero runs as ``chunkType: "zeros"``), so an edit
in the middle of a big file changes only a chunk or two; then a skippable frame (magic 0x184D2A50,
u32 LE length) holding the zstd-compressed TOC JSON; then the 48-byte footer (u64 LE TOC offset,
compressed length, uncompressed length, type 1, ``GnUlInUx``). No tar-split frame: see
docs/flashpack.md for why.

Frames are compressed on a thread pool (python-zstandard releases the GIL) and written in order, at
most ``WINDOW`` frames in flight, so memory stays bounded and the bytes do not depend on the number
of threads: each frame is compressed on its own at the same level.

Public: ``write_layer(tar_path, dest, prefetch=None) -> annotations``; the reader functions of
``compress.toc`` are re-exported here for callers that know this module.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import queue
import struct
import tarfile
import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import zstandard

from falmigrate import progress
from falmigrate.errors import ImageError
from falmigrate.oci import mediatypes
from falmigrate.oci.compress import cdc, tarscan
from falmigrate.oci.compress.toc import (  # noqa: F401 - re-exported: the one TOC reader
    FOOTER_MAGIC,
    FOOTER_SIZE,
    SKIPPABLE_MAGIC,
    TOC_TYPE,
    ReadRange,
    file_chunks,
    file_reader,
    iter_content,
    read_file,
    read_footer,
    read_toc,
)

LEVEL = 3
WINDOW_PER_THREAD = 4
BATCH_BYTES = 256 << 10  # small frames are sent to the workers together up to this many bytes …
BATCH_FRAMES = 256  # … or this many frames
HASH_BATCH = 1 << 20
ZERO_BLOCK = bytes(1 << 20)

_TYPES = {tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink",
          tarfile.CHRTYPE: "char", tarfile.BLKTYPE: "block", tarfile.FIFOTYPE: "fifo"}
_DEVICES = (tarfile.CHRTYPE, tarfile.BLKTYPE)
_EMPTY_DIGEST = "sha256:" + hashlib.sha256(b"").hexdigest()
# TOC keys in one fixed order: frames finish on worker threads in any order, the TOC bytes must not
_KEY_ORDER = ("type", "name", "linkName", "mode", "size", "uid", "gid", "modtime", "devMajor", "devMinor",
              "xattrs", "digest", "offset", "endOffset", "chunkSize", "chunkOffset", "chunkDigest",
              "chunkType", "prefetch")
_local = threading.local()


def _cctx() -> zstandard.ZstdCompressor:
    cctx: zstandard.ZstdCompressor | None = getattr(_local, "cctx", None)
    if cctx is None:
        cctx = _local.cctx = zstandard.ZstdCompressor(level=LEVEL, write_checksum=False)
    return cctx


@functools.lru_cache(maxsize=64)
def _zeros_frame(count: int) -> tuple[bytes, str]:
    """(one frame of ``count`` zero bytes, their sha256): zero runs repeat, so they are cached."""
    comp = _cctx().compressobj(size=count)
    digest = hashlib.sha256()
    out, left = [], count
    while left:
        block = memoryview(ZERO_BLOCK)[:min(left, len(ZERO_BLOCK))]
        digest.update(block)
        out.append(comp.compress(block))
        left -= len(block)
    out.append(comp.flush())
    return b"".join(out), "sha256:" + digest.hexdigest()


def _compress(data: bytes | None, zeros: int) -> tuple[bytes, str]:
    if data is None:
        return _zeros_frame(zeros)
    return _cctx().compress(data), "sha256:" + hashlib.sha256(data).hexdigest()


def _compress_all(items: list[tuple[bytes | None, int]]) -> list[tuple[bytes, str]]:
    return [_compress(data, zeros) for data, zeros in items]


class _Hasher:
    """sha256 of a byte stream fed in order (bytes, or a count of zero bytes), on its own thread so it
    overlaps the reading and compressing; saves compress_tar a second and third pass over tar and blob.
    Small pieces are handed over in batches of ~1 MiB: a queue hand-off per tar header cost more CPU
    than the hashing."""

    def __init__(self) -> None:
        self.sha = hashlib.sha256()
        self.size = 0
        self.queue: queue.Queue = queue.Queue(maxsize=8)  # <= 8 MiB waiting per hasher
        self.batch: list[bytes | int] = []
        self.batch_bytes = 0
        self.thread = threading.Thread(target=self._run, name="flashpack-sha", daemon=True)
        self.thread.start()

    def feed(self, data: bytes | int) -> None:
        self.batch.append(data)
        self.batch_bytes += data if isinstance(data, int) else len(data)
        if self.batch_bytes >= HASH_BATCH:
            self._hand_over()

    def feed_all(self, items: list[bytes]) -> None:
        self.batch.extend(items)
        self.batch_bytes += sum(map(len, items))
        if self.batch_bytes >= HASH_BATCH:
            self._hand_over()

    def _hand_over(self) -> None:
        if self.batch:
            self.queue.put(self.batch)
            self.batch, self.batch_bytes = [], 0

    def _run(self) -> None:
        while (items := self.queue.get()) is not None:
            for item in items:
                if isinstance(item, int):
                    for start in range(0, item, len(ZERO_BLOCK)):
                        self.sha.update(memoryview(ZERO_BLOCK)[:min(len(ZERO_BLOCK), item - start)])
                    self.size += item
                else:
                    self.sha.update(item)
                    self.size += len(item)

    def result(self) -> tuple[str, int]:
        if self.thread.is_alive():
            self._hand_over()
            self.queue.put(None)
            self.thread.join()
        return "sha256:" + self.sha.hexdigest(), self.size


class _Frames:
    """Compresses frames on worker threads and writes them to ``out`` in submission order. Small frames
    (tar headers, small files) go to the workers in batches, so the per-job cost stays small."""

    def __init__(self, out: BinaryIO, threads: int) -> None:
        self.out = out
        self.blob = _Hasher()
        self.offset = 0
        self.pool = progress.ThreadPool(max_workers=threads, thread_name_prefix="flashpack")
        self.window = max(2, threads * WINDOW_PER_THREAD)
        self.pending: deque[tuple[Future, list]] = deque()
        self.batch: list[tuple[bytes | None, int, Callable | None]] = []
        self.batch_bytes = 0

    def submit(self, data: bytes | None, zeros: int = 0,
               done: Callable[[int, int, str], None] | None = None) -> None:
        """Queue one frame (``data``, or ``zeros`` zero bytes); ``done(begin, end, sha256)`` once written."""
        self.batch.append((data, zeros, done))
        self.batch_bytes += BATCH_BYTES if data is None else len(data)
        if self.batch_bytes >= BATCH_BYTES or len(self.batch) >= BATCH_FRAMES:
            self._flush()

    def _flush(self) -> None:
        if not self.batch:
            return
        items, self.batch, self.batch_bytes = self.batch, [], 0
        future = self.pool.submit(_compress_all, [(data, zeros) for data, zeros, _ in items])
        self.pending.append((future, [done for _, _, done in items]))
        while len(self.pending) > self.window:
            self._emit()

    def _emit(self) -> None:
        future, callbacks = self.pending.popleft()
        results = future.result()
        for (frame, digest), done in zip(results, callbacks, strict=True):
            begin = self.offset
            self.out.write(frame)
            self.offset += len(frame)
            if done is not None:
                done(begin, self.offset, digest)
        self.blob.feed_all([frame for frame, _ in results])  # one hand-over per batch

    def write(self, data: bytes) -> None:
        self.out.write(data)
        self.blob.feed(data)
        self.offset += len(data)

    def drain(self) -> int:
        self._flush()
        while self.pending:
            self._emit()
        return self.offset

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.blob.result()


@functools.lru_cache(maxsize=256)
def _modtime(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # tar mtimes repeat


def _entry(member: tarscan.Member) -> dict:
    regular = member.isreg()
    entry = {
        "type": "reg" if regular else _TYPES.get(member.type, "reg"),
        "name": member.name,
        "mode": member.mode,
        "uid": member.uid,
        "gid": member.gid,
        "modtime": _modtime(int(member.mtime)),
    }
    if member.linkname:
        entry["linkName"] = member.linkname
    if regular:
        entry["size"] = member.size
    if member.type in _DEVICES:
        entry["devMajor"], entry["devMinor"] = member.devmajor, member.devminor
    if member.xattrs:
        entry["xattrs"] = {k: base64.b64encode(v.encode("utf-8", "surrogateescape")).decode()
                           for k, v in member.xattrs.items()}
    return entry


def _small_file(frames: _Frames, blocks: tarscan.Blocks, member: tarscan.Member, entry: dict) -> None:
    def done(begin: int, end: int, digest: str) -> None:
        entry.update(offset=begin, endOffset=end, digest=digest)
    frames.submit(blocks.take(member.offset_data, member.size), done=done)


def _chunked_file(frames: _Frames, blocks: tarscan.Blocks, member: tarscan.Member, entry: dict,
                  entries: list[dict], tar_hash: _Hasher) -> None:
    """Cut a big file at content-defined boundaries: ``entry`` (the first chunk) + ``chunk`` entries."""
    whole = _Hasher()  # the file's digest, off the main thread
    window = tarscan.Window(blocks, member.offset_data, member.size)
    seen = window.seen  # the leading bytes the tar hash has had from ``blocks``; it gets the rest here
    try:
        file_offset = 0
        for index, piece in enumerate(cdc.pieces_of(window)):
            if index == 0:
                part = entry
            else:
                part = {"type": "chunk", "name": member.name, "chunkOffset": file_offset}
                entries.append(part)
            part["chunkSize"] = piece.size
            whole.feed(piece.zeros if piece.data is None else piece.data)
            if seen < piece.size:
                tar_hash.feed(piece.zeros - seen if piece.data is None else piece.data[seen:] if seen
                              else piece.data)
            seen = max(0, seen - piece.size)
            if piece.data is None:
                part["chunkType"] = "zeros"

            def done(begin: int, end: int, digest: str, part: dict = part, first: bool = index == 0) -> None:
                part.update(offset=begin, chunkDigest=digest)
                if first:
                    entry["offset"] = begin
                entry["endOffset"] = end
            frames.submit(piece.data, piece.zeros, done)
            file_offset += piece.size
    finally:
        entry["digest"] = whole.result()[0]


def _threads() -> int:
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                         else os.cpu_count() or 1))


@dataclass(frozen=True)
class Encoded:
    annotations: dict[str, str]
    diff_id: str  # sha256 of the tar, computed while reading it
    digest: str  # sha256 of the blob, computed while writing it
    size: int


def write_layer(tar_path: Path, dest: Path, *, prefetch: list[str] | None = None) -> dict[str, str]:
    """Write the FlashPack encoding of ``tar_path`` to ``dest``; returns the layer annotations."""
    return encode(tar_path, dest, prefetch=prefetch).annotations


def encode(tar_path: Path, dest: Path, *, prefetch: list[str] | None = None) -> Encoded:
    """Write the FlashPack encoding of ``tar_path`` to ``dest``, hashing tar and blob on the way."""
    try:
        return _encode(tar_path, dest, prefetch, tarscan.members(tar_path))
    except tarscan.Unsupported:  # a tar feature the fast scan leaves to tarfile: start again with it
        return _encode(tar_path, dest, prefetch, tarscan.tarfile_members(tar_path))


def _encode(tar_path: Path, dest: Path, prefetch: list[str] | None,
            members: Iterable[tarscan.Member]) -> Encoded:
    entries: list[dict] = []
    wanted = {p.strip("/") for p in prefetch or []}
    # a symlink on the way to a profiled path (``lib`` → ``usr/lib`` for ``/lib/…/libc.so.6``) is needed
    # to open it, so it is marked too
    on_the_way = {path.rsplit("/", depth)[0] for path in wanted for depth in range(1, path.count("/") + 1)}
    tar_hash = _Hasher()
    with open(tar_path, "rb", buffering=0) as src, open(dest, "wb", buffering=1 << 20) as out:
        blocks = tarscan.Blocks(src, tar_hash.feed)  # every byte read once, hashed as it is read
        frames = _Frames(out, _threads())
        try:
            pos = 0
            for member in members:
                entry = _entry(member)
                entries.append(entry)
                name = member.name.removeprefix("./").strip("/")
                if wanted and (name in wanted or member.type == tarfile.SYMTYPE and name in on_the_way):
                    entry["prefetch"] = True
                if member.isreg() and member.size > 0:
                    # the tar header(s) before the content
                    frames.submit(blocks.take(pos, member.offset_data - pos))
                    if member.size >= cdc.CHUNKED_MIN:
                        _chunked_file(frames, blocks, member, entry, entries, tar_hash)
                    else:
                        _small_file(frames, blocks, member, entry)
                    pos = member.offset_data + member.size
                elif member.isreg():
                    entry["digest"] = _EMPTY_DIGEST
            frames.submit(b"".join(blocks.rest(pos)))  # the last headers and the end blocks: one frame
            tar_end = frames.drain()
            ordered = [{k: e[k] for k in _KEY_ORDER if k in e} for e in entries]
            toc = json.dumps({"version": 1, "entries": ordered}, separators=(",", ":")).encode()
            toc_z = zstandard.ZstdCompressor(level=LEVEL).compress(toc)
            toc_offset = tar_end + 8
            frames.write(struct.pack("<II", SKIPPABLE_MAGIC, len(toc_z)) + toc_z)
            frames.write(struct.pack("<II", SKIPPABLE_MAGIC, FOOTER_SIZE - 8))
            frames.write(struct.pack("<QQQQ", toc_offset, len(toc_z), len(toc), TOC_TYPE) + FOOTER_MAGIC)
        finally:
            frames.close()
            diff_id, tar_size = tar_hash.result()
    if tar_size != os.path.getsize(tar_path):
        raise ImageError(f"internal error: hashed {tar_size} of the tar's {os.path.getsize(tar_path)} bytes")
    checksum = "sha256:" + hashlib.sha256(toc_z).hexdigest()
    position = f"{toc_offset}:{len(toc_z)}:{len(toc)}:{TOC_TYPE}"
    notes = {
        mediatypes.ZSTD_CHUNKED_MANIFEST_CHECKSUM: checksum,
        mediatypes.ZSTD_CHUNKED_MANIFEST_POSITION: position,
        mediatypes.ZSTD_CHUNKED_MANIFEST_CHECKSUM_OLD: checksum,
        mediatypes.ZSTD_CHUNKED_MANIFEST_POSITION_OLD: position,
    }
    count = sum(1 for e in entries if e.get("prefetch"))
    if count:
        notes[mediatypes.FLASHPACK_PREFETCH] = str(count)
    digest, size = frames.blob.result()
    return Encoded(notes, diff_id, digest, size)
