"""Layer byte streams for unpacking: sniff the compression of a layer blob, read ahead on a helper
thread so decompression (zstd and zlib release the GIL) overlaps tar parsing and file creation, and
the tar's members read front to back.

``members(stream)`` parses headers with the packer's scan (``compress.tarscan``: a few slices per
header; ``tarfile`` spent ~40% of an unpack's main thread on headers). From the first header that scan
leaves to ``tarfile`` (GNU long names, sparse files, global PAX headers, base-256 numbers, a bad
checksum), the rest of the stream, that header included, is read by ``tarfile`` itself, so every tar
reads as ``tarfile`` reads it; a truncated stream is an error, never a shorter layer.
"""

from __future__ import annotations

import gzip
import io
import queue
import tarfile
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, Self, cast

from falmigrate.errors import ImageError
from falmigrate.oci.compress import tarscan
from falmigrate.oci.compress.tarscan import Member

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

_BLOCK = 512
_SKIP = 1 << 20
_PAX_LIMIT = 1 << 20  # longer PAX records (never written by a real tool) are left to tarfile


def open_decompressed(handle: BinaryIO) -> BinaryIO:
    """A tar stream from a gzip, zstd or plain layer (sniffed by magic bytes)."""
    # a stream without peek (io.BytesIO, a raw file) gets a buffer in front; BufferedReader reads it
    # through readinto, which such streams have though typing.BinaryIO does not declare it
    buffered = io.BufferedReader(cast(io.RawIOBase, handle)) if not hasattr(handle, "peek") else handle
    magic = buffered.peek(4)[:4]
    if magic[:2] == b"\x1f\x8b":
        return cast(BinaryIO, gzip.GzipFile(fileobj=buffered))  # a binary file; typeshed's is BufferedIOBase
    if magic == b"\x28\xb5\x2f\xfd":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(buffered, read_across_frames=True)
    return buffered


def member_stream(tar: tarfile.TarFile, member: tarfile.TarInfo | str) -> BinaryIO:
    """The content of a regular (or hard-linked) tar member, as tarfile gives it (an ``io.BufferedReader``);
    ImageError for a member without content, for which tarfile gives None."""
    stream = tar.extractfile(member)
    if not isinstance(stream, io.BufferedReader):
        name = member if isinstance(member, str) else member.name
        raise ImageError(f"tar member {name!r} is not a regular file")
    return stream


class _OwnedMember(io.RawIOBase):
    """A tar member's stream that closes the tar it comes from when it is closed."""

    def __init__(self, stream: io.BufferedReader, tar: tarfile.TarFile) -> None:
        self._stream, self._tar = stream, tar

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._stream.readinto(buffer)

    def close(self) -> None:
        if not self.closed:
            try:
                self._stream.close()
                self._tar.close()
            finally:
                super().close()


def owned_member_stream(tar: tarfile.TarFile, member: tarfile.TarInfo | str) -> BinaryIO:
    """``member_stream`` for a tar opened only to read this member: closing the stream closes the tar."""
    stream = member_stream(tar, member)
    assert isinstance(stream, io.BufferedReader)  # member_stream checked it
    return cast(BinaryIO, io.BufferedReader(_OwnedMember(stream, tar)))


class ReadAhead(io.RawIOBase):
    """Reads (and so decompresses) ``source`` on a helper thread a few MiB ahead of the consumer, so
    decompression overlaps tar parsing and file creation; errors surface in the consumer unchanged."""

    def __init__(self, source: BinaryIO, depth: int = 8, size: int = 1 << 20) -> None:
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(depth)
        self._stop = threading.Event()
        self._buffer = memoryview(b"")
        self._done = False
        self._thread = threading.Thread(target=self._produce, args=(source, size), daemon=True)
        self._thread.start()

    def _put(self, item: bytes | BaseException) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self, source: BinaryIO, size: int) -> None:
        try:
            while not self._stop.is_set():
                data = source.read(size)
                if not self._put(data) or not data:
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            self._put(exc)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        if not self._buffer:
            if self._done:
                return 0
            item = self._queue.get()
            if isinstance(item, BaseException):
                self._done = True
                raise item
            if not item:
                self._done = True
                return 0
            self._buffer = memoryview(item)
        view = memoryview(buffer)
        count = min(len(view), len(self._buffer))
        view[:count] = self._buffer[:count]
        self._buffer = self._buffer[count:]
        return count

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        super().close()


