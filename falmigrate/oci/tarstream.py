"""Layer byte streams for unpacking: sniff the compression of a layer blob, and read ahead on a helper
thread so decompression (zstd and zlib release the GIL) overlaps tar parsing and file creation."""

from __future__ import annotations

import gzip
import io
import queue
import threading
from typing import BinaryIO


def open_decompressed(handle: BinaryIO) -> BinaryIO:
    """A tar stream from a gzip, zstd or plain layer (sniffed by magic bytes)."""
    buffered = io.BufferedReader(handle) if not hasattr(handle, "peek") else handle
    magic = buffered.peek(4)[:4]
    if magic[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=buffered)
    if magic == b"\x28\xb5\x2f\xfd":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(buffered, read_across_frames=True)
    return buffered


class ReadAhead(io.RawIOBase):
    """Reads (and so decompresses) ``source`` on a helper thread a few MiB ahead of the consumer, so
    decompression overlaps tar parsing and file creation; errors surface in the consumer unchanged."""

    def __init__(self, source: BinaryIO, depth: int = 8, size: int = 1 << 20) -> None:
        self._queue: queue.Queue = queue.Queue(depth)
        self._stop = threading.Event()
        self._buffer = memoryview(b"")
        self._done = False
        self._thread = threading.Thread(target=self._produce, args=(source, size), daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
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

    def readinto(self, buffer) -> int:  # type: ignore[override]
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
        count = min(len(buffer), len(self._buffer))
        buffer[:count] = self._buffer[:count]
        self._buffer = self._buffer[count:]
        return count

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        super().close()
