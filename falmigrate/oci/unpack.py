"""Safe unpack of image layers into a rootfs directory.

Layers are applied in order with OCI whiteouts (``.wh.<name>`` deletes, ``.wh..wh..opq`` makes a
directory opaque). Every entry is checked before anything is written: absolute names and ``..``
components are refused; parent directories are resolved inside the target and a parent that is (or
passes through) a symlink leading outside the target is refused, so a symlink entry can never be used
to write through; hardlinks must point at an existing entry inside the target; device nodes are
refused unless ``allow_devices``. A refused entry raises UnsafeArchiveError naming the layer and entry;
nothing outside the target is created, changed or deleted.

Two producers feed the same ``Rootfs`` writer: tar streams (``oci.untar``: gzip, zstd — including
zstd:chunked — or plain, sniffed from the magic bytes) and TOC entries of partially pulled FlashPack
layers (``oci.remote.chunked``).

Entries may be written *ahead* of their layer (``apply(..., ahead=True)``: a pull writes an image's
startup files first). Such a path is then left alone by its own layer and every layer below it, so the
file stays in place while the rest arrives; a whiteout, opaque directory or replacement that removes
it drops that promise and its own layer writes it again, so the final tree is the same as in order.
With a sink that takes events, every created entry is reported as ``("unpack.file", name)``.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import stat
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from falmigrate import progress
from falmigrate.errors import UnsafeArchiveError

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
TYPES = ("reg", "dir", "symlink", "hardlink", "char", "block", "fifo")
PARALLEL_FILE_LIMIT = 1 << 20  # tar members up to this size are read into memory and written by workers
MAX_IN_FLIGHT = 256


@dataclass(frozen=True)
class Entry:
    name: str
    type: str  # one of TYPES
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: float = 0.0
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0


def parse_time(text: str | None) -> float:
    if not text:
        return 0.0
    try:
        return max(0.0, datetime.fromisoformat(text).timestamp())
    except ValueError:
        return 0.0


class Rootfs:
    """Applies entries to ``target``; one instance per unpack (tracks the current layer's paths)."""

    def __init__(self, target: Path, *, allow_devices: bool = False, jobs: int = 1) -> None:
        target = Path(target)
        target.mkdir(parents=True, exist_ok=True)
        self.root = os.path.realpath(target)
        self.allow_devices = allow_devices
        self.chown = hasattr(os, "geteuid") and os.geteuid() == 0
        self._ids = (os.geteuid(), os.getegid()) if self.chown else (-1, -1)  # new files' owner already
        self._umask = _current_umask()
        self.layer = ""
        self.number = -1  # the layer's position in the image (entries written ahead keep theirs)
        self._ahead: dict[str, int] = {}  # path written ahead of order → the layer it came from
        self._events = progress.wants_events()
        self._written: set[str] = set()
        self._dirs: dict[tuple[str, ...], str] = {}  # checked parents; cleared whenever we remove anything
        # Started empty: then nothing is in the tree but what we made, and our own record of it answers
        # "is something there?" without an lstat per entry (which costs ~0.5 ms on a busy disk).
        self._fresh = not os.listdir(self.root)
        self._made: dict[str, str] = {}  # real path → "dir" | "symlink" | "other", when fresh
        self._pool = progress.ThreadPool(max_workers=jobs) if jobs > 1 else None
        self._pending: list[Future] = []
        self._pending_names: set[str] = set()

    @property
    def parallel(self) -> bool:
        """Whether regular files may be written by worker threads (``jobs`` > 1)."""
        return self._pool is not None

    def begin_layer(self, label: str, number: int | None = None) -> None:
        self.flush()
        self.layer = label
        self.number = self.number + 1 if number is None else number
        self._written = set()

    def written_ahead(self, name: str) -> bool:
        """Whether ``name`` was written ahead by this layer or one above it (this layer skips it)."""
        if not self._ahead:
            return False
        owner = self._owner_ahead([p for p in name.split("/") if p not in ("", ".")])
        return owner is not None and owner >= self.number

    def _owner_ahead(self, parts: list[str]) -> int | None:
        """The highest layer that wrote this path, or a path above it (a symlink or file that replaces
        a lower layer's directory: what lower layers put under it must not go through it), ahead."""
        owner = None
        for depth in range(1, len(parts) + 1):
            found = self._ahead.get("/".join(parts[:depth]))
            if found is not None and (owner is None or found > owner):
                owner = found
        return owner

    def _refuse(self, name: str, why: str) -> UnsafeArchiveError:
        return UnsafeArchiveError(f"layer {self.layer}: entry {name!r}: {why}; nothing was written outside "
                                  f"the target", hint="the image is malformed or hostile; do not use it")

    def _inside(self, path: str) -> bool:
        return path == self.root or path.startswith(self.root + os.sep)

    def _split(self, name: str) -> list[str]:
        if name.startswith("/"):
            raise self._refuse(name, "absolute path")
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise self._refuse(name, "path traversal ('..')")
        if any("\x00" in p for p in parts):
            raise self._refuse(name, "NUL byte in name")
        return parts

    def _parent(self, name: str, parts: list[str], create: bool = True) -> str:
        """The real directory that holds ``parts[-1]``, resolved and checked inside the root.

        Resolved prefixes are cached (until anything is removed), so each new directory costs one
        lookup (no lstat at all in a fresh tree); only a symlinked component is resolved fully and
        checked to stay inside the root."""
        key = tuple(parts[:-1])
        found = self._dirs.get(key)
        if found is not None:
            return found
        depth = len(key) - 1
        while depth > 0 and key[:depth] not in self._dirs:
            depth -= 1
        current = self._dirs[key[:depth]] if depth > 0 else self.root
        for index in range(max(depth, 0), len(key)):
            part = key[index]
            candidate = os.path.join(current, part)
            kind = self._kind_at(candidate)
            if kind is None:
                if not create:
                    raise self._refuse(name, f"parent {part!r} does not exist")
                kind = self._mkdir(candidate)
            if kind == "symlink":
                real = os.path.realpath(candidate)
                if not self._inside(real):
                    raise self._refuse(name, f"parent {part!r} is a symlink leading outside the target")
                if not os.path.isdir(real):
                    raise self._refuse(name, f"parent {part!r} is not a directory")
                candidate = real
            elif kind != "dir":
                raise self._refuse(name, f"parent {part!r} is not a directory")
            current = candidate
            self._dirs[key[:index + 1]] = current
        return current

    def _ahead_of_this_layer(self, parts: list[str], key: str, ahead: bool) -> bool:
        """True when the path was written ahead by this layer or one above (skip it); records ``ahead``."""
        owner = self._owner_ahead(parts) if self._ahead else None
        if owner is not None and owner >= self.number:
            if owner == self.number:
                self._written.add(key)  # this layer's own entry: an opaque marker keeps it
            return True
        if ahead:
            self._ahead[key] = self.number
        return False

    def _kind_at(self, path: str) -> str | None:
        """What is at ``path`` ("dir", "symlink", "other" or None): our record when fresh, else lstat."""
        if self._fresh:
            return self._made.get(path)
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return None
        return "symlink" if stat.S_ISLNK(mode) else "dir" if stat.S_ISDIR(mode) else "other"

    def _mkdir(self, path: str) -> str:
        try:
            os.mkdir(path, 0o755)
        except FileExistsError:  # not in our record: something else made it; look
            self._fresh = False
            return self._kind_at(path) or "other"
        self._made[path] = "dir"
        return "dir"

    def apply(self, entry: Entry, content: Callable[[], BinaryIO] | None = None, *, parallel: bool = False,
              ahead: bool = False) -> None:
        """Apply one entry. ``parallel``: a regular file whose content opener is independent of the
        caller's stream may be written by a worker thread; every check still runs here, in order.
        Writes in flight are waited for before anything that could touch them: a second entry of the
        same name, a hardlink (its source may be in flight), a whiteout or opaque marker, or replacing
        an existing path. ``ahead``: the entry is written before the layers below it (see the module
        docstring); a path written ahead by this layer or one above is skipped."""
        parts = self._split(entry.name)
        key = "/".join(parts)
        if self._ahead_of_this_layer(parts, key, ahead):
            return
        if self._pending and (key in self._pending_names or entry.type == "hardlink"
                              or parts[-1:] and parts[-1].startswith(WHITEOUT)):
            self.flush()
        if not parts:
            if entry.type == "dir":
                self.flush()
                os.chmod(self.root, entry.mode & 0o7777)
            return
        parent = self._parent(entry.name, parts)
        leaf = parts[-1]
        if leaf == OPAQUE:
            self._opaque(parent, parts[:-1])
            return
        if leaf.startswith(WHITEOUT):
            self._whiteout(entry, parent, leaf[len(WHITEOUT):])
            return
        self._written.add(key)
        path = os.path.join(parent, leaf)
        if not self._queued(entry, path, content, key, parallel):
            self._create(entry, path, content)

    def _whiteout(self, entry: Entry, parent: str, victim: str) -> None:
        if victim in ("", ".", ".."):  # would delete the parent, or the directory above it
            raise self._refuse(entry.name, f"whiteout of {victim!r}")
        if victim.startswith(WHITEOUT):
            return  # other .wh..wh.* names are aufs bookkeeping (e.g. .wh..wh.plnk), not paths
        self._remove(os.path.join(parent, victim))

    def _queued(self, entry: Entry, path: str, content: Callable[[], BinaryIO] | None, key: str,
                parallel: bool) -> bool:
        """Whether a worker thread writes the entry (False: the caller creates it now)."""
        if self._pool is None or not (self._pending or parallel):
            return False
        if self._kind_at(path) is not None:
            self.flush()  # replacing: nothing in flight may be under or at it
            return False
        if not (parallel and entry.type == "reg"):
            return False
        if len(self._pending) >= MAX_IN_FLIGHT:  # bound the memory held by queued contents
            for future in self._pending[:MAX_IN_FLIGHT // 2]:
                future.result()
            del self._pending[:MAX_IN_FLIGHT // 2]
        self._pending.append(self._pool.submit(self._create, entry, path, content))
        self._pending_names.add(key)
        return True

    def flush(self) -> None:
        """Wait for the parallel file writes in flight; re-raise the first failure."""
        pending, self._pending = self._pending, []
        self._pending_names = set()
        for future in pending:
            future.result()

    def close(self) -> None:
        self.flush()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def _opaque(self, parent: str, dir_parts: list[str]) -> None:
        prefix = "/".join(dir_parts)
        for child in sorted(os.listdir(parent)):
            key = f"{prefix}/{child}" if prefix else child
            if key not in self._written:
                self._remove(os.path.join(parent, child))

    def _create(self, entry: Entry, path: str, content: Callable[[], BinaryIO] | None) -> None:
        kind = entry.type
        if kind in ("char", "block") and not self.allow_devices:
            raise self._refuse(entry.name, f"{kind} device node (pass allow_devices to create it)")
        if kind not in TYPES:
            raise self._refuse(entry.name, f"unsupported entry type {kind!r}")
        source = self._link_source(entry) if kind == "hardlink" else ""
        try:
            self._make(entry, path, content, source)
        except FileExistsError:
            if kind == "dir" and os.path.isdir(path) and not os.path.islink(path):
                self._owner(path, entry)
                os.chmod(path, entry.mode & 0o7777)
                return
            self._remove(path)
            self._make(entry, path, content, source)
        if self._fresh:
            self._made[path] = kind if kind in ("dir", "symlink") else "other"
        if self._events:
            progress.event("unpack.file", entry.name)

    def _make(self, entry: Entry, path: str, content: Callable[[], BinaryIO] | None, source: str) -> None:
        """Create ``path`` (FileExistsError if something is there) with the entry's metadata. Regular
        files are handled through their descriptor: no path lookups after the open, and ownership or
        mode calls only when they change something."""
        kind = entry.type
        mode = entry.mode & 0o7777
        if kind == "reg":
            self._make_file(entry, path, content, mode)
            return
        if kind == "dir":
            os.mkdir(path, 0o700)
        elif kind == "symlink":
            os.symlink(entry.linkname, path)
        elif kind == "hardlink":
            os.link(source, path, follow_symlinks=False)
            return
        elif kind == "fifo":
            os.mkfifo(path, 0o600)
        else:
            devtype = stat.S_IFCHR if kind == "char" else stat.S_IFBLK
            os.mknod(path, 0o600 | devtype, os.makedev(entry.devmajor, entry.devminor))
        self._owner(path, entry)
        if kind != "symlink":
            os.chmod(path, mode)
        if kind != "dir":
            with contextlib.suppress(OSError):
                os.utime(path, (entry.mtime, entry.mtime), follow_symlinks=False)

    def _make_file(self, entry: Entry, path: str, content: Callable[[], BinaryIO] | None, mode: int) -> None:
        fd = os.open(path, _CREATE_FLAGS, mode & 0o777)
        try:
            if content is not None:
                with content() as src:
                    _copy_to_fd(src, fd)
            if self.chown and (entry.uid, entry.gid) != self._ids:
                with contextlib.suppress(OSError):
                    os.fchown(fd, entry.uid, entry.gid)
                os.fchmod(fd, mode)  # after chown, which clears set-id bits
            elif mode != mode & 0o777 & ~self._umask:
                os.fchmod(fd, mode)
            with contextlib.suppress(OSError):
                os.utime(fd, (entry.mtime, entry.mtime))
        finally:
            os.close(fd)

    def _link_source(self, entry: Entry) -> str:
        parts = self._split(entry.linkname) if entry.linkname else []
        if not parts:
            raise self._refuse(entry.name, "hardlink without a target")
        try:
            parent = self._parent(entry.name, parts, create=False)
        except UnsafeArchiveError:
            raise self._refuse(entry.name, f"hardlink target {entry.linkname!r} escapes the target") from None
        source = os.path.join(parent, parts[-1])
        if not os.path.lexists(source):
            raise self._refuse(entry.name, f"hardlink target {entry.linkname!r} does not exist")
        if os.path.isdir(source) and not os.path.islink(source):
            raise self._refuse(entry.name, f"hardlink target {entry.linkname!r} is a directory")
        return source

    def _remove(self, path: str) -> None:
        self._dirs.clear()
        if self._made:  # list(): a snapshot (workers may add entries meanwhile)
            for made in [m for m in list(self._made) if m == path or m.startswith(path + os.sep)]:
                self._made.pop(made, None)
        if self._ahead:  # what is removed is no longer "in place": its own layer writes it again
            rel = os.path.relpath(path, self.root)
            self._ahead = {k: v for k, v in self._ahead.items() if k != rel and not k.startswith(rel + "/")}
        _remove(path)

    def _owner(self, path: str, entry: Entry) -> None:
        if self.chown and (entry.uid, entry.gid) != self._ids:
            with contextlib.suppress(OSError):
                os.lchown(path, entry.uid, entry.gid)


_CREATE_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                 | getattr(os, "O_CLOEXEC", 0))


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _copy_to_fd(src: BinaryIO, fd: int) -> None:
    """In-kernel copy from real files (the partial-pull file store), else 1 MiB reads and writes."""
    if type(src) is io.BufferedReader and isinstance(src.raw, io.FileIO) and hasattr(os, "copy_file_range"):
        try:
            while os.copy_file_range(src.fileno(), fd, 1 << 30):
                pass
            return
        except OSError:
            src.seek(0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
    while data := src.read(1 << 20):
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]


def _remove(path: str) -> None:
    if os.path.islink(path) or (os.path.lexists(path) and not os.path.isdir(path)):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)
