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

    def write_blob(self, digest: str, chunks: Iterable[bytes], size: int | None = None) -> Path:
        return _verified_write(self.blob_path(digest), digest, chunks, size)

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


def _verified_write(dest: Path, digest: str, chunks: Iterable[bytes], size: int | None, *, sync: bool = True) -> Path:
    """Stream into a temp file, verify, rename. ``sync=False`` skips fsync (rename still makes a killed
    process leave nothing half-written; only a power loss could) — used for the many small files."""
    if dest.is_file():
        for _ in chunks:  # drain so callers' counters and streams stay consistent
            pass
        return dest
    verifier = Verifier(digest, size)
    tmp = str(dest.parent / f".tmp-{os.getpid()}-{threading.get_ident()}-{next(_counter)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                verifier.update(chunk)
                handle.write(chunk)
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
        verifier.check(f"blob {digest}")
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return dest


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