class Content:
    """The content of the current member: ``read``; whatever is not read is skipped before the next one."""

    def __init__(self, stream: BinaryIO, size: int, padded: int) -> None:
        self._stream, self._left, self._skip = stream, size, padded - size

    def read(self, size: int = -1) -> bytes:
        size = self._left if size is None or size < 0 else min(size, self._left)
        data = _read(self._stream, size)
        if len(data) != size:
            raise tarfile.ReadError("unexpected end of data")
        self._left -= size
        return data

    def finish(self) -> None:
        left = self._left + self._skip
        while left:
            data = self._stream.read(min(left, _SKIP))
            if not data:
                raise tarfile.ReadError("unexpected end of data")
            left -= len(data)
        self._left = self._skip = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def members(stream: BinaryIO) -> Iterator[tuple[Member, Content | BinaryIO | None]]:
    """(member, its content) for every member of the tar ``stream``, in order. The content (regular
    files only, else None) must be read before the next member is asked for."""
    first = True
    while True:
        head = [_read(stream, _BLOCK)]
        if not head[0] and not first:
            return  # no end-of-archive blocks: tarfile ends here too
        try:
            pax = {}
            if _whole(head[0]) and tarscan.is_pax(head[0]):
                length = tarscan.pax_length(head[0])
                if length > _PAX_LIMIT:
                    raise tarscan.Unsupported("long PAX header")
                head.append(_read(stream, length))
                pax = tarscan.pax_records(head[-1]) if _whole(head[-1]) else {}
                head.append(_read(stream, _BLOCK))
            if not all(_whole(part) for part in head):
                raise tarscan.Unsupported("truncated header")  # tarfile names the error
            if head[-1] == bytes(_BLOCK) and len(head) == 1:
                return
            member = tarscan.parse_header(head[-1], pax, 0)
        except tarscan.Unsupported:
            yield from _tarfile_members(b"".join(head), stream)
            return
        first = False
        if not member.isreg():
            yield member, None
            continue
        content = Content(stream, member.size, tarscan.data_length(member))
        yield member, content
        content.finish()


def _read(stream: BinaryIO, size: int) -> bytes:
    """``size`` bytes, fewer only at the end (a decompressor may return less than asked mid-stream)."""
    data = stream.read(size)
    if len(data) == size or not data:
        return data
    parts = [data]
    size -= len(data)
    while size and (data := stream.read(size)):
        parts.append(data)
        size -= len(data)
    return b"".join(parts)


def _whole(part: bytes) -> bool:
    return bool(part) and len(part) % _BLOCK == 0


def _tarfile_members(head: bytes, stream: BinaryIO) -> Iterator[tuple[Member, BinaryIO | None]]:
    """The rest of the tar, from the header(s) in ``head`` on, as ``tarfile`` reads it."""
    with tarfile.open(fileobj=_Prefixed(head, stream), mode="r|") as tar:
        for info in tar:
            member = Member(info.name, info.type, info.linkname, info.mode, info.uid, info.gid, info.mtime,
                            info.size, info.devmajor, info.devminor, {}, info.offset_data)
            yield member, (cast(BinaryIO, tar.extractfile(info)) if info.isreg() else None)


class _Prefixed(io.RawIOBase):
    """``head`` then the rest of ``stream``: the bytes tarfile reads from the header it takes over at."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head, self._stream = memoryview(head), stream

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._head:
            taken = bytes(self._head[:size] if size >= 0 else self._head)
            self._head = self._head[len(taken):]
            return taken
        return self._stream.read(size)
