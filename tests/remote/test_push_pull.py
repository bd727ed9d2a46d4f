"""Push and pull against the real registries of the test services."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

from falmigrate.oci.remote import reference
from falmigrate.oci.remote.pull import pull_reference
from falmigrate.oci.remote.push import push_layout
from falmigrate.oci.remote.store import Store
from falmigrate.oci.untar import unpack_layers
from tests.remote.conftest import manifest_of


def _tree(root: Path) -> dict[str, tuple]:
    out = {}
    for base, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(base) / name
            st = p.lstat()
            if p.is_symlink():
                out[str(p.relative_to(root))] = ("link", os.readlink(p))
            elif p.is_file():
                out[str(p.relative_to(root))] = ("file", st.st_mode & 0o7777, p.read_bytes())
            else:
                out[str(p.relative_to(root))] = ("dir", st.st_mode & 0o7777)
    return out


def _source_tree(layout: Path, tmp: Path) -> dict:
    layers = [layout / "blobs" / "sha256" / d["digest"].split(":")[1] for d in manifest_of(layout)["layers"]]
    return _tree(unpack_layers(layers, tmp / "expected"))


def test_push_pull_by_digest_compare_trees_and_validate(registry, chunked_layout, repo,
                                                        tmp_path, cli) -> None:
    ref = f"docker://{registry}/{repo}:v1"
    pushed = cli("push", f"oci:{chunked_layout}:latest", ref, "--json")
    assert pushed.exit_code == 0, pushed.output
    summary = json.loads(pushed.stdout)
    assert summary["bytes_sent"] > 1_000_000 and summary["bytes_skipped"] == 0
    digest = summary["manifest_digest"]
    # full pull into a store: a valid OCI layout that skopeo reads and that holds exactly our image
    full = cli("pull", f"docker://{registry}/{repo}@{digest}", "--store", str(tmp_path / "store"), "--json")
    assert full.exit_code == 0, full.output
    fetched = json.loads(full.stdout)
    counters = {"bytes_sent", "bytes_skipped", "bytes_mounted", "bytes_fetched", "manifest_digest"}
    assert counters <= set(summary) and counters <= set(fetched)
    assert fetched["manifest_digest"] == digest and fetched["bytes_sent"] == 0
    manifest = manifest_of(chunked_layout)
    blobs = sum(d["size"] for d in [manifest["config"], *manifest["layers"]])
    manifest_size = (chunked_layout / "blobs" / "sha256" / digest.split(":")[1]).stat().st_size
    assert fetched["bytes_fetched"] == blobs + manifest_size  # counted exactly, nothing fetched twice
    assert summary["bytes_sent"] == blobs + manifest_size
    store = tmp_path / "store"
    assert Store(store).resolve(digest)["digest"] == digest
    for blob in (store / "blobs" / "sha256").iterdir():
        assert (chunked_layout / "blobs" / "sha256" / blob.name).read_bytes() == blob.read_bytes()
    inspect = subprocess.run(["skopeo", "inspect", f"oci:{store}:{digest}"], check=False,
                             capture_output=True, text=True)
    assert inspect.returncode == 0, inspect.stderr
    # pull + unpack into a fresh store gives the same tree as unpacking the source layers; a cold
    # FlashPack layer is fetched whole (after its TOC) and its TOC kept for later partial pulls
    part = cli("pull", f"docker://{registry}/{repo}@{digest}", "--to", str(tmp_path / "rootfs"),
               "--store", str(tmp_path / "store2"), "--json")
    assert part.exit_code == 0, part.output
    result = json.loads(part.stdout)
    assert [layer["mode"] for layer in result["layers"]] == ["full"]
    assert result["range_requests"] == 1 and result["files_fetched"] == 0
    assert _tree(tmp_path / "rootfs") == _source_tree(chunked_layout, tmp_path)


def test_our_flashpack_image_round_trips_and_validates(registry, flashpack_layout, repo,
                                                       tmp_path, cli) -> None:
    """Our own FlashPack writer's image: pushed, pulled back by digest into a layout that oci.validate
    (the oracle) and skopeo accept, and unpacked to the tree of the source layers."""
    from falmigrate.oci.validate import validate

    pushed = cli("push", f"oci:{flashpack_layout}:latest", f"docker://{registry}/{repo}:fp", "--json")
    assert pushed.exit_code == 0, pushed.output
    digest = json.loads(pushed.stdout)["manifest_digest"]
    assert manifest_of(flashpack_layout)["layers"][0]["mediaType"].endswith("tar+zstd")
    pulled = cli("pull", f"docker://{registry}/{repo}@{digest}", "--store", str(tmp_path / "store"), "--json")
    assert pulled.exit_code == 0, pulled.output
    assert validate(tmp_path / "store")["ok"]
    inspect = subprocess.run(["skopeo", "inspect", f"oci:{tmp_path / 'store'}:{digest}"], capture_output=True,
                             text=True, check=False)
    assert inspect.returncode == 0, inspect.stderr
    unpacked = cli("pull", f"docker://{registry}/{repo}@{digest}", "--store", str(tmp_path / "store2"),
                   "--to", str(tmp_path / "rootfs"), "--json")
    assert unpacked.exit_code == 0, unpacked.output
    assert _tree(tmp_path / "rootfs") == _source_tree(flashpack_layout, tmp_path)


def test_second_push_uploads_nothing_and_other_repo_mounts(registry, gzip_layout, repo) -> None:
    ref = reference.parse(f"{registry}/{repo}:v1")
    first = push_layout(gzip_layout, "latest", ref)
    total = sum(d["size"] for d in [manifest_of(gzip_layout)["config"], *manifest_of(gzip_layout)["layers"]])
    assert first.stats.blobs_uploaded == 2 and first.stats.bytes_sent >= total
    second = push_layout(gzip_layout, "latest", ref)
    assert second.stats.blobs_uploaded == 0 and second.stats.bytes_skipped == total
    # only the manifest PUT carries bytes the second time
    assert (second.stats.bytes_sent
            == (gzip_layout / "blobs" / "sha256" / second.digest.split(":")[1]).stat().st_size)
    other = push_layout(gzip_layout, "latest", ref.with_repository(repo + "-copy"))
    assert (other.stats.blobs_mounted == 2 and other.stats.bytes_mounted == total
            and other.stats.blobs_uploaded == 0)
    assert other.digest == first.digest


def test_chunked_upload_round_trip(registry, chunked_layout, repo, tmp_path) -> None:
    from falmigrate.oci.remote.client import RegistryClient
    from falmigrate.oci.remote.push import push_image

    ref = reference.parse(f"{registry}/{repo}:chunks")
    store = Store(chunked_layout)
    with RegistryClient(registry) as client:
        result = push_image(store, store.resolve("latest"), ref, client, monolithic_limit=0,
                            chunk_size=100_000)
    pulled = pull_reference(ref, tmp_path / "store")
    assert pulled.digest == result.digest
    layer = manifest_of(chunked_layout)["layers"][0]["digest"]
    assert Store(tmp_path / "store").read_blob(layer) == store.read_blob(layer)


def _docker_config(path: Path, registry: str, user: str, password: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (path / "config.json").write_text(json.dumps({"auths": {registry: {"auth": auth}}}))
    return path / "config.json"


def test_tls_htpasswd_registry_with_docker_config(tls_registry, gzip_layout, repo, tmp_path, cli) -> None:
    config = _docker_config(tmp_path / "cfg", tls_registry.address, tls_registry.user, tls_registry.password)
    ref = f"docker://{tls_registry.address}/{repo}:v1"
    pushed = cli("push", f"oci:{gzip_layout}:latest", ref, "--ca", tls_registry.ca, "--config",
                 str(config), "--json")
    assert pushed.exit_code == 0, pushed.output
    pulled = cli("pull", ref, "--ca", tls_registry.ca, "--config", str(config), "--to", str(tmp_path / "fs"),
                 "--store", str(tmp_path / "st"), "--json")
    assert pulled.exit_code == 0, pulled.output
    assert (tmp_path / "fs" / "bin" / "busybox").is_file()
    # wrong password: clear auth error, exit 7, and the password is in no output
    bad = _docker_config(tmp_path / "bad", tls_registry.address, tls_registry.user, "wrong-password-xyz")
    denied = cli("push", f"oci:{gzip_layout}:latest", ref, "--ca", tls_registry.ca, "--config", str(bad))
    assert denied.exit_code == 7
    assert "rejected the credentials" in denied.output
    assert "wrong-password-xyz" not in denied.output and tls_registry.password not in pushed.output
    # without --ca the self-signed certificate is not trusted and the TLS registry is not downgraded
    untrusted = cli("pull", ref, "--config", str(config), "--store", str(tmp_path / "st3"))
    assert untrusted.exit_code == 6 and "cannot reach registry" in untrusted.output


def test_credential_helper_from_docker_config(tls_registry, gzip_layout, repo, tmp_path, monkeypatch) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    helper = bindir / "docker-credential-falfake"
    answer = json.dumps({"Username": tls_registry.user, "Secret": tls_registry.password})
    helper.write_text(f"#!/bin/sh\nread server\n[ \"$server\" = \"{tls_registry.address}\" ] || "
                      f"{{ echo 'credentials not found'; exit 1; }}\ncat <<'EOF'\n{answer}\nEOF\n")
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "config.json").write_text(json.dumps({"credHelpers": {tls_registry.address: "falfake"}}))
    result = push_layout(gzip_layout, "latest", reference.parse(f"{tls_registry.address}/{repo}:helper"),
                         ca=tls_registry.ca, docker_config=str(cfg / "config.json"))
    assert result.stats.blobs_uploaded == 2
