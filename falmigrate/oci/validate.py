"""The oracle of every image test: recheck an OCI layout from its bytes, report every problem.

``validate(path) -> dict`` walks index.json → manifests → config + layers, recomputes each blob's
digest and size, each layer's diff_id (decompressing by magic bytes: gzip, zstd or plain tar),
compares it to the config's ``rootfs.diff_ids``, and for zstd:chunked layers checks the footer, the
TOC checksum annotation, every chunk digest and every file digest. All problems are raised together as
ValidationFailed.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from pathlib import Path

import zstandard

from falmigrate.errors import FalmigrateError, ValidationFailed
from falmigrate.oci import mediatypes
from falmigrate.oci.compress import toc
from falmigrate.oci.layout import Layout

CHUNK = 1 << 20


def _sniff(head: bytes) -> str:
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    return "none"


def _diff_id(path: Path, kind: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as raw:
        stream: gzip.GzipFile | zstandard.ZstdDecompressionReader | io.BufferedReader
        if kind == "gzip":
            stream = gzip.GzipFile(fileobj=raw)
        elif kind == "zstd":
            stream = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        else:
            stream = raw
        while data := stream.read(CHUNK):
            h.update(data)
    return "sha256:" + h.hexdigest()


def _blob(layout: Layout, desc: dict, what: str, problems: list[str]) -> Path | None:
    path = layout.blob_path(desc.get("digest", ":"))
    if not path.is_file():
        problems.append(f"{what} {desc.get('digest')}: blob missing")
        return None
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        while data := handle.read(CHUNK):
            h.update(data)
    if "sha256:" + h.hexdigest() != desc["digest"]:
        problems.append(f"{what} {desc['digest']}: content digest is sha256:{h.hexdigest()}")
    if path.stat().st_size != desc.get("size"):
        problems.append(f"{what} {desc['digest']}: size {path.stat().st_size} != descriptor "
                        f"size {desc.get('size')}")
    return path


def _chunked(path: Path, desc: dict, problems: list[str]) -> None:
    """Footer ↔ annotations ↔ TOC, then every file's frames against its chunk and file digests."""
    notes = desc.get("annotations", {})
    size = path.stat().st_size
    announced = toc.position_from_annotations(notes, size)
    if announced is None:
        if any(k in notes for k in (mediatypes.ZSTD_CHUNKED_MANIFEST_CHECKSUM,
                                    mediatypes.ZSTD_CHUNKED_MANIFEST_CHECKSUM_OLD)):
            problems.append(f"layer {desc['digest']}: zstd:chunked annotations are missing or malformed")
        return
    where = f"layer {desc['digest']}"
    read = toc.file_reader(path)
    try:
        footer = toc.read_footer(read, size)
        if (footer.offset, footer.length, footer.uncompressed) != (
                announced.offset, announced.length, announced.uncompressed):
            problems.append(f"{where}: footer says the TOC is at {footer.offset}:{footer.length}:"
                            f"{footer.uncompressed}, the manifest-position annotation says "
                            f"{announced.offset}:{announced.length}:{announced.uncompressed}")
    except FalmigrateError as exc:
        problems.append(f"{where}: footer: {exc}")
    try:
        parsed = toc.read_toc(read, size, position=announced)
        files = list(toc.file_chunks(parsed["entries"]))
    except FalmigrateError as exc:
        problems.append(f"{where}: {exc}")
        return
    for entry, chunks in files:
        try:
            toc.verify_file(read, entry, chunks)
        except FalmigrateError as exc:
            problems.append(f"{where}: file {exc}")


def _manifest(layout: Layout, desc: dict, problems: list[str]) -> None:
    path = _blob(layout, desc, "manifest", problems)
    if path is None:
        return
    manifest = json.loads(path.read_bytes())
    cpath = _blob(layout, manifest["config"], "config", problems)
    config = json.loads(cpath.read_bytes()) if cpath else {}
    diff_ids = config.get("rootfs", {}).get("diff_ids", [])
    if len(diff_ids) != len(manifest["layers"]):
        problems.append(f"manifest {desc['digest']}: {len(manifest['layers'])} layers but "
                        f"{len(diff_ids)} diff_ids")
    for i, layer in enumerate(manifest["layers"]):
        lpath = _blob(layout, layer, "layer", problems)
        if lpath is None:
            continue
        with open(lpath, "rb") as handle:
            kind = _sniff(handle.read(4))
        if kind != mediatypes.compression_of(layer["mediaType"]):
            problems.append(f"layer {layer['digest']}: media type says "
                            f"{mediatypes.compression_of(layer['mediaType'])}, bytes are {kind}")
        try:
            actual = _diff_id(lpath, kind)
            if i < len(diff_ids) and diff_ids[i] != actual:
                problems.append(f"layer {layer['digest']}: diff_id is {actual}, config says {diff_ids[i]}")
        except (OSError, EOFError, zstandard.ZstdError) as exc:
            problems.append(f"layer {layer['digest']}: does not decompress: {exc}")
        _chunked(lpath, layer, problems)  # still run: it names the file and chunk that is broken


def validate(path: Path) -> dict:
    """Check the layout at ``path``; returns a report or raises ValidationFailed with every problem."""
    if not (Path(path) / "oci-layout").is_file() or not (Path(path) / "index.json").is_file():
        raise ValidationFailed([f"{path}: not an OCI image layout (oci-layout or index.json missing)"],
                               subject=str(path))
    layout = Layout(path)
    problems: list[str] = []
    manifests = layout.read_index().get("manifests", [])
    for desc in manifests:
        try:
            _manifest(layout, desc, problems)
        except (ValueError, KeyError) as exc:
            problems.append(f"manifest {desc.get('digest')}: malformed JSON: {exc}")
    if problems:
        raise ValidationFailed(problems, subject=str(path))
    return {"layout": str(path), "manifests": [m["digest"] for m in manifests], "ok": True}
