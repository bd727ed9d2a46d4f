"""Layer compressors: an uncompressed layer tar → (blob file, digest, size, media type, annotations).

``compress_tar(tar_path, dest, compression)`` with compression ``gzip`` (deterministic: mtime 0,
no file name), ``zstd`` (one multi-threaded stream) or ``flashpack`` (zstd:chunked compatible, see
``zstd_chunked``). Streaming: the tar is read in 1 MiB pieces, never held whole in memory.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import zstandard

from falmigrate.errors import UsageError
from falmigrate.oci import mediatypes

CHUNK = 1 << 20
COMPRESSIONS = ("flashpack", "zstd", "gzip")


@dataclass(frozen=True)
class Compressed:
    path: Path
    digest: str
    size: int
    diff_id: str
    media_type: str
    annotations: dict[str, str] = field(default_factory=dict)


def _sha(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while data := handle.read(CHUNK):
            h.update(data)
            size += len(data)
    return "sha256:" + h.hexdigest(), size


def compress_tar(tar_path: Path, dest: Path, compression: str, *,
                 prefetch: list[str] | None = None) -> Compressed:
    """Compress ``tar_path`` into ``dest``; returns digests, size, media type and annotations."""
    if compression == "flashpack":
        from falmigrate.oci.compress import zstd_chunked

        done = zstd_chunked.encode(tar_path, dest, prefetch=prefetch)  # hashes tar and blob on the way
        return Compressed(Path(dest), done.digest, done.size, done.diff_id, mediatypes.OCI_LAYER_ZSTD,
                          done.annotations)
    diff_id, _ = _sha(tar_path)
    if compression == "gzip":
        with open(tar_path, "rb") as src, open(dest, "wb") as raw, \
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz:
            while data := src.read(CHUNK):
                gz.write(data)
        media = mediatypes.OCI_LAYER_GZIP
    elif compression == "zstd":
        cctx = zstandard.ZstdCompressor(level=3, threads=os.cpu_count() or 1)
        with open(tar_path, "rb") as src, open(dest, "wb") as out:
            cctx.copy_stream(src, out, size=os.path.getsize(tar_path))
        media = mediatypes.OCI_LAYER_ZSTD
    else:
        raise UsageError(f"unknown compression {compression!r}", hint="use flashpack, zstd or gzip")
    digest, size = _sha(dest)
    return Compressed(Path(dest), digest, size, diff_id, media)
