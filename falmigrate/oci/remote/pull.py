"""Pull an image from a registry into the local store, and optionally unpack it into a rootfs.

Manifests are fetched with every media type we read in ``Accept``; an index is narrowed to one
platform. Blobs are verified while they stream into the store (temp file + rename: a killed pull
leaves no bad blob, a rerun continues). With ``to=DIR`` the layers are unpacked safely; FlashPack /
zstd:chunked layers are pulled partially (TOC + only the files the store lacks) when the registry
honours range requests — only the files, and of big files only the chunks, that the store lacks —
other layers are downloaded whole. Without ``to`` every blob is fetched so
the store holds a complete OCI layout tagged with the reference.
"""

from __future__ import annotations

import json
import platform as platform_mod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from falmigrate import progress
from falmigrate.errors import ImageError, IntegrityError, RegistryError
from falmigrate.oci.digest import Digest
from falmigrate.oci.mediatypes import INDEX_TYPES, MANIFEST_ACCEPT
from falmigrate.oci.remote import chunked, localindex
from falmigrate.oci.remote.client import RegistryClient, repo_scope
from falmigrate.oci.remote.reference import Reference
from falmigrate.oci.remote.stats import TransferStats
from falmigrate.oci.remote.store import Store
from falmigrate.oci.unpack import Rootfs, apply_tar

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


@dataclass
class PullResult:
    reference: str
    digest: str
    manifest: dict
    layers: list[dict] = field(default_factory=list)  # digest, mode: partial|full|cached
    stats: TransferStats = field(default_factory=TransferStats)
    rootfs: str | None = None

    def report(self) -> dict:
        return {"reference": self.reference, "manifest_digest": self.digest, "rootfs": self.rootfs,
                "layers": self.layers, **self.stats.as_dict()}


def default_platform() -> str:
    return f"linux/{_ARCH.get(platform_mod.machine().lower(), platform_mod.machine().lower())}"


def get_manifest(client: RegistryClient, repo: str, reference: str, stats: TransferStats) -> tuple[bytes, str, str]:
    """(bytes, media type, digest) of a manifest, checked against a pinned digest."""
    resp = client.request("GET", f"/v2/{repo}/manifests/{reference}", scope=repo_scope(repo),
                          headers={"Accept": MANIFEST_ACCEPT}, what=f"manifest {repo}:{reference}")
    data = resp.content
    stats.add(bytes_fetched=len(data))
    digest = str(Digest.of_bytes(data))
    if reference.startswith("sha256:") and digest != reference:
        raise IntegrityError(f"manifest {repo}@{reference}: registry sent bytes with digest {digest}")
    echoed = resp.headers.get("docker-content-digest")
    if echoed and echoed.startswith("sha256:") and echoed != digest:
        raise IntegrityError(f"manifest {repo}:{reference}: header says {echoed}, bytes are {digest}")
    try:
        media_type = json.loads(data).get("mediaType") or resp.headers.get("content-type", "").split(";")[0]
    except ValueError:
        raise ImageError(f"manifest {repo}:{reference} is not JSON") from None
    return data, media_type, digest


def _choose(index: dict, wanted: str) -> dict:
    os_name, _, rest = wanted.partition("/")
    arch, _, variant = rest.partition("/")
    for m in index.get("manifests", []):
        p = m.get("platform") or {}
        if p.get("os") == os_name and p.get("architecture") == arch and (not variant or p.get("variant") == variant):
            return m
    found = sorted(f"{(m.get('platform') or {}).get('os')}/{(m.get('platform') or {}).get('architecture')}"
                   for m in index.get("manifests", []))
    raise ImageError(f"no {wanted} image in the index (it has: {', '.join(found) or 'nothing'})")


def fetch_blob(client: RegistryClient, repo: str, desc: dict, store: Store, stats: TransferStats,
               on_progress=lambda n: None, attempts: int = 3) -> Path:
    """Download a blob into the store, verified while streaming; retried on truncation/corruption."""
    digest = desc["digest"]
    if store.has_blob(digest):
        stats.add(bytes_reused=desc.get("size", 0))
        return store.blob_path(digest)
    for attempt in range(attempts):
        resp = client.request("GET", f"/v2/{repo}/blobs/{digest}", scope=repo_scope(repo), stream=True,
                              what=f"blob {digest}")
        try:
            def chunks(resp=resp):
                for chunk in resp.iter_bytes(1 << 20):
                    stats.add(bytes_fetched=len(chunk))
                    on_progress(len(chunk))
                    yield chunk
            path = store.write_blob(digest, chunks(), desc.get("size"))
            stats.add(blobs_fetched=1)
            return path
        except (IntegrityError, httpx.TransportError) as exc:
            if attempt == attempts - 1:
                if isinstance(exc, IntegrityError):
                    raise
                raise RegistryError(f"blob {digest}: transfer failed ({type(exc).__name__}) "
                                    f"after {attempts} attempts") from None
            progress.log(f"retrying blob {digest[:19]}: {exc}")
        finally:
            resp.close()
    raise AssertionError("unreachable")


