"""Reading a layer tar for FlashPack: its members (a fast header scan) and its bytes (big sequential reads).

``members(tar_path)`` yields ``Member`` records. The common case (ustar headers, POSIX PAX ``x``
headers with UTF-8 values: what our tar writer, Go's archive/tar and Docker write) is parsed here,
with a few slices per header: Python's ``tarfile`` spent more time per member (checksums through
``struct``, a TarInfo with a dozen attributes) than compressing a small file's frame. Anything else
(GNU long names, sparse files, global PAX headers, base-256 numbers, bad checksums, a truncated tar)
raises ``Unsupported`` before the member it concerns is yielded, and the caller starts again with
``tarfile_members``, so the result is always what ``tarfile`` reads.

``Blocks`` reads the tar once, front to back, in ``BLOCK`` pieces: each piece is handed to a
consumer (the diff_id hasher) as it is read, and callers take byte ranges of it as memoryviews (no
copy unless a range spans two pieces), so a small file costs no system call.
"""

from __future__ import annotations

import os
import sys
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from falmigrate.errors import ImageError

BLOCK = 4 << 20
_HEADER = 512
_ZERO_HEADER = bytes(_HEADER)
_FAST_TYPES = frozenset(b"01234567\0")  # regular, hardlink, symlink, char, block, dir, fifo, contiguous
_REGULAR = frozenset(b"07\0")
_ENCODING = sys.getfilesystemencoding()
_XATTR = "SCHILY.xattr."


class Unsupported(Exception):
    """The fast scan met a tar feature it leaves to ``tarfile``."""


class Member:
    """One tar member as FlashPack needs it (the fields of ``tarfile.TarInfo`` it reads)."""

    __slots__ = (
        "devmajor",
        "devminor",
        "gid",
        "linkname",
        "mode",
        "mtime",
        "name",
        "offset_data",
        "size",
        "type",
        "uid",
        "xattrs",
    )

    def __init__(self, name: str, type_: bytes, linkname: str, mode: int, uid: int, gid: int, mtime: float,
                 size: int, devmajor: int, devminor: int, xattrs: dict[str, str], offset_data: int) -> None:
        self.name, self.type, self.linkname, self.mode = name, type_, linkname, mode
        self.uid, self.gid, self.mtime, self.size = uid, gid, mtime, size
        self.devmajor, self.devminor, self.xattrs, self.offset_data = devmajor, devminor, xattrs, offset_data

    def isreg(self) -> bool:
        return self.type in tarfile.REGULAR_TYPES


def _text(field: bytes) -> str:
    if not field[0]:
        return ""
    end = field.find(0)
    return (field if end < 0 else field[:end]).decode(_ENCODING, "surrogateescape")


def _number(field: bytes) -> int:
    """An octal field, read as tarfile reads it (up to the first NUL, whitespace ignored)."""
    if field[0] >= 0o200:
        raise Unsupported("base-256 number")
    end = field.find(0)
    if end >= 0:
        field = field[:end]
    try:
        return int(field, 8)  # int() of ASCII bytes: the digits tarfile accepts after decode("ascii")
    except ValueError:
        if field.strip(b" \t\n\r\v\f"):
            raise Unsupported("bad number") from None
        return 0


