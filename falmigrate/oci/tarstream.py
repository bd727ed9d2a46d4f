"""Layer byte streams for unpacking: sniff the compression of a layer blob, and read ahead on a helper
thread so decompression (zstd and zlib release the GIL) overlaps tar parsing and file creation."""

from __future__ import annotations

import gzip
import io
import queue
import tarfile
import threading
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from falmigrate.errors import ImageError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer


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
