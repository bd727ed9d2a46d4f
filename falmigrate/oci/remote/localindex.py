"""Which files and chunks the local store can produce without the network.

A cold FlashPack layer (most of its bytes missing locally) is downloaded whole: one sequential
transfer and one tar unpack beat thousands of range requests and a second copy of every file. The
verified TOC of every pulled zstd:chunked layer (whole or partial) is remembered here, so a later
partial pull finds content by digest:

- a whole file: in ``files/`` (fetched by an earlier partial pull) or as the frames of a stored blob;
- a chunk of a big file (``chunkDigest``): as its frame in a stored blob, or as a byte range of an
  earlier version of the file kept in ``files/`` — so after an edit in the middle of a 2 GB file only
  the changed chunks travel.

Only what none of these holds is fetched from the registry.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import zstandard

from falmigrate.errors import FalmigrateError
from falmigrate.oci.compress import toc as toclib
from falmigrate.oci.remote.store import Store

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

INDEX = "chunked-layers.json"
PIECE = 1 << 20


@dataclass(frozen=True)
class Source:
    """Content at ``path``: compressed frames [offset, end) of a blob, or plain bytes [offset, end)."""

    path: Path
    offset: int
    end: int
    size: int
    compressed: bool = True

    def read(self) -> Iterator[bytes]:
        if self.compressed:
            yield from toclib.decompress_range(toclib.file_reader(self.path), self.offset, self.end)
            return
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            left = self.end - self.offset
            while left:
                data = handle.read(min(PIECE, left))
                if not data:
                    raise FalmigrateError(f"{self.path} is shorter than expected")
                left -= len(data)
                yield data


@dataclass
class LocalIndex:
    files: dict[str, Source] = field(default_factory=dict)  # whole-file content digest → frames in a blob
    chunks: dict[str, Source] = field(default_factory=dict)  # chunk digest → frame or stored-file range


def remember(store: Store, layer_digest: str, toc_checksum: str) -> None:
    """Record that ``layer_digest``'s verified TOC is stored as file ``toc_checksum``."""
    path = store.root / INDEX
    if path.is_file() and json.loads(path.read_text()).get(layer_digest) == toc_checksum:
        return
    store.update_json(INDEX, lambda known: {**known, layer_digest: toc_checksum})


def _entries(store: Store, checksum: str) -> list[dict] | None:
    try:
        compressed = store.file_path(checksum).read_bytes()
        raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(compressed)).read()
        entries: list[dict] = json.loads(raw)["entries"]
        return entries
    except (OSError, zstandard.ZstdError, ValueError, KeyError, TypeError):
        return None


def sources(store: Store) -> LocalIndex:
    """Where the remembered layers' files and chunks can be read locally."""
    found = LocalIndex()
    path = store.root / INDEX
    if not path.is_file():
        return found
    for layer, checksum in sorted(json.loads(path.read_text()).items()):
        entries = _entries(store, checksum) if store.has_file(checksum) else None
        if entries is None:
            continue
        try:
            files = list(toclib.file_chunks(entries))
        except FalmigrateError:
            continue
        _add_layer(found, store, store.blob_path(layer), files)
    return found


def _add_layer(found: LocalIndex, store: Store, blob: Path,
               files: list[tuple[dict, list[toclib.Chunk]]]) -> None:
    """A layer's files and chunks, read from its blob when the store holds it, else its chunks read from
    the files the store kept whole."""
    have_blob = blob.is_file()
    for entry, chunks in files:
        digest = entry.get("digest")
        if have_blob and digest:
            found.files.setdefault(digest, Source(blob, entry["offset"], entry["endOffset"], entry["size"]))
        stored = store.file_path(digest) if digest else None
        for chunk in chunks:
            if not chunk.digest or chunk.zeros:
                continue
            if have_blob:
                found.chunks.setdefault(chunk.digest, Source(blob, chunk.offset, chunk.end, chunk.size))
            elif stored is not None and stored.is_file():
                found.chunks.setdefault(chunk.digest, Source(
                    stored, chunk.file_offset, chunk.file_offset + chunk.size, chunk.size,
                    compressed=False))


class _SourceReader(io.RawIOBase):
    """A read-only stream over a Source (so big files are never held whole in memory)."""

    def __init__(self, source: Source) -> None:
        self._pieces = source.read()
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buf: WriteableBuffer) -> int:
        while not self._buffer:
            self._buffer = next(self._pieces, b"")
            if not self._buffer:
                return 0
        view = memoryview(buf)
        n = min(len(view), len(self._buffer))
        view[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


def opener(store: Store, local: LocalIndex, digest: str) -> Callable[[], BinaryIO]:
    """How to read the content ``digest``: from files/ or from a stored blob's frames."""
    path = store.file_path(digest)
    if path.is_file() or digest not in local.files:
        return lambda: path.open("rb")
    return lambda: io.BufferedReader(_SourceReader(local.files[digest]), PIECE)
