"""The two GPU-stack images of bench/gpu_stack.py, made through our own packer, and the pack measurements.

Route: ``pack`` (not ``falmigrate build``): the stack is installed on this machine with ``pip install
--target`` (the image's Python is the same 3.11), the base layer is the engine's base image
(``docker-daemon:``), the stack and app layers are ``dir-tree`` layers. The engine's vfs driver copies
the whole rootfs for every build step, which makes a multi-GB stack build take longer than the
benchmark itself; the layers are the same either way.

- A: base, ``/opt/gpu/site-packages`` with the stack, a small app.
- B: base, an extra dependency layer (``six`` in ``/opt/tools``), the stack installed together with
  ``packaging`` (one more package in the same layer, so its tar and digest differ while the stack's
  files are the same bytes), another small app. Only the base layer digest is shared with A.
"""

from __future__ import annotations

import functools
import hashlib
import os
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from falmigrate.oci.compress import compress_tar
from falmigrate.oci.compress import toc as toclib
from falmigrate.oci.layout import Layout, stored_layer
from falmigrate.oci.objects import Image, ImageConfig
from falmigrate.oci.tarwriter import tree_tar
from falmigrate.oci.transports import repack

SITE = "opt/gpu/site-packages"
STACKS = {"small": ["numpy", "nvidia-cuda-runtime", "nvidia-cublas"], "torch": ["torch"]}
STARTUP = {  # what a worker does first: the startup profile is recorded from this, in the image
    "small": ("import ctypes, glob, numpy; numpy.ones(8).sum(); "
              f"ctypes.CDLL(sorted(glob.glob('/{SITE}/nvidia/*/lib/libcudart.so.*'))[0])"),
    "torch": "import torch; torch.ones(8).sum()",
}


def cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(*cmd: str, env: dict | None = None) -> str:
    return subprocess.run(list(cmd), check=True, capture_output=True, text=True, env=env).stdout


def install(dest: Path, packages: list[str]) -> None:
    """pip install into ``dest``; byte code compiled hash-based, because the layer tar's normalised mtimes
    would make pip's timestamp-based .pyc files stale (Python would recompile every module at start)."""
    run(sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-compile",
        "--target", str(dest), *packages)
    # not checked: a few packages ship .py files that are not meant to compile (templates, other versions)
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode",
                    "unchecked-hash", str(dest)], check=False, capture_output=True)


def trees(work: Path, size: str) -> dict[str, Path]:
    """The layer trees: stack (A), tools + stack_b (B), apps. B's stack is a hard-linked copy of A's
    (identical bytes) with ``packaging`` installed into it."""
    stack, stack_b, tools = work / "stack", work / "stack_b", work / "tools"
    install(stack / SITE, STACKS[size])
    run("cp", "-al", str(stack), str(stack_b))
    install(work / "packaging", ["packaging"])
    for item in (work / "packaging").iterdir():
        if item.name != "bin":
            run("cp", "-a", str(item), str(stack_b / SITE))
    install(tools / "opt/tools", ["six"])
    apps = {}
    for name in ("a", "b"):
        app = work / f"app_{name}"
        (app / "app").mkdir(parents=True)
        (app / "app" / "main.py").write_text(f"import numpy\nprint('{name}', numpy.__version__)\n")
        apps[f"app_{name}"] = app
    return {"stack": stack, "stack_b": stack_b, "tools": tools, **apps}


@dataclass
class Packed:
    seconds: float
    cpu_seconds: float
    tar_bytes: int
    blob_bytes: int
    blob: Path


def _config(base: Image, diff_ids: list[str]) -> ImageConfig:
    data = base.config.to_dict()
    runtime = dict(data.get("config") or {})
    env = [e for e in runtime.get("Env", []) if not e.startswith("PYTHONPATH=")]
    runtime["Env"] = [*env, f"PYTHONPATH=/{SITE}:/opt/tools"]
    runtime["Cmd"] = ["python3", "/app/main.py"]
    data["config"] = runtime
    data["rootfs"] = {"type": "layers", "diff_ids": [*(str(d) for d in base.config.diff_ids), *diff_ids]}
    data.pop("history", None)
    return ImageConfig.from_dict(data)


def compose(layout: Path, base_layout: Path, layer_trees: list[Path], compression: str,
            prefetch: list[str] | None,
            scratch: Path, timed: Path | None = None) -> tuple[str, Packed | None]:
    """Write image ``latest`` = base layers + one layer per tree into ``layout``; returns (manifest digest,
    the pack measurement of the ``timed`` tree's layer)."""
    base = Layout(base_layout).image("latest")
    out = Layout(layout)
    layers = []
    for layer in base.layers:
        if not out.blob_path(layer.digest).exists():
            os.link(base_layout / "blobs" / "sha256" / str(layer.digest).split(":")[1],
                    out.blob_path(layer.digest))
        layers.append(layer)
    measured = None
    for tree in layer_trees:
        tar = tree_tar(tree, scratch / "layer.tar")
        start, cpu = time.monotonic(), cpu_self()
        done = compress_tar(tar, scratch / "layer.blob", compression, prefetch=prefetch)
        if tree == timed:
            measured = Packed(time.monotonic() - start, cpu_self() - cpu, tar.stat().st_size,
                              done.size, done.path)
            os.link(done.path, scratch / "timed.blob")  # stays when the layout takes the blob
            os.replace(tar, scratch / "timed.tar")
        else:
            tar.unlink()
        layers.append(stored_layer(out, done))
    image = Image.build(_config(base, [str(layer.diff_id) for layer in layers[len(base.layers):]]), layers)
    return str(out.write_image(image, "latest").digest), measured


