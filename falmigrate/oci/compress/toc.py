"""The one reader of zstd:chunked / FlashPack metadata: footer, TOC, per-file chunk lists, verified reads.

Everything reads through a ``read_range(offset, length) -> bytes`` callable, so the same code serves a
local blob (``file_reader``), a registry (HTTP ranges, ``oci.remote.chunked``) and the validator.

A regular file appears in the TOC as one ``reg`` entry, optionally followed by ``chunk`` entries
(containers/storage's layout): when there are chunks, the ``reg`` entry describes the first one too
(``chunkSize``, ``chunkDigest``, ``chunkType``; its ``chunkOffset`` is 0) and each chunk's compressed
bytes run from its ``offset`` to the next chunk's ``offset`` (the last one to the ``reg`` entry's
``endOffset``). ``chunkType: "zeros"`` marks a run of zero bytes a reader can write as a hole. A file
without chunk entries is a single chunk whose digest is the file's. ``file_chunks`` turns entries into
``(reg entry, [Chunk])`` pairs; ``iter_content`` yields a file's bytes chunk by chunk, checking every
chunk digest and the whole-file digest, naming the chunk and byte ranges when something is wrong.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import zstandard

from falmigrate.errors import ImageError, IntegrityError
from falmigrate.oci import mediatypes

SKIPPABLE_MAGIC = 0x184D2A50
FOOTER_MAGIC = b"GnUlInUx"
FOOTER_SIZE = 48  # skippable-frame header (8) + 40 bytes: what containers/storage before tar-split reads
TOC_TYPE = 1
MAX_TOC = 256 << 20
READ_PIECE = 4 << 20  # compressed bytes read at once when a single frame is large

ReadRange = Callable[[int, int], bytes]


@dataclass(frozen=True)
class TocPosition:
    """Where the compressed TOC is (from the layer annotation or the footer) and its sha256."""

    offset: int
    length: int
    uncompressed: int
    checksum: str | None = None


@dataclass(frozen=True)
class Chunk:
    """One zstd frame (or run of frames) of a file: compressed range [offset, end) in the blob, holding
    ``size`` bytes that start at ``file_offset`` in the file."""

    offset: int
    end: int
    file_offset: int
    size: int
    digest: str | None
    zeros: bool = False

    def describe(self, index: int, count: int) -> str:
        return (f"chunk {index + 1}/{count} (file bytes {self.file_offset}-{self.file_offset + self.size}, "
                f"blob bytes {self.offset}-{self.end})")


def file_reader(path: Path) -> ReadRange:
    """A ``read_range(offset, length)`` over a local blob file."""
    def read_range(offset: int, length: int) -> bytes:
        with open(path, "rb") as handle:
            handle.seek(offset)
            return handle.read(length)
    return read_range


def position_from_annotations(annotations: dict | None, blob_size: int) -> TocPosition | None:
    """The TOC position and checksum that the layer annotations (either prefix) announce, if usable."""
    ann = annotations or {}
    checksum = ann.get(mediatypes.ZSTD_CHUNKED_MANIFEST_CHECKSUM) or ann.get(
        mediatypes.ZSTD_CHUNKED_MANIFEST_CHECKSUM_OLD)
    position = ann.get(mediatypes.ZSTD_CHUNKED_MANIFEST_POSITION) or ann.get(
        mediatypes.ZSTD_CHUNKED_MANIFEST_POSITION_OLD)
    if not checksum or not position:
        return None
    try:
        offset, length, uncompressed, kind = (int(x) for x in position.split(":")[:4])
    except ValueError:
        return None
    if kind != TOC_TYPE or length <= 0 or offset + length > blob_size or not 0 < uncompressed <= MAX_TOC:
        return None
    return TocPosition(offset, length, uncompressed, checksum)


def read_footer(read_range: ReadRange, size: int) -> TocPosition:
    """The TOC position recorded in the footer of a blob of ``size`` bytes."""
    if size < FOOTER_SIZE:
        raise ImageError("blob too small for a zstd:chunked footer")
    raw = read_range(size - FOOTER_SIZE, FOOTER_SIZE)
    magic, length = struct.unpack("<II", raw[:8])
    if magic != SKIPPABLE_MAGIC or length != FOOTER_SIZE - 8 or raw[-8:] != FOOTER_MAGIC:
        raise ImageError("no zstd:chunked footer (bad magic)")
    offset, clen, ulen, kind = struct.unpack("<QQQQ", raw[8:40])
    if kind != TOC_TYPE or offset + clen > size - FOOTER_SIZE or ulen > MAX_TOC:
        raise ImageError(f"zstd:chunked footer is inconsistent (offset {offset}, length {clen}, type {kind})")
    return TocPosition(offset, clen, ulen)


def parse_toc(raw: bytes, position: TocPosition) -> dict:
    """The TOC JSON from its compressed bytes; the checksum in ``position`` (if any) is verified first."""
    if position.checksum and "sha256:" + hashlib.sha256(raw).hexdigest() != position.checksum:
        raise IntegrityError("zstd:chunked TOC does not match its manifest-checksum annotation")
    try:
        data = zstandard.ZstdDecompressor().decompress(raw, max_output_size=max(position.uncompressed, 1))
        toc = json.loads(data)
    except (zstandard.ZstdError, ValueError) as exc:
        raise ImageError(f"zstd:chunked TOC is unreadable: {exc}") from exc
    if (len(data) != position.uncompressed or not isinstance(toc, dict)
            or not isinstance(toc.get("entries"), list)):
        raise ImageError("zstd:chunked TOC has the wrong size or no entries")
    return toc


def read_toc(read_range: ReadRange, size: int, *, checksum: str | None = None,
             position: TocPosition | None = None) -> dict:
    """The parsed TOC, found at ``position`` (e.g. from the annotations) or else through the footer."""
    if position is None:
        found = read_footer(read_range, size)
        position = TocPosition(found.offset, found.length, found.uncompressed, checksum)
    return parse_toc(read_range(position.offset, position.length), position)


def file_chunks(entries: list[dict]) -> Iterator[tuple[dict, list[Chunk]]]:
    """Each non-empty regular file's ``reg`` entry with its chunks (chunk entries folded in)."""
    current: dict | None = None
    raw: list[dict] = []
    for entry in entries:
        kind = entry.get("type")
        if kind == "chunk":
            if current is None or entry.get("name") != current.get("name"):
                raise ImageError(f"TOC chunk entry {entry.get('name')!r} does not follow its file's entry")
            raw.append(entry)
            continue
        if current is not None:
            yield current, _chunks_of(current, raw)
            current = None
        if kind == "reg" and entry.get("size"):
            current, raw = entry, [entry]
    if current is not None:
        yield current, _chunks_of(current, raw)