def _resolve(client: RegistryClient, ref: Reference, store: Store, stats: TransferStats,
             platform: str | None) -> tuple[dict, dict, str]:
    """(root descriptor, image manifest, image manifest digest); manifests stored as blobs."""
    data, media_type, digest = get_manifest(client, ref.repository, ref.reference, stats)
    store.write_blob(digest, [data], len(data))
    root = {"mediaType": media_type, "digest": digest, "size": len(data)}
    doc = json.loads(data)
    if media_type in INDEX_TYPES or "manifests" in doc:
        chosen = _choose(doc, platform or default_platform())
        data, media_type, digest = get_manifest(client, ref.repository, chosen["digest"], stats)
        store.write_blob(digest, [data], len(data))
        doc = json.loads(data)
    if "config" not in doc:
        raise ImageError(f"{ref}: manifest {digest} has no config (media type {media_type!r})")
    return root, doc, digest


def pull(ref: Reference, store: Store, client: RegistryClient, *, to: Path | None = None,
         platform: str | None = None, partial: bool = True, jobs: int = 4, allow_devices: bool = False) -> PullResult:
    stats = TransferStats()
    root, manifest, _ = _resolve(client, ref, store, stats, platform)
    repo = ref.repository
    fetch_blob(client, repo, manifest["config"], store, stats)
    layers = manifest.get("layers", [])
    result = PullResult(reference=f"{ref.name}@{root['digest']}", digest=root["digest"], manifest=manifest, stats=stats)
    plans: dict[str, object] = {}
    local = localindex.sources(store) if to is not None and partial else localindex.LocalIndex()
    with progress.task(f"pull {ref}", sum(layer.get("size", 0) for layer in layers)) as bar:
        def one(layer: dict):
            pos = chunked.toc_position(layer) if to is not None and partial else None
            if pos is not None and not store.has_blob(layer["digest"]):
                try:
                    entries = chunked.read_toc(client, repo, layer, pos, store, stats)
                    work = chunked.plan(entries, store, local)
                    if work.fetch_bytes * 2 < layer.get("size", 0):
                        chunked.fetch_files(client, repo, layer, work, store, stats, bar.advance, jobs, local)
                        localindex.remember(store, layer["digest"], pos.checksum)  # its chunks, for next time
                        return ("partial", entries)
                except chunked.NoRangeSupport:
                    progress.log(f"{ref.registry} ignores range requests: downloading whole layers")
                    pos = None
            cached = store.has_blob(layer["digest"])
            fetch_blob(client, repo, layer, store, stats, bar.advance)
            if pos is not None and store.has_file(pos.checksum):
                localindex.remember(store, layer["digest"], pos.checksum)  # cold layer: whole blob, TOC kept
            return ("cached" if cached else "full", None)

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            for layer, outcome in zip(layers, pool.map(one, layers)):
                plans[layer["digest"]] = outcome
                result.layers.append({"digest": layer["digest"], "size": layer.get("size"), "mode": outcome[0]})
    if to is None:
        store.tag(ref.tag or root["digest"], root)
    else:
        rootfs = Rootfs(Path(to), allow_devices=allow_devices, jobs=jobs)
        for number, layer in enumerate(layers):
            rootfs.begin_layer(f"{number} ({layer['digest'][:19]})")
            mode, entries = plans[layer["digest"]]
            if mode == "partial":
                chunked.apply_toc(rootfs, entries, store, local)
            else:
                with open(store.blob_path(layer["digest"]), "rb") as handle:
                    apply_tar(rootfs, handle)
        rootfs.close()
        result.rootfs = str(to)
    return result


def pull_reference(ref: Reference, store_dir: Path, *, to: Path | None = None, platform: str | None = None,
                   partial: bool = True, **client_options) -> PullResult:
    with RegistryClient(ref.api_host, **client_options) as client:
        return pull(ref, Store(store_dir), client, to=to, platform=platform, partial=partial)
