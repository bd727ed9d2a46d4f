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
    copy = _run("skopeo", "copy", "--src-tls-verify=false", f"docker://{registry}/{repo}:fp", f"oci:{tmp_path / 'copy'}:x")
    assert copy.returncode == 0, copy.stderr
    copied = manifest_of(tmp_path / "copy")
    assert [layer["digest"] for layer in copied["layers"]] == [layer["digest"] for layer in manifest_of(chunked_layout)["layers"]]
    runroot = Path(tempfile.mkdtemp(prefix="fmp-", dir="/tmp"))  # podman wants a runroot path < 50 chars
    podman = ("podman", "--root", str(tmp_path / "podman"), "--runroot", str(runroot), "--storage-driver", "vfs")
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


def test_pack_style_registry_to_registry_copy_mounts(registry, chunked_layout, repo, cli) -> None:
    push_layout(chunked_layout, "latest", reference.parse(f"{registry}/{repo}:src"))
    copied = cli("push", f"docker://{registry}/{repo}:src", f"docker://{registry}/{repo}-dst:v1", "--json")
    assert copied.exit_code == 0, copied.output
    summary = json.loads(copied.stdout)
    assert summary["bytes_mounted"] > 1_000_000 and summary["blobs_uploaded"] == 0
    assert Path(summary["reference"].split("@")[0]).name.endswith("-dst")
