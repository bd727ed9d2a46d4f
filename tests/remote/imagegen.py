"""Make test images without an engine: a one-layer OCI layout from a directory tree, recompressed by
skopeo to zstd:chunked (the reference implementation of the format) or gzip. Used by the partial-pull
tests and by bench/pull.py."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

MiB = 1 << 20


def make_tree(root: Path, *, files: int = 40, file_size: int = 5 * MiB, seed: int = 1) -> Path:
    """``files`` incompressible files of ``file_size`` bytes plus a small app/config.txt and a script."""
    import random

    rng = random.Random(seed)
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "app").mkdir(exist_ok=True)
    for i in range(files):
        (root / "data" / f"blob{i:03d}.bin").write_bytes(rng.randbytes(file_size))
    (root / "app" / "config.txt").write_text("version = 1\n" + "x = 1\n" * 2000)
    (root / "app" / "run.sh").write_text("#!/bin/sh\necho hello\n")
    os.chmod(root / "app" / "run.sh", 0o755)
    return root


def _tar_of(root: Path, prefix: str = "") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(root.rglob("*")):
            info = tar.gettarinfo(str(path), arcname=prefix + str(path.relative_to(root)))
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 1_700_000_000
            if path.is_file():
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
    return buf.getvalue()


def _put(layout: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return f"sha256:{digest}"


def layout_from_tree(root: Path, layout: Path, tag: str = "latest") -> Path:
    """An OCI layout with one uncompressed layer holding ``root``."""
    return layout_from_trees([root], layout, tag)


def layout_from_trees(roots: list[Path | tuple[Path, str]], layout: Path, tag: str = "latest") -> Path:
    """An OCI layout with one uncompressed layer per tree (lowest first); (tree,
    "dir/") puts it under dir/."""
    layers = []
    for root in roots:
        tree, prefix = root if isinstance(root, tuple) else (root, "")
        tar = _tar_of(tree, prefix)
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": _put(layout, tar),
                       "size": len(tar)})
        del tar
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/app/run.sh"]},
                         "rootfs": {"type": "layers", "diff_ids": [x["digest"] for x in layers]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": _put(layout, config), "size": len(config)},
                           "layers": layers}).encode()
    index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                                 "digest": _put(layout, manifest), "size": len(manifest),
                                                 "annotations": {"org.opencontainers.image.ref.name": tag}}]}
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (layout / "index.json").write_text(json.dumps(index))
    return layout


def recompress(src: Path, dest: Path, compression: str, tag: str = "latest") -> Path:
    subprocess.run(["skopeo", "copy", "-q", "--dest-compress-format", compression,
                    f"oci:{src}:{tag}", f"oci:{dest}:{tag}"], check=True, capture_output=True)
    return dest
