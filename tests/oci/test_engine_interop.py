"""A real ``docker save`` of an image built on the test engine → ``docker-archive:`` → our OCI layout in
gzip, zstd and FlashPack: validate + image-spec schemas, skopeo inspect, ``umoci unpack`` of the gzip
image and podman (pull ``oci:DIR:TAG`` of the FlashPack image, then create + export) give exactly the
filesystem ``docker export`` gives for a container of the original image."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile
import uuid
from pathlib import Path

import pytest

from falmigrate.oci.layout import Layout
from falmigrate.oci.transports import repack
from falmigrate.oci.validate import validate
from tests.oci.schemas import check_layout

# mount points and files the container runtimes add, not part of the image
RUNTIME_ONLY = {".dockerenv", "dev", "proc", "sys", "etc/hosts", "etc/hostname", "etc/resolv.conf", "run",
                "run/.containerenv", "etc/mtab"}
LONG = "deeply/" + "nested_directory_name/" * 5 + "f\u00fcr_\u00e9t\u00e9.txt"


def _run(*cmd: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), capture_output=True, timeout=timeout, check=False)


def _keep(rel: str) -> bool:
    return rel not in RUNTIME_ONLY and rel.split("/", 1)[0] not in {"dev", "proc", "sys"}


def _tar_snapshot(stream) -> dict:
    out = {}
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            rel = member.name.strip("/").removeprefix("./")
            if not rel or not _keep(rel):
                continue
            if member.isdir():
                out[rel] = ("dir", oct(member.mode & 0o7777))
            elif member.issym():
                out[rel] = ("symlink", member.linkname)
            elif member.islnk():
                out[rel] = out[member.linkname.strip("/")]
            elif member.isfile():
                out[rel] = ("file", oct(member.mode & 0o7777),
                            hashlib.sha256(tar.extractfile(member).read()).hexdigest())
    return out


def _dir_snapshot(root: Path) -> dict:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            if not _keep(rel):
                continue
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("symlink", os.readlink(full))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", oct(stat.S_IMODE(st.st_mode)))
            else:
                out[rel] = ("file", oct(stat.S_IMODE(st.st_mode)),
                            hashlib.sha256(Path(full).read_bytes()).hexdigest())
    return out


class _Chunks(io.RawIOBase):
    def __init__(self, chunks):
        self._chunks, self._buf = iter(chunks), b""

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self._buf:
            self._buf = next(self._chunks, None)
            if self._buf is None:
                self._buf = b""
                return 0
        n = min(len(b), len(self._buf))
        b[:n], self._buf = self._buf[:n], self._buf[n:]
        return n


@pytest.fixture(scope="module")
def built(docker_client, tiny_image, tmp_path_factory):
    """An image built on the engine from the tiny image (COPY of an awkward tree + a RUN that deletes a
    lower-layer file, i.e. a whiteout), its ``docker save`` archive and its ``docker export`` snapshot."""
    ctx = tmp_path_factory.mktemp("ctx")
    (ctx / "app" / os.path.dirname(LONG)).mkdir(parents=True)
    (ctx / "app" / LONG).write_text("long path\n")
    (ctx / "app" / "main.sh").write_text("#!/bin/sh\necho main\n")
    os.chmod(ctx / "app" / "main.sh", 0o755)
    (ctx / "app" / "empty").write_bytes(b"")
    (ctx / "app" / "blob.bin").write_bytes(os.urandom(700_000) + bytes(2_000_000))
    os.symlink("main.sh", ctx / "app" / "entry")
    (ctx / "Dockerfile").write_text(
        f"FROM {tiny_image}\nCOPY app/ /app/\n"
        "RUN rm /bin/arp && mkdir -p /data && echo built > /data/stamp && ln /app/main.sh /data/hard.sh\n")
    tag = f"falmigrate-oci-test/{uuid.uuid4().hex[:10]}:v1"
    image, _ = docker_client.images.build(path=str(ctx), tag=tag, rm=True, network_mode="none")
    archive = tmp_path_factory.mktemp("archive") / "image.tar"
    with open(archive, "wb") as out:
        out.writelines(image.save(named=True))
    container = docker_client.containers.create(tag, ["true"])
    try:
        expected = _tar_snapshot(io.BufferedReader(_Chunks(container.export())))
    finally:
        container.remove(force=True)
        docker_client.images.remove(tag, force=True)
    assert "bin/arp" not in expected and expected["data/stamp"][0] == "file" and LONG in {
        k.removeprefix("app/") for k in expected}
    return {"archive": archive, "expected": expected, "config_digest": image.id}


@pytest.fixture(scope="module")
def packed(built, tmp_path_factory):
    lay = tmp_path_factory.mktemp("oci") / "lay"
    results = {c: repack(f"docker-archive:{built['archive']}", f"oci:{lay}:{c}", c)
               for c in ("gzip", "zstd", "flashpack")}
    return lay, results


def test_layout_validates_and_keeps_the_engine_config(built, packed):
    lay, results = packed
    validate(lay)
    assert check_layout(lay) == 2 + 3 * 2
    layout = Layout(lay)
    for compression in results:
        image = layout.image(compression)
        assert str(image.manifest.config.digest) == built["config_digest"]  # config bytes kept: same image id
        assert len(image.layers) >= 2
    skopeo = _run("skopeo", "inspect", f"oci:{lay}:flashpack")
    assert skopeo.returncode == 0, skopeo.stderr
    assert json.loads(skopeo.stdout)["Layers"] == [layer["digest"]
                                                   for layer in results["flashpack"]["layers"]]


def test_umoci_unpacks_the_engine_filesystem(built, packed, tmp_path):
    lay, _ = packed
    unpack = _run("umoci", "unpack", "--rootless", "--image", f"{lay}:gzip", str(tmp_path / "bundle"))
    assert unpack.returncode == 0, unpack.stderr
    assert _dir_snapshot(tmp_path / "bundle" / "rootfs") == built["expected"]


def test_podman_reads_the_flashpack_layout(built, packed, tmp_path):
    lay, _ = packed
    runroot = Path(tempfile.mkdtemp(prefix="fmo-", dir="/tmp"))  # podman wants a short runroot path
    podman = ("podman", "--root", str(tmp_path / "podman"), "--runroot", str(runroot),
              "--storage-driver", "vfs")
    try:
        pulled = _run(*podman, "pull", "-q", f"oci:{lay}:flashpack")
        assert pulled.returncode == 0, pulled.stderr
        image_id = pulled.stdout.decode().strip().splitlines()[-1]
        inspect = _run(*podman, "image", "inspect", image_id)
        assert inspect.returncode == 0, inspect.stderr
        diff_ids = [str(d) for d in Layout(lay).image("flashpack").config.diff_ids]
        assert json.loads(inspect.stdout)[0]["RootFS"]["Layers"] == diff_ids
        created = _run(*podman, "create", image_id, "/bin/true")
        assert created.returncode == 0, created.stderr
        exported = _run(*podman, "export", created.stdout.decode().strip())
        assert exported.returncode == 0, exported.stderr
        assert _tar_snapshot(io.BytesIO(exported.stdout)) == built["expected"]
    finally:
        _run(*podman, "rm", "-a", "-f")
        _run(*podman, "rmi", "-a", "-f")
        shutil.rmtree(runroot, ignore_errors=True)
