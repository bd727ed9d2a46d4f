"""The local content-addressed store that pulls write into (and pushes can read from).

It *is* an OCI image layout (``oci.layout.Layout``: one lock, one ``index.json`` writer, one temp area),
so a fully pulled image is readable by skopeo/umoci/``oci.validate`` and a pull and a pack into the
same directory at once serialise on the same lock. On top of the layout it keeps ``files/sha256/<hex>``
(created on first use, so reading a user's layout adds nothing to it): uncompressed file contents and
compressed TOCs fetched by partial pulls of FlashPack layers, keyed by their own digest so any image
sharing a file never fetches it twice. Every write streams into a temp file of the layout, is verified
against the expected digest (and size) and only then renamed into place: a killed pull leaves at most
a temp file (swept by the next writer), never a blob whose bytes do not match.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from falmigrate.oci.digest import Digest, Verifier
from falmigrate.oci.layout import Layout

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer


def default_store() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "falmigrate" / "store"


class Store(Layout):
    """A Layout plus the verified streaming writes and the ``files/`` area of pulls."""

    @property
    def root(self) -> Path:
        return self.path

    # -- blobs ----------------------------------------------------------------------------
    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def write_blob(self, digest: str, chunks: Iterable[bytes], size: int | None = None,
                   incoming: Incoming | None = None) -> Path:
        """Store a blob (verified); ``incoming`` lets another thread read it while it arrives."""
        return _verified_write(self, self.blob_path(digest), digest, chunks, size, incoming=incoming)

    # -- files (partial pulls) ------------------------------------------------------------
    def file_path(self, digest: str) -> Path:
        d = Digest.parse(digest)
        return self.path / "files" / d.algorithm / d.hex

    def has_file(self, digest: str) -> bool:
        return self.file_path(digest).is_file()

    def write_file(self, digest: str, chunks: Iterable[bytes], size: int | None = None) -> Path:
        self.file_path(digest).parent.mkdir(parents=True, exist_ok=True)
        return _verified_write(self, self.file_path(digest), digest, chunks, size, sync=False)


def _verified_write(layout: Layout, dest: Path, digest: str, chunks: Iterable[bytes], size: int | None, *,
                    sync: bool = True, incoming: Incoming | None = None) -> Path:
    """Stream into a temp file, verify, rename. ``sync=False`` skips fsync (rename still makes a killed
    process leave nothing half-written; only a power loss could) — used for the many small files."""
    if dest.is_file():
        for _ in chunks:  # drain so callers' counters and streams stay consistent
            pass
        if incoming is not None:
            incoming.done(dest)
        return dest
    verifier = Verifier(digest, size)
    tmp = str(layout.temp_path(f"-{threading.get_ident()}"))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        if incoming is not None:
            incoming.begin(tmp)
        _write_all(fd, chunks, verifier, incoming, sync=sync)
        verifier.check(f"blob {digest}")
        os.replace(tmp, dest)
    except BaseException:
        if incoming is not None:
            incoming.failed()
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if incoming is not None:
        incoming.done(dest)
    return dest


def _write_all(fd: int, chunks: Iterable[bytes], verifier: Verifier, incoming: Incoming | None, *,
               sync: bool) -> None:
    with os.fdopen(fd, "wb", buffering=0) as handle:
        for chunk in chunks:
            verifier.update(chunk)
            view = memoryview(chunk)
            while view:  # unbuffered (a reader of ``incoming`` sees every byte counted): may be partial
                view = view[handle.write(view):]
            if incoming is not None:
                incoming.grew(len(chunk))
        if sync:
            os.fsync(handle.fileno())


class Superseded(Exception):
    """The attempt an ``Incoming`` reader was following failed (a retry may follow)."""


class Incoming:
    """A blob one thread is downloading and another reads as it arrives (to unpack while fetching).

    Each download attempt is a generation with its own temp file; a reader follows one generation and
    raises Superseded if that attempt fails. Only ``verified(reader)`` says whether the bytes a reader
    saw were the verified blob — callers must not trust what they made from them before that.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._generation = 0
        self._fd: int | None = None
        self._size = 0
        self._state = "waiting"  # waiting | writing | done | failed
        self._path: Path | None = None

    # writer side (called by _verified_write)
    def begin(self, tmp: str) -> None:
        with self._cond:
            self._close_fd()
            self._fd = os.open(tmp, os.O_RDONLY)
            self._generation += 1
            self._size, self._state = 0, "writing"
            self._cond.notify_all()

    def grew(self, amount: int) -> None:
        with self._cond:
            self._size += amount
            self._cond.notify_all()

    def done(self, path: Path) -> None:
        with self._cond:
            self._close_fd()
            self._state, self._path = "done", Path(path)
            self._cond.notify_all()

    def failed(self) -> None:
        with self._cond:
            self._close_fd()
            self._state = "failed"
            self._cond.notify_all()

    def _close_fd(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # reader side
    def open(self) -> _IncomingReader:
        return _IncomingReader(self)

    def verified(self, reader: _IncomingReader) -> bool:
        """Wait until the attempt ``reader`` followed ends; True if it was verified and stored."""
        with self._cond:
            self._cond.wait_for(lambda: self._generation != reader.generation
                                or self._state in ("done", "failed"))
            return reader.generation == self._generation and self._state == "done"


class _IncomingReader(io.RawIOBase):
    def __init__(self, incoming: Incoming) -> None:
        self._in = incoming
        self._fd: int | None = None
        self._pos = 0
        self.generation = 0

    def readable(self) -> bool:
        return True

    def _attach(self) -> None:
        inc = self._in
        with inc._cond:
            inc._cond.wait_for(lambda: inc._state != "waiting")
            if inc._state == "failed":
                raise Superseded
            self.generation = inc._generation
            if inc._state == "done":
                assert inc._path is not None
                self._fd = os.open(inc._path, os.O_RDONLY)
            else:
                assert inc._fd is not None
                self._fd = os.dup(inc._fd)

    def readinto(self, buffer: WriteableBuffer) -> int:
        if self._fd is None:
            self._attach()
        assert self._fd is not None  # _attach opened it
        view = memoryview(buffer)
        inc = self._in
        with inc._cond:
            def ready() -> bool:
                return (inc._generation != self.generation or inc._state in ("done", "failed")
                        or inc._size > self._pos)
            inc._cond.wait_for(ready)
            if inc._generation != self.generation or inc._state == "failed":
                raise Superseded
            available = inc._size - self._pos if inc._state == "writing" else len(view)
        data = os.pread(self._fd, min(len(view), available), self._pos)
        view[:len(data)] = data
        self._pos += len(data)
        return len(data)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        super().close()