def _chunks_of(entry: dict, raw: list[dict]) -> list[Chunk]:
    name, size = entry.get("name"), int(entry["size"])
    if "offset" not in entry or "endOffset" not in entry:
        raise ImageError(f"TOC entry {name!r} has no offset/endOffset")
    if len(raw) == 1 and "chunkSize" not in entry:
        return [Chunk(entry["offset"], entry["endOffset"], 0, size, entry.get("digest"))]
    chunks = []
    for i, part in enumerate(raw):
        start = int(part.get("chunkOffset", 0))
        end = entry["endOffset"] if i + 1 == len(raw) else raw[i + 1].get("offset")
        length = part.get("chunkSize") or (
            (raw[i + 1].get("chunkOffset", 0) if i + 1 < len(raw) else size) - start)
        if not isinstance(end, int) or "offset" not in part or not part["offset"] <= end:
            raise ImageError(f"TOC entry {name!r}: chunk {i + 1} has no valid offset range")
        chunks.append(Chunk(part["offset"], end, start, int(length), part.get("chunkDigest"),
                            part.get("chunkType") == "zeros"))
    if sum(c.size for c in chunks) != size or any(
            a.file_offset + a.size != b.file_offset for a, b in itertools.pairwise(chunks)):
        raise ImageError(f"TOC entry {name!r}: chunks do not tile the file's {size} bytes")
    return chunks


def decompress_range(read_range: ReadRange, start: int, end: int) -> Iterator[bytes]:
    """The decompressed bytes of the zstd frames in [start, end), read ``READ_PIECE`` at a time."""
    dobj = zstandard.ZstdDecompressor().decompressobj(read_across_frames=True)
    pos = start
    while pos < end:
        raw = read_range(pos, min(READ_PIECE, end - pos))
        if not raw:
            raise IntegrityError(f"blob ends at {pos}, before byte {end}")
        pos += len(raw)
        if out := dobj.decompress(raw):
            yield out


def chunk_content(read_range: ReadRange, chunk: Chunk) -> Iterator[bytes]:
    """One chunk's bytes, unverified (the callers hash what they consume)."""
    produced = 0
    for piece in decompress_range(read_range, chunk.offset, chunk.end):
        produced += len(piece)
        yield piece
    if produced != chunk.size:
        raise IntegrityError(f"decompressed to {produced} bytes, TOC says {chunk.size}")


def iter_content(read_range: ReadRange, entry: dict, chunks: list[Chunk] | None = None) -> Iterator[bytes]:
    """A file's content, chunk by chunk; every chunk digest and the file digest are checked."""
    chunks = chunks if chunks is not None else _chunks_of(entry, [entry])
    whole = hashlib.sha256()
    for index, chunk in enumerate(chunks):
        part = hashlib.sha256()
        try:
            for piece in chunk_content(read_range, chunk):
                if chunk.zeros and piece.count(0) != len(piece):
                    raise IntegrityError("a zeros chunk holds non-zero bytes")
                part.update(piece)
                whole.update(piece)
                yield piece
        except zstandard.ZstdError as exc:
            raise IntegrityError(f"{entry['name']}: {chunk.describe(index, len(chunks))}: "
                                 f"frame does not decompress: {exc}") from None
        except IntegrityError as exc:
            raise IntegrityError(f"{entry['name']}: {chunk.describe(index, len(chunks))}: {exc}") from None
        if chunk.digest and "sha256:" + part.hexdigest() != chunk.digest:
            raise IntegrityError(f"{entry['name']}: {chunk.describe(index, len(chunks))}: "
                                 f"content does not match its chunk digest")
    if "sha256:" + whole.hexdigest() != entry.get("digest"):
        raise IntegrityError(f"{entry['name']}: content does not match its TOC digest")


def read_file(read_range: ReadRange, entry: dict, chunks: list[Chunk] | None = None) -> bytes:
    """The whole content of one small regular file (digest-checked); big files: use ``iter_content``."""
    if not entry.get("size"):
        return b""
    return b"".join(iter_content(read_range, entry, chunks))


def verify_file(read_range: ReadRange, entry: dict, chunks: list[Chunk]) -> None:
    """Check one file's frames against its chunk and file digests without keeping its bytes."""
    for _ in iter_content(read_range, entry, chunks):
        pass
