"""Content-defined chunks of a large file, so an edit in the middle of a weights file changes few chunks.

Cut points come from FastCDC (a gear rolling hash; ``pyfastcdc``, whose loop is compiled Cython and
runs at GB/s with the GIL released — a Python byte loop would take minutes per GB). A boundary
depends only on the bytes just before it, so after an insertion or overwrite the chunking falls back
in step within a chunk or two. Runs of zero bytes of at least ``ZERO_MIN`` inside a chunk (or
filling it) become separate ``zeros`` pieces, merged with neighbouring zero pieces, so sparse regions
cost one tiny frame and a puller can write holes; that split depends only on content too.

``pieces(src, start, length)`` / ``pieces_of(reader)`` stream: it holds at most a few ``MAX_CHUNK`` buffers at
a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from pyfastcdc import FastCDC

if TYPE_CHECKING:
    from pyfastcdc import BinaryStreamReader  # a type in pyfastcdc's stub only

AVG_CHUNK = 256 << 10
MIN_CHUNK = AVG_CHUNK // 4
MAX_CHUNK = AVG_CHUNK * 4
CHUNKED_MIN = 1 << 20  # files from this size on are cut into chunks; smaller ones stay one frame
ZERO_MIN = 16 << 10

_ZERO_RUN = bytes(ZERO_MIN)
_STEP = 64 << 10
_ZERO_STEP = bytes(_STEP)
_cutter = FastCDC(AVG_CHUNK, min_size=MIN_CHUNK, max_size=MAX_CHUNK)


class Source(Protocol):
    """What ``pieces`` reads from: a binary file (or ``io.BytesIO``) that can seek and ``readinto``."""

    def seek(self, offset: int, whence: int = 0, /) -> int: ...

    def readinto(self, buffer: memoryview, /) -> int | None: ...


@dataclass(frozen=True)
class Piece:
    """``data`` bytes, or (``data`` is None) a run of ``zeros`` zero bytes."""

    data: bytes | None
    zeros: int = 0

    @property
    def size(self) -> int:
        return self.zeros if self.data is None else len(self.data)


class _Window:
    """``length`` bytes of ``src`` from its current position, read through ``readinto``."""

    def __init__(self, src: Source, length: int) -> None:
        self.src, self.left = src, length

    def readinto(self, buf: memoryview) -> int:
        if not self.left:
            return 0
        view = memoryview(buf)[:min(len(buf), self.left)]
        n = self.src.readinto(view)
        if not n:
            raise EOFError("layer tar is truncated")
        self.left -= n
        return n


def _zeros_until(data: bytes, pos: int) -> int:
    """The first index from ``pos`` on whose byte is not zero (or len(data)), by memcmp of slices:
    64 KiB steps, then a binary search in the last step (a byte loop or lstrip would be 100x slower)."""
    end = len(data)
    while pos + _STEP <= end and data[pos:pos + _STEP] == _ZERO_STEP:
        pos += _STEP
    low, high = 0, min(_STEP, end - pos)
    while low < high:
        mid = (low + high + 1) // 2
        if data[pos:pos + mid] == _ZERO_STEP[:mid]:
            low = mid
        else:
            high = mid - 1
    return pos + low


def _split(data: bytes) -> Iterator[Piece]:
    """One CDC chunk → its data pieces and the zero runs of at least ZERO_MIN bytes between them."""
    pos = 0
    while (run := data.find(_ZERO_RUN, pos)) >= 0:  # C string search; the first hit starts a run
        end = _zeros_until(data, run + ZERO_MIN)
        if run > pos:
            yield Piece(data[pos:run])
        yield Piece(None, end - run)
        pos = end
    if pos < len(data):
        yield Piece(data[pos:] if pos else data)


def pieces(src: Source, start: int, length: int) -> Iterator[Piece]:
    """The data and zero-run pieces of ``src[start:start+length]``, in order, covering every byte."""
    src.seek(start)
    return pieces_of(_Window(src, length))


def pieces_of(reader: BinaryStreamReader) -> Iterator[Piece]:
    """The pieces of everything ``reader.readinto`` gives until it returns 0."""
    zeros = 0
    for chunk in _cutter.cut_stream(reader):
        for piece in _split(bytes(chunk.data)):
            if piece.data is None:
                zeros += piece.zeros
                continue
            if zeros:
                yield Piece(None, zeros)
                zeros = 0
            yield piece
    if zeros:
        yield Piece(None, zeros)
