"""Layers given as tar streams, applied to a ``unpack.Rootfs`` (which checks every entry).

``apply_tar(rootfs, stream)`` reads one layer — gzip, zstd (zstd:chunked and FlashPack included) or
plain, sniffed from the magic bytes; members parsed by ``tarstream.members`` — with every member read
here, in stream order, and (``jobs`` > 1) created by the rootfs's worker threads: small regular files
are read whole and handed over, larger ones piece by piece; ``unpack_layers(paths, target)`` applies
layer blobs in manifest order.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import io
import tarfile
from pathlib import Path
from typing import BinaryIO, cast

from falmigrate.errors import ImageError
from falmigrate.oci.tarstream import Content, ReadAhead, members, open_decompressed
from falmigrate.oci.unpack import PARALLEL_FILE_LIMIT, Entry, Rootfs

_TAR_TYPES = {tarfile.REGTYPE: "reg", tarfile.AREGTYPE: "reg", tarfile.CONTTYPE: "reg",
              tarfile.DIRTYPE: "dir",
              tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink", tarfile.CHRTYPE: "char",
              tarfile.BLKTYPE: "block", tarfile.FIFOTYPE: "fifo"}


def apply_tar(rootfs: Rootfs, handle: BinaryIO) -> None:
    """Apply one layer given as a (possibly compressed) tar stream; ImageError if it is not one."""
    import zlib

    import zstandard

    try:
        _apply_tar(rootfs, handle)
    except (tarfile.TarError, zstandard.ZstdError, gzip.BadGzipFile, zlib.error, EOFError) as exc:
        raise ImageError(f"layer {rootfs.layer}: not a readable (compressed) tar: {exc}") from None


def _apply_tar(rootfs: Rootfs, handle: BinaryIO) -> None:
    stream = open_decompressed(handle)
    if rootfs.parallel:
        stream = io.BufferedReader(ReadAhead(stream), 1 << 20)
    with contextlib.closing(stream):
        for member, content in members(stream):
            kind = _TAR_TYPES.get(member.type)
            if kind is None:
                raise rootfs._refuse(member.name, f"unsupported tar member type {member.type!r}")
            entry = Entry(name=member.name, type=kind, mode=member.mode, uid=member.uid, gid=member.gid,
                          mtime=float(member.mtime), linkname=member.linkname,
                          devmajor=member.devmajor, devminor=member.devminor)
            if content is None or rootfs.written_ahead(member.name):
                rootfs.apply(entry)  # a regular file written ahead is skipped without reading its bytes
            elif rootfs.parallel and member.size <= PARALLEL_FILE_LIMIT:
                # read here, in stream order; a worker thread creates and writes the file
                rootfs.apply(entry, functools.partial(io.BytesIO, content.read()), parallel=True,
                             size=member.size)
            else:
                rootfs.apply(entry, functools.partial(_itself, content))


def _itself(content: Content | BinaryIO) -> BinaryIO:
    """The member's reader as the rootfs's content opener wants it (it only reads and closes it)."""
    return cast(BinaryIO, content)


def unpack_layers(layers: list[Path], target: Path, *, allow_devices: bool = False, jobs: int = 1) -> Path:
    """Apply layer blobs (paths, in manifest order) to ``target``; returns the target."""
    rootfs = Rootfs(target, allow_devices=allow_devices, jobs=jobs)
    try:
        for number, path in enumerate(layers):
            rootfs.begin_layer(f"{number} ({Path(path).name[:19]})", number)
            with open(path, "rb") as handle:
                apply_tar(rootfs, handle)
    finally:
        rootfs.close()
    return target
