"""Which files the local store can produce without the network.

A cold FlashPack layer (most of its bytes missing locally) is downloaded whole: one sequential
transfer and one tar unpack beat thousands of range requests and a second copy of every file. Its
verified TOC is remembered here, so a later partial pull of another layer finds a file by content
digest either in ``files/`` (fetched by an earlier partial pull) or as a byte range of a stored
blob (decompressed locally). Only what neither holds is fetched from the registry.
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import zstandard

from falmigrate.errors import IntegrityError
from falmigrate.oci.remote.store import Store, _atomic_write

INDEX = "chunked-layers.json"


@dataclass(frozen=True)
class Source:
    blob: Path
    offset: int
    end: int
    size: int


def remember(store: Store, layer_digest: str, toc_checksum: str) -> None:
    """Record that ``layer_digest`` (a stored blob) has the TOC stored as file ``toc_checksum``."""
    with store._locked():
        path = store.root / INDEX
        known = json.loads(path.read_text()) if path.is_file() else {}
        known[layer_digest] = toc_checksum
        _atomic_write(path, json.dumps(known, sort_keys=True).encode())


def sources(store: Store) -> dict[str, Source]:
    """content digest → where in a stored blob its compressed frames are."""
    path = store.root / INDEX
    if not path.is_file():
        return {}
    found: dict[str, Source] = {}
    for layer, checksum in json.loads(path.read_text()).items():
        blob = store.blob_path(layer)
        if not blob.is_file() or not store.has_file(checksum):
            continue
        try:
            raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(store.file_path(checksum).read_bytes())).read()
            entries = json.loads(raw)["entries"]
        except (zstandard.ZstdError, ValueError, KeyError):
            continue
        for e in entries:
            if e.get("type") == "reg" and e.get("digest") and e.get("size") and "endOffset" in e:
                found.setdefault(e["digest"], Source(blob, e["offset"], e["endOffset"], e["size"]))
    return found


def _open_local(source: Source, digest: str) -> BinaryIO:
    with source.blob.open("rb") as handle:
        handle.seek(source.offset)
        piece = handle.read(source.end - source.offset)
    content = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(piece), read_across_frames=True).read()
    if len(content) != source.size:
        raise IntegrityError(f"stored blob {source.blob.name}: file {digest} decompressed to {len(content)} bytes")
    return io.BytesIO(content)


def opener(store: Store, local: dict[str, Source], digest: str) -> Callable[[], BinaryIO]:
    """How to read the content ``digest``: from files/ or from a stored blob's range."""
    path = store.file_path(digest)
    if path.is_file() or digest not in local:
        return functools.partial(path.open, "rb")
    return functools.partial(_open_local, local[digest], digest)