def _pax_records(data: bytes) -> dict[str, str]:
    """The ``length keyword=value\\n`` records of a PAX ``x`` header (UTF-8 only)."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        digits = data[pos:space]
        if space < 0 or not digits.isdigit():
            if not data[pos:].strip(b"\0"):
                break  # NUL padding ends the records, as for tarfile
            raise Unsupported("PAX record")
        end = pos + int(digits)
        equals = data.find(b"=", space)
        if end <= space or equals <= space + 1 or equals >= end or data[end - 1:end] != b"\n":
            raise Unsupported("PAX record")
        try:
            records[data[space + 1:equals].decode("utf-8")] = data[equals + 1:end - 1].decode("utf-8")
        except UnicodeDecodeError:
            raise Unsupported("PAX record not UTF-8") from None
        pos = end
    if "hdrcharset" in records or any(k.startswith("GNU.sparse.") for k in records):
        raise Unsupported("PAX hdrcharset or sparse")
    return records


def _read_exactly(handle: BinaryIO, length: int, offset: int) -> bytes:
    handle.seek(offset)  # inside the read buffer (the next header is near): no system call
    data = handle.read(length)
    if len(data) != length:
        raise Unsupported("truncated")
    return data


def _scan(handle: BinaryIO, size: int) -> Iterator[Member]:
    offset = 0
    while True:
        if offset > size or (offset == 0 and size < _HEADER):
            raise Unsupported("truncated")  # tarfile: "unexpected end of data" / "empty file"
        if size - offset < _HEADER:
            return
        buf = _read_exactly(handle, _HEADER, offset)
        if buf == _ZERO_HEADER:
            return
        pax: dict[str, str] = {}
        if buf[156] == ord("x"):
            padded = -(-_check(buf) // _HEADER) * _HEADER
            pax = _pax_records(_read_exactly(handle, padded, offset + _HEADER))  # all of it, as tarfile
            offset += _HEADER + padded
            buf = _read_exactly(handle, _HEADER, offset)
            if buf == _ZERO_HEADER:
                raise Unsupported("PAX header without member")
        member = _member(buf, offset + _HEADER)
        _apply_pax(member, pax)
        offset = member.offset_data
        if member.type[0] in _REGULAR:
            offset += -(-member.size // _HEADER) * _HEADER
        yield member


def _member(buf: bytes, offset_data: int) -> Member:
    """The member a ustar header describes (before its PAX records apply)."""
    _check(buf)
    type_ = buf[156:157]
    if type_[0] not in _FAST_TYPES:
        raise Unsupported(f"member type {type_!r}")
    name = _text(buf[0:100])
    if type_ == b"\0" and name.endswith("/"):
        type_ = tarfile.DIRTYPE
    if type_ == tarfile.DIRTYPE:
        name = name.rstrip("/")
    prefix = _text(buf[345:500])
    if prefix:
        name = prefix + "/" + name
        if type_ == tarfile.DIRTYPE:
            name = name.rstrip("/")  # tarfile strips again after joining the prefix
    return Member(name, type_, _text(buf[157:257]), _number(buf[100:108]), _number(buf[108:116]),
                  _number(buf[116:124]), _number(buf[136:148]), _number(buf[124:136]),
                  _number(buf[329:337]), _number(buf[337:345]), {}, offset_data)


def _check(buf: bytes) -> int:
    """The header's size field, once its checksum (unsigned sum, chksum field as spaces) matches."""
    if _number(buf[148:156]) != 256 + sum(buf) - sum(buf[148:156]):
        raise Unsupported("checksum")
    return _number(buf[124:136])


def _apply_pax(member: Member, pax: dict[str, str]) -> None:
    try:
        for key, value in pax.items():
            if key == "path":
                member.name = value.rstrip("/")
            elif key == "linkpath":
                member.linkname = value
            elif key in ("uid", "gid", "size"):
                setattr(member, key, int(value))
            elif key == "mtime":
                member.mtime = float(value)
    except ValueError:
        raise Unsupported("PAX number") from None
    member.xattrs = {k[len(_XATTR):]: v for k, v in sorted(pax.items()) if k.startswith(_XATTR)}


def members(tar_path: Path) -> Iterator[Member]:
    """The members of the tar, scanned fast; raises ``Unsupported`` (before yielding the member it
    concerns) where ``tarfile_members`` must take over."""
    with open(tar_path, "rb", buffering=1 << 20) as handle:
        yield from _scan(handle, os.fstat(handle.fileno()).st_size)


