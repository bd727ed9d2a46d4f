"""The local content-addressed store that pulls write into (and pushes can read from).

Layout: an OCI image layout (``oci-layout``, ``index.json``, ``blobs/sha256/<hex>``) so a fully
pulled image is readable by skopeo/umoci/``oci.validate``, plus ``files/sha256/<hex>``: uncompressed
file contents and compressed TOCs fetched by partial pulls of FlashPack layers, keyed by their own
digest so any image sharing a file never fetches it twice. Every write streams into a temp file in
the same directory, is verified against the expected digest (and size) and only then renamed into
place: a killed pull leaves at most a ``.tmp-*`` file, never a blob whose bytes do not match.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import itertools
import json
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from falmigrate.errors import ImageError
from falmigrate.oci.digest import Digest, Verifier
from falmigrate.oci.mediatypes import OCI_INDEX

REF_NAME = "org.opencontainers.image.ref.name"
_counter = itertools.count()


def default_store() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "falmigrate" / "store"


class Store:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        (self.root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (self.root / "files" / "sha256").mkdir(parents=True, exist_ok=True)
        if not (self.root / "oci-layout").exists():
            _atomic_write(self.root / "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        if not (self.root / "index.json").exists():
            self._write_index({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})

    # -- blobs ----------------------------------------------------------------------------
    def blob_path(self, digest: str) -> Path:
        d = Digest.parse(digest)
        return self.root / "blobs" / d.algorithm / d.hex

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def read_blob(self, digest: str) -> bytes:
        return self.blob_path(digest).read_bytes()

    def write_blob(self, digest: str, chunks: Iterable[bytes], size: int | None = None,
                   incoming: Incoming | None = None) -> Path:
        """Store a blob (verified); ``incoming`` lets another thread read it while it arrives."""
        return _verified_write(self.blob_path(digest), digest, chunks, size, incoming=incoming)

    # -- files (partial pulls) ------------------------------------------------------------
    def file_path(self, digest: str) -> Path:
        d = Digest.parse(digest)
        return self.root / "files" / d.algorithm / d.hex

    def has_file(self, digest: str) -> bool:
        return self.file_path(digest).is_file()

    def write_file(self, digest: str, chunks: Iterable[bytes], size: int | None = None) -> Path:
        return _verified_write(self.file_path(digest), digest, chunks, size, sync=False)

    # -- index ----------------------------------------------------------------------------
    def index(self) -> dict:
        return json.loads((self.root / "index.json").read_text())

    def tag(self, name: str, descriptor: dict) -> None:
        """Point ``name`` at ``descriptor`` in index.json (replacing an older entry of that name)."""
        with self._locked():
            index = self.index()
            manifests = [m for m in index.get("manifests", [])
                         if (m.get("annotations") or {}).get(REF_NAME) != name]
            entry = dict(descriptor)
            entry["annotations"] = {**(descriptor.get("annotations") or {}), REF_NAME: name}
            manifests.append(entry)
            index["manifests"] = sorted(manifests, key=lambda m: m["annotations"].get(REF_NAME, ""))
            self._write_index(index)

    def resolve(self, name: str | None) -> dict:
        manifests = self.index().get("manifests", [])
        if name is None:
            if len(manifests) != 1:
                raise ImageError(f"{self.root}: {len(manifests)} images in index.json; name one with :TAG")
            return manifests[0]
        for m in manifests:
            if (m.get("annotations") or {}).get(REF_NAME) == name or m.get("digest") == name:
                return m
        raise ImageError(f"{self.root}: no image named {name!r} in index.json")

    def _write_index(self, index: dict) -> None:
        _atomic_write(self.root / "index.json", json.dumps(index, indent=2, sort_keys=True).encode())

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.root / ".lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _verified_write(dest: Path, digest: str, chunks: Iterable[bytes], size: int | None, *, sync: bool = True,
                    incoming: Incoming | None = None) -> Path:
    """Stream into a temp file, verify, rename. ``sync=False`` skips fsync (rename still makes a killed
    process leave nothing half-written; only a power loss could) — used for the many small files."""
    if dest.is_file():
        for _ in chunks:  # drain so callers' counters and streams stay consistent
            pass
        if incoming is not None:
            incoming.done(dest)
        return dest
    verifier = Verifier(digest, size)
    tmp = str(dest.parent / f".tmp-{os.getpid()}-{threading.get_ident()}-{next(_counter)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        if incoming is not None:
            incoming.begin(tmp)
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
            self._cond.wait_for(lambda: self._generation != reader.generation or self._state in ("done", "failed"))
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

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if self._fd is None:
            self._attach()
        inc = self._in
        with inc._cond:
            def ready() -> bool:
                return (inc._generation != self.generation or inc._state in ("done", "failed")
                        or inc._size > self._pos)
            inc._cond.wait_for(ready)
            if inc._generation != self.generation or inc._state == "failed":
                raise Superseded
            available = inc._size - self._pos if inc._state == "writing" else len(buffer)
        data = os.pread(self._fd, min(len(buffer), available), self._pos)
        buffer[:len(data)] = data
        self._pos += len(data)
        return len(data)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        super().close()


def _atomic_write(dest: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
