"""Third-party clients read what we push: skopeo and podman (FlashPack/zstd:chunked), the Docker engine
(gzip variant: engine 20.10 reads no zstd) and umoci (gzip copies)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from falmigrate.oci.remote import reference
from falmigrate.oci.remote.pull import pull_reference
from falmigrate.oci.remote.push import push_layout
from tests.remote.conftest import manifest_of
from tests.remote.test_push_pull import _tree


def _run(*cmd: str, timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, check=False)


def test_skopeo_and_podman_read_our_flashpack_push(registry, chunked_layout, repo, tmp_path) -> None:
    pushed = push_layout(chunked_layout, "latest", reference.parse(f"{registry}/{repo}:fp"))
    copy = _run("skopeo", "copy", "--src-tls-verify=false", f"docker://{registry}/{repo}:fp",
                f"oci:{tmp_path / 'copy'}:x")
    assert copy.returncode == 0, copy.stderr
    copied = manifest_of(tmp_path / "copy")
    assert ([layer["digest"] for layer in copied["layers"]]
            == [layer["digest"] for layer in manifest_of(chunked_layout)["layers"]])
    runroot = Path(tempfile.mkdtemp(prefix="fmp-", dir="/tmp"))  # podman wants a runroot path < 50 chars
    podman = ("podman", "--root", str(tmp_path / "podman"), "--runroot", str(runroot),
              "--storage-driver", "vfs")
    pulled = _run(*podman, "pull", "--tls-verify=false", f"{registry}/{repo}:fp")
    assert pulled.returncode == 0, pulled.stderr
    inspect = _run(*podman, "image", "inspect", f"{registry}/{repo}:fp")
    assert inspect.returncode == 0, inspect.stderr
    assert json.loads(inspect.stdout)[0]["Digest"] == pushed.digest
    _run(*podman, "rmi", "-a", "-f")
    shutil.rmtree(runroot, ignore_errors=True)


def test_docker_engine_pulls_and_runs_gzip_variant_and_umoci_unpacks_it(
        registry, gzip_layout, repo, tmp_path, docker_client) -> None:
    ref = f"{registry}/{repo}"
    pushed = push_layout(gzip_layout, "latest", reference.parse(f"{ref}:gz"))
    image = docker_client.images.pull(ref, tag="gz")
    try:
        assert pushed.digest in " ".join(image.attrs.get("RepoDigests", []))
        out = docker_client.containers.run(f"{ref}:gz", ["sh", "-c", "echo pulled-$((6*7))"], remove=True)
        assert out.strip() == b"pulled-42"
    finally:
        docker_client.images.remove(f"{ref}:gz", force=True)
    copy = _run("skopeo", "copy", "--src-tls-verify=false", f"docker://{ref}:gz", f"oci:{tmp_path / 'gz'}:x")
    assert copy.returncode == 0, copy.stderr
    unpack = _run("umoci", "unpack", "--image", f"{tmp_path / 'gz'}:x", str(tmp_path / "bundle"))
    assert unpack.returncode == 0, unpack.stderr
    ours = pull_reference(reference.parse(f"{ref}:gz"), tmp_path / "store", to=tmp_path / "ours")
    assert ours.digest == pushed.digest
    assert _tree(tmp_path / "ours") == _tree(tmp_path / "bundle" / "rootfs")
    assert os.access(tmp_path / "ours" / "bin" / "busybox", os.X_OK)


def test_push_registry_to_registry_copy_mounts(registry, chunked_layout, repo, cli) -> None:
    """`falmigrate push docker://A docker://B` in one registry copies by mounting (no upload)."""
    push_layout(chunked_layout, "latest", reference.parse(f"{registry}/{repo}:src"))
    copied = cli("push", f"docker://{registry}/{repo}:src", f"docker://{registry}/{repo}-dst:v1", "--json")
    assert copied.exit_code == 0, copied.output
    summary = json.loads(copied.stdout)
    assert summary["bytes_mounted"] > 1_000_000 and summary["blobs_uploaded"] == 0
    assert Path(summary["reference"].split("@")[0]).name.endswith("-dst")


def test_pack_converts_registry_image_to_flashpack_registry_to_registry(
        registry, tls_registry, gzip_layout, repo, tmp_path, cli) -> None:
    """`falmigrate pack docker://A docker://B` (like `nydusify convert`): a gzip image in one registry
    becomes FlashPack in another (TLS + htpasswd, options passed through), readable by skopeo, podman
    and our own pull, with the same tree."""
    src = f"{registry}/{repo}:gz"
    push_layout(gzip_layout, "latest", reference.parse(src))
    cfg = tmp_path / "cfg" / "config.json"
    cfg.parent.mkdir()
    cfg.write_text(json.dumps({"auths": {tls_registry.address: {"username": tls_registry.user,
                                                                "password": tls_registry.password}}}))
    dst = f"{tls_registry.address}/{repo}-fp:v1"
    packed = cli("pack", f"docker://{src}", f"docker://{dst}", "--ca", tls_registry.ca, "--config",
                 str(cfg), "--json")
    assert packed.exit_code == 0, packed.output
    summary = json.loads(packed.stdout)
    assert tls_registry.password not in packed.output
    push = summary["push"]
    assert push["manifest_digest"] == summary["digest"] and push["bytes_sent"] > 500_000
    assert push["blobs_uploaded"] == 2 and push["bytes_skipped"] == 0
    creds = f"--src-creds={tls_registry.user}:{tls_registry.password}"
    raw = _run("skopeo", "inspect", "--raw", "--cert-dir", str(_cert_dir(tls_registry, tmp_path)),
               f"--creds={tls_registry.user}:{tls_registry.password}", f"docker://{dst}")
    assert raw.returncode == 0, raw.stderr
    layer = json.loads(raw.stdout)["layers"][0]
    assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+zstd"
    assert any(k.endswith("zstd-chunked.manifest-checksum") for k in layer.get("annotations", {}))
    copy = _run("skopeo", "copy", "--src-cert-dir", str(_cert_dir(tls_registry, tmp_path)), creds,
                f"docker://{dst}", f"oci:{tmp_path / 'copy'}:x")
    assert copy.returncode == 0, copy.stderr
    runroot = Path(tempfile.mkdtemp(prefix="fmp-", dir="/tmp"))
    podman = ("podman", "--root", str(tmp_path / "podman"), "--runroot", str(runroot),
              "--storage-driver", "vfs")
    try:
        pulled = _run(*podman, "pull", "--cert-dir", str(_cert_dir(tls_registry, tmp_path)), "--creds",
                      f"{tls_registry.user}:{tls_registry.password}", dst)
        assert pulled.returncode == 0, pulled.stderr
    finally:
        _run(*podman, "rmi", "-a", "-f")
        shutil.rmtree(runroot, ignore_errors=True)
    ours = cli("pull", f"docker://{dst}", "--ca", tls_registry.ca, "--config", str(cfg), "--to",
               str(tmp_path / "fs"), "--store", str(tmp_path / "store"), "--json")
    assert ours.exit_code == 0, ours.output
    assert json.loads(ours.stdout)["manifest_digest"] == summary["digest"]
    ours_gz = pull_reference(reference.parse(src), tmp_path / "store-gz", to=tmp_path / "fs-gz")
    assert ours_gz.digest != summary["digest"]
    assert _tree(tmp_path / "fs") == _tree(tmp_path / "fs-gz")


def _cert_dir(tls_registry, tmp_path: Path) -> Path:
    """containers-style cert dir: the registry's CA as ca.crt."""
    path = tmp_path / "certs"
    path.mkdir(exist_ok=True)
    shutil.copy(tls_registry.ca, path / "ca.crt")
    return path
