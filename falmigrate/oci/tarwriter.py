"""Deterministic tar of a directory tree: same tree → same bytes → same diff_id.

Entries are sorted, uid/gid are 0 (names empty), mtime is SOURCE_DATE_EPOCH or 0, PAX format is
used (long names, unicode, xattrs as ``SCHILY.xattr.*``), symlinks, hardlinks (the second path of
an inode becomes a hardlink to the first in sorted order), FIFOs and device nodes are kept; sockets
cannot be in a tar and are returned as skipped. Public:
``write_tree_tar(root, fileobj)`` and ``tree_tar(root, path)``.
"""

from __future__ import annotations

import os
import stat
import tarfile
from pathlib import Path
from typing import BinaryIO

from falmigrate import progress


def _epoch() -> int:
    try:
        return int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    except ValueError:
        return 0


def _walk(root: Path) -> list[str]:
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = os.path.relpath(dirpath, root)
        for name in sorted(dirnames + filenames):
            out.append(name if rel == "." else f"{rel}/{name}")
    return sorted(out)


def _xattrs(path: str) -> dict[str, str]:
    result: dict[str, str] = {}
    try:
        for key in sorted(os.listxattr(path, follow_symlinks=False)):
            value = os.getxattr(path, key, follow_symlinks=False)
            if value:  # a PAX record with an empty value means "delete": readers (umoci) drop it
                result[f"SCHILY.xattr.{key}"] = value.decode("utf-8", "surrogateescape")
    except OSError:
        pass
    return result


def _ordered(paths: list[str], first: list[str] | None) -> list[str]:
    """Prefetch paths (and their parent directories) first, in profile order; then the rest sorted."""
    if not first:
        return paths
    present = set(paths)
    head: list[str] = []
    for want in first:
        want = want.strip("/")
        parts = want.split("/")
        for i in range(1, len(parts) + 1):
            p = "/".join(parts[:i])
            if p in present and p not in head:
                head.append(p)
    seen = set(head)
    return head + [p for p in paths if p not in seen]


def write_tree_tar(root: Path, fileobj: BinaryIO, first: list[str] | None = None) -> list[str]:
    """Write the tree under ``root`` as a deterministic PAX tar; ``first`` paths lead (prefetch).
    Returns the paths that tar cannot hold (sockets), so callers can report them."""
    root = Path(root)
    skipped: list[str] = []
    mtime = _epoch()
    inodes: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=fileobj, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for rel in _ordered(_walk(root), first):
            full = str(root / rel)
            st = os.lstat(full)
            info = tarfile.TarInfo(rel)
            info.mode = stat.S_IMODE(st.st_mode)
            info.mtime = mtime
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.pax_headers = _xattrs(full)
            key = (st.st_dev, st.st_ino)
            if stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
            elif stat.S_ISLNK(st.st_mode):
                info.type = tarfile.SYMTYPE
                info.linkname = os.readlink(full)
            elif stat.S_ISREG(st.st_mode) and st.st_nlink > 1 and key in inodes:
                info.type = tarfile.LNKTYPE
                info.linkname = inodes[key]
            elif stat.S_ISREG(st.st_mode):
                if st.st_nlink > 1:
                    inodes[key] = rel
                info.size = st.st_size
                with open(full, "rb") as handle:
                    tar.addfile(info, handle)
                continue
            elif stat.S_ISFIFO(st.st_mode):
                info.type = tarfile.FIFOTYPE
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                info.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
                info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            else:
                skipped.append(rel)  # a socket: tar has no entry type for it (GNU tar skips them too)
                continue
            tar.addfile(info)
    return skipped


def tree_tar(root: Path, dest: Path, first: list[str] | None = None) -> Path:
    """Write the deterministic tar of ``root`` to ``dest`` (atomically) and return ``dest``."""
    tmp = Path(f"{dest}.tmp{os.getpid()}")
    with open(tmp, "wb") as handle:
        skipped = write_tree_tar(root, handle, first)
    os.replace(tmp, dest)
    if skipped:
        progress.log(f"{root}: left out of the layer (a tar cannot hold sockets): {', '.join(skipped)}")
    return Path(dest)
