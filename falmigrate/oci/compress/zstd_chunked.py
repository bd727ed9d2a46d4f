"""FlashPack: zstd:chunked-compatible layers — write them and read them (footer, TOC, single files).

Layout of a blob (what skopeo 1.9 / containers/storage read): one valid zstd stream of the tar in
many frames; each regular file's content starts its own frame so it can be fetched with one HTTP
range; then a skippable frame (magic 0x184D2A50, u32 LE length) holding the zstd-compressed TOC JSON;
then the footer, a 48-byte skippable frame whose 40 bytes are u64 LE TOC offset, compressed length,
uncompressed length, type (1 = TOC) and the magic ``GnUlInUx``.

Public: ``write_layer(tar_path, dest) -> annotations``; ``read_footer(read_range, size)``;
``read_toc(read_range, size) -> dict``; ``read_file(read_range, entry) -> bytes`` (digest checked);
``file_reader(path)`` → a ``read_range(offset, length)`` for a local blob. The registry's partial
pull passes its own HTTP-range ``read_range``.
Files of 4 MiB and more are compressed by zstd's worker threads (still one frame each).
Not done yet: content-defined chunking of large files (each file is one frame), tar-split data.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
import tarfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import zstandard

from falmigrate.errors import ImageError, IntegrityError
from falmigrate.oci import mediatypes

SKIPPABLE_MAGIC = 0x184D2A50
FOOTER_MAGIC = b"GnUlInUx"
FOOTER_SIZE = 48
TOC_TYPE = 1
CHUNK = 1 << 20
LEVEL = 3
MT_MIN = 4 << 20

ReadRange = Callable[[int, int], bytes]

_TYPES = {tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink",
          tarfile.CHRTYPE: "char", tarfile.BLKTYPE: "block", tarfile.FIFOTYPE: "fifo"}


class _Writer:
    """Counts compressed bytes written to ``out`` frame by frame."""

    def __init__(self, out) -> None:
        self.out = out
        self.offset = 0
        self.cctx = zstandard.ZstdCompressor(level=LEVEL, write_checksum=False)
        # big files: one frame still, compressed by zstd's worker threads (output does not depend on
        # how many workers, as long as there is at least one, so digests stay reproducible)
        self.mt = zstandard.ZstdCompressor(level=LEVEL, write_checksum=False,
                                           threads=max(2, os.cpu_count() or 1))

    def frame(self, src, start: int, length: int) -> tuple[int, int, str]:
        """Compress ``length`` bytes of ``src`` from ``start`` as one frame; (begin, end, sha256)."""
        begin = self.offset
        digest = hashlib.sha256()
        src.seek(start)
        comp = (self.mt if length >= MT_MIN else self.cctx).compressobj(size=length)
        left = length
        while left:
            data = src.read(min(CHUNK, left))
            if not data:
                raise ImageError("layer tar is truncated")
            left -= len(data)
            digest.update(data)
            self._write(comp.compress(data))
        self._write(comp.flush())
        return begin, self.offset, "sha256:" + digest.hexdigest()

    def _write(self, data: bytes) -> None:
        self.out.write(data)
        self.offset += len(data)


def _entry(member: tarfile.TarInfo) -> dict:
    entry = {
        "type": "reg" if member.isreg() else _TYPES.get(member.type, "reg"),
        "name": member.name,
        "mode": member.mode,
        "uid": member.uid,
        "gid": member.gid,
        "modtime": datetime.fromtimestamp(int(member.mtime), UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if member.linkname:
        entry["linkName"] = member.linkname
    if member.isreg():
        entry["size"] = member.size
    if member.ischr() or member.isblk():
        entry["devMajor"], entry["devMinor"] = member.devmajor, member.devminor
    xattrs = {k[len("SCHILY.xattr."):]: base64.b64encode(v.encode("utf-8", "surrogateescape")).decode()
              for k, v in sorted(member.pax_headers.items()) if k.startswith("SCHILY.xattr.")}
    if xattrs:
        entry["xattrs"] = xattrs
    return entry


def write_layer(tar_path: Path, dest: Path, *, prefetch: list[str] | None = None) -> dict[str, str]:
    """Write the FlashPack encoding of ``tar_path`` to ``dest``; returns the layer annotations."""
    entries: list[dict] = []
    wanted = {p.strip("/") for p in prefetch or []}
    with open(tar_path, "rb") as src, open(dest, "wb") as out, tarfile.open(tar_path, "r:") as tar:
        writer = _Writer(out)
        pos = 0
        for member in tar:
            entry = _entry(member)
            if member.isreg() and member.size > 0:
                writer.frame(src, pos, member.offset_data - pos)
                begin, end, digest = writer.frame(src, member.offset_data, member.size)
                entry.update(offset=begin, endOffset=end, digest=digest)
                pos = member.offset_data + member.size
            elif member.isreg():
                entry["digest"] = "sha256:" + hashlib.sha256(b"").hexdigest()
            if member.name.removeprefix("./").strip("/") in wanted:
                entry["prefetch"] = True
            entries.append(entry)
        total = os.path.getsize(tar_path)
        writer.frame(src, pos, total - pos)
        toc = json.dumps({"version": 1, "entries": entries}, separators=(",", ":")).encode()
        toc_z = zstandard.ZstdCompressor(level=LEVEL).compress(toc)
        out.write(struct.pack("<II", SKIPPABLE_MAGIC, len(toc_z)))
        toc_offset = writer.offset + 8
        out.write(toc_z)
        out.write(struct.pack("<II", SKIPPABLE_MAGIC, FOOTER_SIZE - 8))
        out.write(struct.pack("<QQQQ", toc_offset, len(toc_z), len(toc), TOC_TYPE) + FOOTER_MAGIC)
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
    return notes


def file_reader(path: Path) -> ReadRange:
    """A ``read_range(offset, length)`` over a local blob file."""
    def read_range(offset: int, length: int) -> bytes:
        with open(path, "rb") as handle:
            handle.seek(offset)
            return handle.read(length)
    return read_range


def read_footer(read_range: ReadRange, size: int) -> tuple[int, int, int]:
    """(TOC offset, compressed length, uncompressed length) from the footer of a blob of ``size``."""
    if size < FOOTER_SIZE:
        raise ImageError("blob too small for a zstd:chunked footer")
    raw = read_range(size - FOOTER_SIZE, FOOTER_SIZE)
    magic, length = struct.unpack("<II", raw[:8])
    if magic != SKIPPABLE_MAGIC or length != FOOTER_SIZE - 8 or raw[-8:] != FOOTER_MAGIC:
        raise ImageError("no zstd:chunked footer (bad magic)")
    offset, clen, ulen, kind = struct.unpack("<QQQQ", raw[8:40])
    if kind != TOC_TYPE or offset + clen > size - FOOTER_SIZE:
        raise ImageError(f"zstd:chunked footer is inconsistent (offset {offset}, length {clen}, type {kind})")
    return offset, clen, ulen


def read_toc(read_range: ReadRange, size: int, *, checksum: str | None = None) -> dict:
    """The parsed TOC JSON; ``checksum`` (the manifest-checksum annotation) is verified if given."""
    offset, clen, ulen = read_footer(read_range, size)
    raw = read_range(offset, clen)
    if checksum and "sha256:" + hashlib.sha256(raw).hexdigest() != checksum:
        raise IntegrityError("zstd:chunked TOC does not match its manifest-checksum annotation")
    try:
        data = zstandard.ZstdDecompressor().decompress(raw, max_output_size=ulen)
        toc = json.loads(data)
    except (zstandard.ZstdError, ValueError) as exc:
        raise ImageError(f"zstd:chunked TOC is unreadable: {exc}") from exc
    if len(data) != ulen or not isinstance(toc.get("entries"), list):
        raise ImageError("zstd:chunked TOC has the wrong size or no entries")
    return toc


def read_file(read_range: ReadRange, entry: dict) -> bytes:
    """The content of one regular-file TOC entry, fetched by its range and digest-checked."""
    if entry.get("size", 0) == 0:
        return b""
    raw = read_range(entry["offset"], entry["endOffset"] - entry["offset"])
    try:
        data = zstandard.ZstdDecompressor().decompressobj().decompress(raw)
    except zstandard.ZstdError as exc:
        raise IntegrityError(f"{entry['name']}: frame does not decompress: {exc}") from exc
    if "sha256:" + hashlib.sha256(data).hexdigest() != entry.get("digest") or len(data) != entry["size"]:
        raise IntegrityError(f"{entry['name']}: content does not match its TOC digest")
    return data
