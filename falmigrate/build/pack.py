"""From the engine's docker-archive to an OCI image layout, and from there to a registry.

Packing uses the OCI area's ``oci.transports.repack`` (FlashPack/zstd/gzip, per-layout layer cache
keyed by diff_id, startup profile → prefetch order); this module adds the per-layer report (diff_id,
media type, reused). ``pack_archive_gzip`` is the stand-alone gzip packer written before repack
landed, kept as a fallback. Pushing goes through the registry area's ``oci.remote.push.push_layout``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from falmigrate import progress
from falmigrate.oci import mediatypes

CHUNK = 1 << 20
DIFF_MAP = "falmigrate-diffids.json"


@dataclass
class PackResult:
    digest: str
    layout: Path
    tag: str
    layers: list[dict] = field(default_factory=list)

    def report(self) -> dict:
        return {"digest": self.digest, "layout": str(self.layout), "layout_tag": self.tag, "layers": self.layers}


def pack_archive(archive: Path, *, layout: Path, tag: str, compression: str,
                 startup_profile: list[str] | None = None) -> PackResult:
    """Repack every layer with the OCI area's ``transports.repack`` (layer cache by diff_id)."""
    from falmigrate.oci.transports import repack

    blobs = layout / "blobs" / "sha256"
    before = {p.name for p in blobs.iterdir()} if blobs.is_dir() else set()
    result = repack(f"docker-archive:{archive}", f"oci:{layout}:{tag}", compression, startup_profile)
    manifest = json.loads((blobs / result["digest"].split(":", 1)[1]).read_bytes())
    config = json.loads((blobs / manifest["config"]["digest"].split(":", 1)[1]).read_bytes())
    diff_ids = config["rootfs"]["diff_ids"]
    layers = [{"digest": d["digest"], "size": d["size"], "media_type": d["mediaType"], "diff_id": diff_id,
               "annotations": d.get("annotations", {}), "reused": d["digest"].split(":", 1)[1] in before}
              for d, diff_id in zip(manifest["layers"], diff_ids, strict=True)]
    return PackResult(digest=result["digest"], layout=layout, tag=tag, layers=layers)


def pack_archive_gzip(archive: Path, *, layout: Path, tag: str) -> PackResult:
    """The stand-alone gzip packer (kept as a fallback; not used by the pipeline)."""
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    known = _load_map(layout)
    with tarfile.open(archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))[0]
        config_bytes = outer.extractfile(manifest["Config"]).read()
        layers = [_layer(outer, name, blobs, known) for name in manifest["Layers"]]
    _save_map(layout, known)
    config_digest = _write_blob(blobs, config_bytes)
    oci_manifest = {
        "schemaVersion": 2, "mediaType": mediatypes.OCI_MANIFEST,
        "config": {"mediaType": mediatypes.OCI_CONFIG, "digest": config_digest, "size": len(config_bytes)},
        "layers": [{"mediaType": mediatypes.OCI_LAYER_GZIP, "digest": layer["digest"], "size": layer["size"]}
                   for layer in layers],
    }
    manifest_bytes = json.dumps(oci_manifest, separators=(",", ":"), sort_keys=True).encode()
    digest = _write_blob(blobs, manifest_bytes)
    _tag(layout, tag, {"mediaType": mediatypes.OCI_MANIFEST, "digest": digest, "size": len(manifest_bytes)})
    return PackResult(digest=digest, layout=layout, tag=tag, layers=layers)


def _layer(outer: tarfile.TarFile, name: str, blobs: Path, known: dict) -> dict:
    member = outer.getmember(name)
    raw = outer.extractfile(member)
    fd, tmp = tempfile.mkstemp(dir=blobs, prefix=".layer-")
    diff = hashlib.sha256()
    with (progress.task(f"packing {name}", member.size) as bar, os.fdopen(fd, "wb") as out,
          gzip.GzipFile(fileobj=out, mode="wb", mtime=0, compresslevel=6) as gz):
        while chunk := raw.read(CHUNK):
            diff.update(chunk)
            gz.write(chunk)
            bar.advance(len(chunk))
    diff_id = f"sha256:{diff.hexdigest()}"
    if diff_id in known and (blobs / known[diff_id].split(":", 1)[1]).is_file():
        os.unlink(tmp)
        digest = known[diff_id]
        return {"digest": digest, "diff_id": diff_id, "size": (blobs / digest.split(":", 1)[1]).stat().st_size,
                "media_type": mediatypes.OCI_LAYER_GZIP, "reused": True}
    digest = f"sha256:{_hash_file(Path(tmp))}"
    os.replace(tmp, blobs / digest.split(":", 1)[1])
    known[diff_id] = digest
    return {"digest": digest, "diff_id": diff_id, "size": (blobs / digest.split(":", 1)[1]).stat().st_size,
            "media_type": mediatypes.OCI_LAYER_GZIP, "reused": False}


def _hash_file(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def _write_blob(blobs: Path, data: bytes) -> str:
    hexdigest = hashlib.sha256(data).hexdigest()
    _atomic(blobs / hexdigest, data)
    return f"sha256:{hexdigest}"


def _atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _load_map(layout: Path) -> dict:
    path = layout / DIFF_MAP
    return json.loads(path.read_text()) if path.is_file() else {}


def _save_map(layout: Path, known: dict) -> None:
    _atomic(layout / DIFF_MAP, json.dumps(known, sort_keys=True, indent=1).encode())


def _tag(layout: Path, tag: str, descriptor: dict) -> None:
    path = layout / "index.json"
    index = json.loads(path.read_text()) if path.is_file() else {"schemaVersion": 2, "manifests": []}
    index["mediaType"] = mediatypes.OCI_INDEX
    kept = [m for m in index["manifests"]
            if (m.get("annotations") or {}).get("org.opencontainers.image.ref.name") != tag]
    kept.append({**descriptor, "annotations": {"org.opencontainers.image.ref.name": tag}})
    index["manifests"] = kept
    _atomic(path, json.dumps(index, sort_keys=True, indent=1).encode())


def push_layout(layout: Path, packed: PackResult, reference: str, *, insecure: bool = False) -> dict:
    from falmigrate.oci.remote import push as push_mod
    from falmigrate.oci.remote import reference as reference_mod

    ref = reference_mod.parse(reference)
    options = {"insecure": True} if insecure else {}
    result = push_mod.push_layout(layout, packed.tag, ref, **options)
    report = result.report()
    report["digest"] = result.digest
    return report
