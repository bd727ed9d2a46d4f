"""From the engine's docker-archive to an OCI image layout, and from there to a registry.

Packing uses the OCI area's ``oci.transports.repack`` (FlashPack/zstd/gzip, per-layout layer cache
keyed by diff_id, startup profile → prefetch order); this module adds the per-layer report (diff_id,
media type, reused). Pushing goes through the registry area's ``oci.remote.push.push_layout``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class PackResult:
    digest: str
    layout: Path
    tag: str
    layers: list[dict] = field(default_factory=list)

    def report(self) -> dict:
        return {"digest": self.digest, "layout": str(self.layout), "layout_tag": self.tag,
                "layers": self.layers}


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


def push_layout(layout: Path, packed: PackResult, reference: str, *, insecure: bool = False,
                ca: Path | None = None) -> dict:
    """Push; the report says (``authenticated``) whether the Docker config holds credentials for the
    registry, i.e. whether pulling the image back (fal, at deploy time) will need them too."""
    from falmigrate.oci.remote import auth
    from falmigrate.oci.remote import push as push_mod
    from falmigrate.oci.remote import reference as reference_mod

    ref = reference_mod.parse(reference)
    options: dict = {"insecure": True} if insecure else {}
    if ca is not None:
        options["ca"] = str(ca)
    result = push_mod.push_layout(layout, packed.tag, ref, **options)
    report = result.report()
    report["digest"] = result.digest
    report["authenticated"] = auth.from_docker_config(ref.registry) is not None
    return report
