"""Creating one entry of an image on disk: the system calls of an unpack, in one place.

``unpack.Rootfs`` decides *whether* and *where* an entry may be created (every safety check); this
module only creates it, on whichever thread the rootfs hands the work to (``oci.unpackwork``). Every
call is relative to a parent the rootfs resolved inside the target and refuses to follow a symlink at
the last component: regular files are opened ``O_EXCL | O_NOFOLLOW`` and handled through their
descriptor (no path lookups after the open; ownership and mode calls only when they change something),
other entries are made with ``mkdir``/``symlink``/``link``/``mknod`` (``FileExistsError`` if anything is
there) and their metadata set with the no-follow variants.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from falmigrate.errors import ImageError

TYPES = ("reg", "dir", "symlink", "hardlink", "char", "block", "fifo")
_CREATE_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL
                 | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))


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


class Maker:
    """Creates entries with their metadata; ownership is set only when running as root."""

    def __init__(self) -> None:
        self.chown = hasattr(os, "geteuid") and os.geteuid() == 0
        self._ids = (os.geteuid(), os.getegid()) if self.chown else (-1, -1)  # new files' owner already
        self._umask = _current_umask()

    def make(self, entry: Entry, path: str, content: Callable[[], BinaryIO] | None, source: str) -> None:
        """Create ``path`` (FileExistsError if something is there) with the entry's metadata;
        ``source``: the checked path a hardlink points at."""
        kind = entry.type
        if kind == "reg":
            self._file(entry, path, content)
            return
        if kind == "hardlink":
            os.link(source, path, follow_symlinks=False)
            return
        if kind == "dir":
            os.mkdir(path, 0o700)
        elif kind == "symlink":
            os.symlink(entry.linkname, path)
        elif kind == "fifo":
            os.mkfifo(path, 0o600)
        else:
            devtype = stat.S_IFCHR if kind == "char" else stat.S_IFBLK
            os.mknod(path, 0o600 | devtype, os.makedev(entry.devmajor, entry.devminor))
        self.owner(path, entry)
        if kind != "symlink":
            os.chmod(path, entry.mode & 0o7777)
        if kind != "dir":
            with contextlib.suppress(OSError):
                os.utime(path, (entry.mtime, entry.mtime), follow_symlinks=False)

    def _file(self, entry: Entry, path: str, content: Callable[[], BinaryIO] | None) -> None:
        mode = entry.mode & 0o7777
        fd = os.open(path, _CREATE_FLAGS, mode & 0o777)
        try:
            if content is not None:
                with content() as src:
                    copy_to_fd(src, fd)
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

    def owner(self, path: str, entry: Entry) -> None:
        if self.chown and (entry.uid, entry.gid) != self._ids:
            with contextlib.suppress(OSError):
                os.lchown(path, entry.uid, entry.gid)


def implicit_dir(path: str) -> None:
    """A parent directory no entry declared, in a tree that started empty (0755, like a lone ``mkdir``)."""
    try:
        os.mkdir(path, 0o755)
    except FileExistsError:  # only this unpack writes the tree
        if not os.path.isdir(path) or os.path.islink(path):
            raise ImageError(f"{path} appeared while the image was being unpacked there") from None


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def copy_to_fd(src: BinaryIO, fd: int) -> None:
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


def remove(path: str) -> None:
    """Remove whatever is at ``path`` (a symlink itself, never what it points at)."""
    if os.path.islink(path) or (os.path.lexists(path) and not os.path.isdir(path)):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)
