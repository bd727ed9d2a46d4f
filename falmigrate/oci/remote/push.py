"""Push an image (manifest or index) from a local OCI layout to a registry.

Blobs go first, in parallel threads (skipped when the registry has them, mounted from other
repositories of the same registry when we know one holds them, else uploaded), then manifests by
digest and finally the root manifest/index under its tag. Idempotent: a second push of the same image
sends nothing but the HEAD requests and the (already present) manifest. Repositories we pushed a blob
to are remembered in ``~/.cache/falmigrate/registry-blobs.json`` so the next push to another
repository of that registry mounts instead of uploading.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from falmigrate import progress
from falmigrate.errors import ImageError, IntegrityError
from falmigrate.oci.digest import Digest
from falmigrate.oci.layout import Layout
from falmigrate.oci.mediatypes import INDEX_TYPES, MANIFEST_TYPES
from falmigrate.oci.remote.client import RegistryClient, repo_scope
from falmigrate.oci.remote.reference import Reference
from falmigrate.oci.remote.stats import TransferStats
from falmigrate.oci.remote.upload import BlobUploader


@dataclass
class PushResult:
    reference: str  # registry/repo@digest
    digest: str
    media_type: str
    tag: str | None
    stats: TransferStats = field(default_factory=TransferStats)

    def report(self) -> dict:
        return {"reference": self.reference, "manifest_digest": self.digest, "media_type": self.media_type,
                "tag": self.tag, **self.stats.as_dict()}


def known_blobs_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "falmigrate" / "registry-blobs.json"


def _load_known() -> dict:
    try:
        known: dict = json.loads(known_blobs_path().read_text())
        return known
    except (OSError, ValueError):
        return {}


def _remember(registry: str, repository: str, digests: list[str]) -> None:
    known = _load_known()
    repos = known.setdefault(registry, {})
    for d in digests:
        entry = repos.setdefault(d, [])
        if repository not in entry:
            entry.append(repository)
            del entry[:-8]
    path = known_blobs_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        json.dump(known, handle)
    os.replace(tmp, path)


def _blobs_of(store: Layout, descriptor: dict) -> tuple[list[dict], list[tuple[dict, bytes]]]:
    """(blob descriptors, [(manifest descriptor, bytes)] children first) under ``descriptor``."""
    data = store.read_blob(descriptor["digest"])
    if str(Digest.of_bytes(data)) != descriptor["digest"]:
        raise IntegrityError(f"{store.path}: manifest {descriptor['digest']} does not match its bytes")
    doc = json.loads(data)
    media_type = doc.get("mediaType") or descriptor.get("mediaType")
    if media_type in INDEX_TYPES:
        blobs, manifests = [], []
        for child in doc.get("manifests", []):
            b, m = _blobs_of(store, child)
            blobs += b
            manifests += m
        return blobs, manifests + [({**descriptor, "mediaType": media_type}, data)]
    if media_type in MANIFEST_TYPES or "config" in doc:
        blobs = [doc["config"], *doc.get("layers", [])]
        return blobs, [({**descriptor, "mediaType": media_type or descriptor.get("mediaType")}, data)]
    raise ImageError(f"{descriptor['digest']}: unsupported manifest media type {media_type!r}")


def push_image(store: Layout, descriptor: dict, ref: Reference, client: RegistryClient, *,
               mount_from: tuple[str, ...] = (), jobs: int = 4, **uploader_options: Any) -> PushResult:
    """Push the manifest/index ``descriptor`` (and everything under it) from ``store`` to ``ref``."""
    blobs, manifests = _blobs_of(store, descriptor)
    unique = {b["digest"]: b for b in blobs}
    known = _load_known().get(ref.registry, {})
    stats = TransferStats()
    total = sum(b["size"] for b in unique.values())
    with progress.task(f"push {ref}", total) as bar:
        uploader = BlobUploader(client, ref.repository, stats, mount_from=tuple(mount_from),
                                on_progress=bar.advance, **uploader_options)

        def one(blob: dict) -> str:
            path = store.blob_path(blob["digest"])
            if not path.is_file():
                raise ImageError(f"{store.path}: blob {blob['digest']} is missing from the layout")
            return uploader.push(blob["digest"], blob["size"], lambda: open(path, "rb"),
                                 mount_from=tuple(known.get(blob["digest"], [])))

        with progress.ThreadPool(max_workers=max(1, jobs)) as pool:
            list(pool.map(one, sorted(unique.values(), key=lambda b: -b["size"])))
        scope = repo_scope(ref.repository, "pull,push")
        for index, (desc, data) in enumerate(manifests):
            last = index == len(manifests) - 1
            target = (ref.tag or desc["digest"]) if last else desc["digest"]
            resp = client.request("PUT", f"/v2/{ref.repository}/manifests/{target}", scope=scope,
                                  content=data, headers={"Content-Type": desc["mediaType"]}, ok=(201,),
                                  what=f"manifest {desc['digest']}")
            stats.add(bytes_sent=len(data))
            echoed = resp.headers.get("docker-content-digest")
            if echoed and echoed != desc["digest"]:
                raise IntegrityError(f"{ref.registry} stored manifest as {echoed}, expected {desc['digest']}")
    with contextlib.suppress(OSError):
        _remember(ref.registry, ref.repository, sorted(unique))
    root = manifests[-1][0]
    return PushResult(reference=f"{ref.name}@{root['digest']}", digest=root["digest"],
                      media_type=root["mediaType"], tag=ref.tag, stats=stats)


def push_layout(layout: Path, tag: str | None, ref: Reference, **client_options: Any) -> PushResult:
    """Push image ``tag`` of the OCI layout at ``layout`` to ``ref`` (``client_options`` → RegistryClient)."""
    if not (Path(layout) / "index.json").is_file():
        raise ImageError(f"{layout} is not an OCI image layout (no index.json)")
    source = Layout(Path(layout))  # read only: pushing adds nothing to the user's layout
    descriptor = source.resolve(tag)
    mount_from = tuple(client_options.pop("mount_from", ()))
    jobs = client_options.pop("jobs", 4)
    uploader_options = {k: client_options.pop(k) for k in ("chunk_size", "monolithic_limit")
                        if k in client_options}
    with RegistryClient(ref.api_host, **client_options) as client:
        return push_image(source, descriptor, ref, client, mount_from=mount_from, jobs=jobs,
                          **uploader_options)