def tarfile_members(tar_path: Path) -> Iterator[Member]:
    """The members as Python's tarfile reads them (every tar feature it knows)."""
    with tarfile.open(tar_path, "r:") as tar:
        for info in tar:
            xattrs = {k[len(_XATTR):]: v for k, v in sorted(info.pax_headers.items()) if k.startswith(_XATTR)}
            yield Member(info.name, info.type, info.linkname, info.mode, info.uid, info.gid, info.mtime,
                         info.size, info.devmajor, info.devminor, xattrs, info.offset_data)


class RawReader(Protocol):
    """What ``Blocks`` reads: an unbuffered binary file (``open(path, "rb", buffering=0)``) or the like."""

    def read(self, size: int = -1, /) -> bytes | None: ...

    def readinto(self, buffer: memoryview, /) -> int | None: ...


class Blocks:
    """The tar's bytes, read once in order; ``take(start, length)`` returns the range (a memoryview, or
    bytes when it spans two reads). Ranges are taken in increasing order, so earlier reads are dropped.
    ``consume(piece)`` sees every piece read, in order, exactly once (the diff_id hasher)."""

    def __init__(self, handle: RawReader, consume: Callable[[bytes], None]) -> None:
        self.handle, self.consume = handle, consume
        self.pieces: list[tuple[int, bytes]] = []  # (offset, bytes), contiguous up to self.end
        self.end = 0

    def _read(self) -> bool:
        data = self.handle.read(BLOCK)
        if data:
            self.consume(data)
            self.pieces.append((self.end, data))
            self.end += len(data)
        return bool(data)

    def _from(self, start: int, upto: int) -> None:
        """Make [start, upto) available: read up to ``upto``, drop the pieces that end before ``start``."""
        while self.end < upto:
            if not self._read():
                raise ImageError("layer tar is truncated")
        while self.pieces and self.pieces[0][0] + len(self.pieces[0][1]) <= start:
            del self.pieces[0]

    def take(self, start: int, length: int) -> memoryview | bytes:
        self._from(start, start + length)
        first, data = self.pieces[0]
        if start + length <= first + len(data):
            return memoryview(data)[start - first:start - first + length]
        out = bytearray()
        for offset, data in self.pieces:
            if offset < start + length:
                out += memoryview(data)[max(0, start - offset):start + length - offset]
        return bytes(out)

    def rest(self, start: int) -> Iterator[memoryview | bytes]:
        """The bytes from ``start`` to the end of the file, in pieces."""
        while start < self.end or self._read():
            piece = self.take(start, self.end - start)
            yield piece
            start += len(piece)

    def readinto_from(self, pos: int, buf: memoryview) -> int:
        """Copy bytes from ``pos`` on into ``buf`` (as many as the piece holding ``pos`` has)."""
        self._from(pos, pos + 1)
        first, data = self.pieces[0]
        n = min(len(buf), first + len(data) - pos)
        buf[:n] = memoryview(data)[pos - first:pos - first + n]
        return n


class Window:
    """``length`` bytes of ``blocks`` from ``start``, as a ``readinto`` source (for the chunker). The
    first ``seen`` bytes come from pieces already read (and consumed); the rest is read straight into
    the caller's buffer (one copy fewer for a big file) and not consumed: the caller consumes it."""

    def __init__(self, blocks: Blocks, start: int, length: int) -> None:
        self.blocks, self.pos, self.left = blocks, start, length
        self.seen = min(length, max(0, blocks.end - start))

    def readinto(self, buf: memoryview) -> int:
        if not self.left:
            return 0
        view = memoryview(buf).cast("B")[:self.left]
        blocks = self.blocks
        if self.pos < blocks.end:
            n = blocks.readinto_from(self.pos, view)
        else:
            read = blocks.handle.readinto(view)
            if not read:
                raise ImageError("layer tar is truncated")
            n = read
            blocks.end += n
            blocks.pieces.clear()  # they all end before this read
        self.pos += n
        self.left -= n
        return n
