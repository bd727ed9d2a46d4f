"""OCI image layout on disk: ``oci-layout``, ``index.json`` (tags as ref.name), ``blobs/sha256/``.

Content-addressed: a blob is stored once under its digest (``put_*`` are no-ops when it exists, and
two writers storing the same blob at once both end with the one file). Crash-safe: every file is
written to ``.falmigrate-tmp/<pid>-…`` inside the layout (flock'd while in use) and renamed into
place, and blobs land before the ``index.json`` entry that names them, so a writer killed at any
moment leaves a valid layout; the next writer sweeps temp files whose pid is gone and lock is free.
``index.json`` read-modify-writes hold an exclusive ``flock`` so concurrent taggers never lose each other's
entries.

Public: ``parse_reference("oci:PATH[:TAG]")`` (the one parser of layout references); ``Layout(path)`` with
``put_bytes``, ``put_file``, ``put_document``, ``blob_path``, ``read_blob``, ``index``, ``read_index``,
``tag``, ``resolve`` (a dict, for older callers), ``descriptor``, ``image``, ``write_image``, ``update_json``;
``pack_tree(tree, layout, tag, compression)`` writes a one-layer image of a directory tree.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import platform
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from falmigrate.errors import ImageError
from falmigrate.oci.digest import Digest
from falmigrate.oci.objects import (
    REF_NAME,
    Descriptor,
    Image,
    ImageConfig,
    Index,
    Layer,
    Manifest,
    canonical_json,
)

__all__ = ["REF_NAME", "Layout", "pack_tree"]

LAYOUT_VERSION = b'{"imageLayoutVersion":"1.0.0"}'
TMP_DIR = ".falmigrate-tmp"
LOCK_FILE = ".falmigrate.lock"
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}


PREFIX = "oci:"
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")


def parse_reference(text: str) -> tuple[Path, str | None]:
    """``oci:PATH[:TAG]`` (the ``oci:`` prefix optional) → (path, tag or None).

    As in skopeo, the tag is what follows the last ``:`` — when that is a valid tag (no ``/``; letters,
    digits, ``._-``) and the whole text does not name an existing directory (a path may contain ``:``)."""
    body = text.removeprefix(PREFIX)
    path, sep, tag = body.rpartition(":")
    if not sep or not path or not _TAG.fullmatch(tag) or Path(body).is_dir():
        return Path(body), None
    return Path(path), tag


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` still exists (one we may not signal counts as alive): the test that
    leftover temp and staging entries named after their writer's pid may be swept."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Layout:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        (self.path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        self._swept = False
        if not (self.path / "oci-layout").exists():
            self._atomic(self.path / "oci-layout", LAYOUT_VERSION)
        if not (self.path / "index.json").exists():
            with self._lock():
                if not (self.path / "index.json").exists():
                    self._atomic(self.path / "index.json", Index().to_bytes())

    # -- temp files, atomic writes, the lock -------------------------------------------------------

    def temp_path(self, suffix: str = "") -> Path:
        """A fresh path inside the layout (same file system, so renames into blobs/ are atomic).
        Prefer ``scratch()``, which also guards the path against sweepers while it is in use."""
        tmp_dir = self.path / TMP_DIR
        tmp_dir.mkdir(exist_ok=True)
        if not self._swept:
            self._sweep(tmp_dir)
        return tmp_dir / f"{os.getpid()}-{secrets.token_hex(8)}{suffix}"

    @contextmanager
    def scratch(self, directory: bool = False) -> Iterator[Path]:
        """A temp file (empty, mode from the umask) or directory in the layout, held under an exclusive
        ``flock`` while in use and removed afterwards."""
        path = self.temp_path()
        if directory:
            path.mkdir()
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        else:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield path
        finally:
            if directory:
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            os.close(fd)

    def _sweep(self, tmp_dir: Path) -> None:
        """Remove what killed writers left behind: entries whose pid is gone *and* whose flock is free
        (a writer in another pid namespace looks dead by pid but still holds its lock)."""
        self._swept = True
        for leftover in tmp_dir.iterdir():
            pid = leftover.name.split("-", 1)[0]
            if not pid.isdigit() or pid_alive(int(pid)):
                continue
            is_dir = leftover.is_dir() and not leftover.is_symlink()
            try:
                fd = os.open(leftover, os.O_RDONLY | (os.O_DIRECTORY if is_dir else 0) | os.O_NOFOLLOW)
            except OSError:
                continue  # gone already, or a symlink (we never make those here)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            if is_dir:
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
            os.close(fd)

    def _atomic(self, dest: Path, data: bytes) -> None:
        with self.scratch() as tmp:
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, dest)

    @contextmanager
    def _lock(self) -> Iterator[None]:
        with open(self.path / LOCK_FILE, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def update_json(self, name: str, change: Callable[[dict], dict]) -> dict:
        """Read-modify-write a JSON side file of the layout (e.g. a cache) under the layout lock."""
        with self._lock():
            path = self.path / name
            current = json.loads(path.read_bytes()) if path.exists() else {}
            new = change(current)
            self._atomic(path, canonical_json(new))
            return new

    # -- blobs -------------------------------------------------------------------------------------

    def blob_path(self, digest: str | Digest) -> Path:
        algo, _, hexpart = str(digest).partition(":")
        return self.path / "blobs" / algo / hexpart

    def put_bytes(self, data: bytes) -> str:
        digest = str(Digest.of_bytes(data))
        if not self.blob_path(digest).exists():
            self._atomic(self.blob_path(digest), data)
        return digest

    def put_document(self, document: Manifest | Index | ImageConfig) -> Descriptor:
        data = document.to_bytes()
        self.put_bytes(data)
        return Descriptor.of_bytes(document.media_type, data)

    def put_file(self, src: Path, digest: str | Digest) -> Path:
        """Move ``src`` (already digested) into the store, or drop it if the blob exists."""
        dest = self.blob_path(digest)
        if dest.exists():
            os.unlink(src)
            return dest
        try:
            os.replace(src, dest)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            with self.scratch() as tmp:  # another file system: copy next to the store, then rename
                shutil.copyfile(src, tmp)
                os.replace(tmp, dest)
            os.unlink(src)
        return dest

    # -- index.json --------------------------------------------------------------------------------

    def index(self) -> Index:
        return Index.parse((self.path / "index.json").read_bytes(), str(self.path / "index.json"))

    def read_index(self) -> dict:
        index: dict = json.loads((self.path / "index.json").read_bytes())
        return index

    def tag(self, descriptor: Descriptor | dict, tag: str) -> None:
        """Point ``tag`` at ``descriptor`` in index.json (replacing an older one of that name)."""
        if not isinstance(descriptor, Descriptor):
            descriptor = Descriptor.from_dict(descriptor)
        with self._lock():
            self._atomic(self.path / "index.json", self.index().with_tag(descriptor, tag).to_bytes())

    def descriptor(self, tag: str | None) -> Descriptor:
        found = self.index().find(tag)
        if found is None:
            raise ImageError(f"{self.path}: no image tagged {tag!r}", hint=f"tags: {self.index().tags}")
        return found

    def resolve(self, tag: str | None) -> dict:
        return self.descriptor(tag).to_dict()

    # -- images ------------------------------------------------------------------------------------

    def _opener(self, desc: Descriptor) -> Callable[[], BinaryIO]:
        path = self.blob_path(desc.digest)
        return lambda: open(path, "rb")

    def read_blob(self, digest: str | Digest, what: str = "blob") -> bytes:
        try:
            return self.blob_path(digest).read_bytes()
        except FileNotFoundError:
            raise ImageError(f"{self.path}: {what} {digest} is missing from blobs/") from None

    def image(self, tag: str | None = None, architecture: str | None = None) -> Image:
        """The image tagged ``tag``; for an index, its linux manifest for ``architecture`` (default: this
        machine's), else its first. Layers open their blobs."""
        desc = self.descriptor(tag)
        if desc.media_type.is_index:
            nested = Index.parse(self.read_blob(desc.digest, "index"), f"index {desc.digest}")
            if not nested.manifests:
                raise ImageError(f"{self.path}: index {desc.digest} (tag {tag!r}) lists no manifests")
            want = architecture or _ARCH.get(platform.machine(), platform.machine())
            desc = next((d for d in nested.manifests if d.platform and d.platform.get("os") == "linux"
                         and d.platform.get("architecture") == want), nested.manifests[0])
        manifest = Manifest.parse(self.read_blob(desc.digest, "manifest"), f"manifest {desc.digest}")
        config = ImageConfig.parse(self.read_blob(manifest.config.digest, "config"),
                                   f"config {manifest.config.digest}", media_type=manifest.config.media_type)
        return Image.from_parts(manifest, config, self._opener)

    def write_image(self, image: Image, tag: str | None = None) -> Descriptor:
        """Store ``image``'s config and manifest (its layer blobs must be here already), then tag it."""
        missing = [str(layer.digest) for layer in image.layers if not self.blob_path(layer.digest).exists()]
        if missing:
            raise ImageError(f"{self.path}: layer blobs missing, not writing the manifest: {missing}")
        self.put_document(image.config)
        desc = self.put_document(image.manifest)
        if tag is not None:
            self.tag(desc, tag)
        return desc


def stored_layer(layout: Layout, compressed: Any) -> Layer:
    """Move a ``compress.Compressed`` result into the layout and describe it as a Layer."""
    layout.put_file(compressed.path, compressed.digest)
    desc = Descriptor(compressed.media_type, Digest.parse(compressed.digest), compressed.size,
                      compressed.annotations)
    return Layer(desc, Digest.parse(compressed.diff_id), layout._opener(desc))


def pack_tree(tree: Path, layout_path: Path, tag: str = "latest", compression: str = "flashpack",
              prefetch: list[str] | None = None) -> dict:
    """Write ``tree`` as a one-layer image into the layout; returns the manifest descriptor."""
    from falmigrate.oci.compress import compress_tar
    from falmigrate.oci.tarwriter import tree_tar

    layout = Layout(layout_path)
    with layout.scratch(directory=True) as work:
        tar = tree_tar(Path(tree), work / "layer.tar")
        layer = stored_layer(layout, compress_tar(tar, work / "layer.blob", compression, prefetch=prefetch))
    image = Image.build(ImageConfig.new([layer.diff_id]), [layer])
    return layout.write_image(image, tag).to_dict()