def pack_layer(tree: Path, scratch: Path) -> Packed:
    """The tree as one FlashPack layer (no image around it), timed: ``timed.tar`` / ``timed.blob``."""
    tar = tree_tar(tree, scratch / "timed.tar")
    start, cpu = time.monotonic(), cpu_self()
    done = compress_tar(tar, scratch / "timed.blob", "flashpack")
    return Packed(time.monotonic() - start, cpu_self() - cpu, tar.stat().st_size, done.size, done.path)


def base_gzip(work: Path, base_image: str) -> Path:
    """The engine's base image as a gzip layout (what docker and the profile run use)."""
    gz = work / "base-gz"
    repack(f"docker-daemon:{base_image}", f"oci:{gz}:latest", "gzip")
    return gz


def base_flashpack(work: Path, prefetch: list[str]) -> Path:
    fp = work / "base-fp"
    repack(f"oci:{work / 'base-gz'}:latest", f"oci:{fp}:latest", "flashpack", prefetch)
    return fp


def pack_measurements(packed: Packed, tar: Path, blob: Path, scratch: Path) -> dict:
    """Our pack of the stack layer against ``zstd -T0 -3`` (CPU), the format's floor, skopeo zstd:chunked."""
    start, cpu = time.monotonic(), cpu_children()
    run("zstd", "-q", "-T0", "-3", "-f", str(tar), "-o", "/dev/null")
    zstd_s, zstd_cpu = time.monotonic() - start, cpu_children() - cpu
    floor = _floor(tar, blob, zstd_cpu)
    plain = scratch / "plain"
    digest = _plain_layout(plain, tar)
    start, cpu = time.monotonic(), cpu_children()
    run("skopeo", "copy", "-q", "--dest-compress-format", "zstd:chunked", f"oci:{plain}:x",
        f"oci:{scratch / 'sk'}:x")
    skopeo_s, skopeo_cpu = time.monotonic() - start, cpu_children() - cpu
    shutil.rmtree(scratch / "sk", ignore_errors=True)
    shutil.rmtree(plain, ignore_errors=True)
    return {
        "tar_bytes": packed.tar_bytes, "flashpack_bytes": packed.blob_bytes, "layer_diff_id": digest,
        "flashpack_seconds": round(packed.seconds, 2), "flashpack_cpu_seconds": round(packed.cpu_seconds, 2),
        "zstd_seconds": round(zstd_s, 2), "zstd_cpu_seconds": round(zstd_cpu, 2),
        "skopeo_zstd_chunked_seconds": round(skopeo_s, 2), "skopeo_cpu_seconds": round(skopeo_cpu, 2),
        "floor": floor,
        "pack_cpu_vs_zstd": round(packed.cpu_seconds / zstd_cpu, 2),
        "pack_cpu_vs_floor": round(packed.cpu_seconds / floor["cpu_seconds"], 2),
        "pack_time_vs_skopeo": round(packed.seconds / skopeo_s, 3),
    }


def _plain_layout(layout: Path, tar: Path) -> str:
    """A layout whose one layer is the uncompressed tar (hard-linked), for skopeo to recompress."""
    from falmigrate.oci.digest import Digest
    from falmigrate.oci.objects import Descriptor, Layer

    out = Layout(layout)
    with open(tar, "rb") as handle:
        digest = "sha256:" + hashlib.file_digest(handle, "sha256").hexdigest()
    if not out.blob_path(digest).exists():
        os.link(tar, out.blob_path(digest))
    desc = Descriptor("application/vnd.oci.image.layer.v1.tar", Digest.parse(digest), tar.stat().st_size)
    layer = Layer(desc, Digest.parse(digest), functools.partial(open, tar, "rb"))
    out.write_image(Image.build(ImageConfig.new([digest]), [layer]), "x")
    return digest


def _floor(tar: Path, blob: Path, zstd_cpu: float) -> dict:
    """The CPU the format itself needs on this machine: SHA-256 of the tar (diff_id), of the blob, of every
    file and of every non-zero chunk of a chunked file (measured rate × bytes), plus zstd of the tar."""
    start = cpu_self()
    with open(tar, "rb") as handle:
        hashlib.file_digest(handle, "sha256")
    rate = tar.stat().st_size / max(cpu_self() - start, 1e-6)
    entries = toclib.read_toc(toclib.file_reader(blob), blob.stat().st_size)["entries"]
    files = sum(e.get("size", 0) for e in entries if e.get("type") == "reg")
    chunked = sum(c.size for e, chunks in toclib.file_chunks(entries) if len(chunks) > 1
                  for c in chunks if not c.zeros)
    hashed = tar.stat().st_size + blob.stat().st_size + files + chunked
    sha_cpu = hashed / rate
    return {"sha256_bytes": hashed, "sha256_gb_per_cpu_second": round(rate / 1e9, 2),
            "sha256_cpu_seconds": round(sha_cpu, 2), "cpu_seconds": round(sha_cpu + zstd_cpu, 2)}
