"""Transport security rules against real registries: plain HTTP only for loopback unless --insecure,
credentials from a credsStore helper, and no credential or token ever printed or written to disk."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from falmigrate.oci.remote import reference
from falmigrate.oci.remote.push import push_layout
from tests.remote.fakeregistry import Fault, FaultProxy


def _non_loopback_address() -> str:
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=False).stdout.split()
    for address in out:
        if "." in address and not address.startswith("127."):
            return address
    pytest.fail(f"this machine has no non-loopback IPv4 address (hostname -I: {out}); the "
                "rule cannot be tested")


def test_plain_http_only_for_loopback_unless_insecure(registry, gzip_layout, repo, tmp_path, cli) -> None:
    push_layout(gzip_layout, "latest", reference.parse(f"{registry}/{repo}:v1"))
    with FaultProxy(registry, host=_non_loopback_address()) as proxy:
        ref = f"docker://{proxy.address}/{repo}:v1"
        refused = cli("pull", ref, "--store", str(tmp_path / "s1"))
        assert refused.exit_code == 6, refused.output
        assert "cannot reach registry" in refused.output and "--insecure" in refused.output
        assert proxy.log == []  # only a TLS handshake was tried: no plain-HTTP request reached it
        allowed = cli("pull", ref, "--store", str(tmp_path / "s2"), "--insecure", "--json")
        assert allowed.exit_code == 0, allowed.output
        assert ("GET", "/v2/", 200) in proxy.log
    # loopback: plain HTTP without asking (as the Docker engine does)
    local = cli("pull", f"docker://{registry}/{repo}:v1", "--store", str(tmp_path / "s3"))
    assert local.exit_code == 0, local.output


def _helper(bindir: Path, name: str, registry: str, user: str, secret: str) -> None:
    answer = json.dumps({"ServerURL": registry, "Username": user, "Secret": secret})
    script = bindir / f"docker-credential-{name}"
    script.write_text("#!/bin/sh\n[ \"$1\" = get ] || exit 3\nread server\n"
                      f"[ \"$server\" = \"{registry}\" ] || {{ echo 'credentials not found in native "
                      f"keychain'; exit 1; }}\ncat <<'EOF'\n{answer}\nEOF\n")
    script.chmod(0o755)


def test_creds_store_helper_against_the_tls_registry(tls_registry, gzip_layout, repo, tmp_path, cli,
                                                      monkeypatch) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    _helper(bindir, "falstore", tls_registry.address, tls_registry.user, tls_registry.password)
    _helper(bindir, "otherstore", "elsewhere.example", tls_registry.user, tls_registry.password)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"credsStore": "falstore", "auths": {tls_registry.address: {}}}))
    ref = f"docker://{tls_registry.address}/{repo}:store"
    pushed = cli("push", f"oci:{gzip_layout}:latest", ref, "--ca", tls_registry.ca, "--config",
                 str(cfg), "--json")
    assert pushed.exit_code == 0, pushed.output
    assert json.loads(pushed.stdout)["blobs_uploaded"] == 2
    # a store that has nothing for this registry: a clear auth error, exit 7
    cfg.write_text(json.dumps({"credsStore": "otherstore"}))
    denied = cli("pull", ref, "--ca", tls_registry.ca, "--config", str(cfg), "--store", str(tmp_path / "s"))
    assert denied.exit_code == 7, denied.output
    assert "no credentials were found" in denied.output


def _run_cli(*args: str, env: dict) -> str:
    proc = subprocess.run([sys.executable, "-m", "falmigrate", *args], capture_output=True, text=True,
                          env=env, check=False, timeout=300)
    return f"exit={proc.returncode}\n{proc.stdout}\n{proc.stderr}"


def test_credentials_and_tokens_are_never_printed_or_stored(registry, gzip_layout, chunked_layout, repo,
                                                             tmp_path) -> None:
    user, password, token = "alice", "pw-Secret-7781", "tok-Secret-5523"
    secrets = [password, token, base64.b64encode(f"{user}:{password}".encode()).decode()]
    cache = tmp_path / "cache"
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    with FaultProxy(registry, token=token, user=user, password=password) as proxy:
        good.write_text(json.dumps({"auths": {proxy.address: {"auth": secrets[2]}}}))
        bad.write_text(json.dumps({"auths": {proxy.address: {"username": user, "password": password + "x"}}}))
        # retries print log lines (500s, a reset mid-upload, a corrupted blob): none may carry a secret
        proxy.add(Fault("HEAD", "/blobs/", "status", times=2, status=500),
                  Fault("PATCH", "/blobs/uploads/", "reset-body", times=1),
                  Fault("GET", "/blobs/", "corrupt", times=1))
        ref = f"docker://{proxy.address}/{repo}:v1"
        outputs = [
            _run_cli("push", f"oci:{gzip_layout}:latest", ref, "--config", str(good), env=env),
            _run_cli("push", f"oci:{chunked_layout}:latest", f"{ref}-b", "--config", str(good), "--json",
                     env=env),
            _run_cli("pull", ref, "--config", str(good), "--to", str(tmp_path / "fs"), "--store",
                     str(tmp_path / "s"), env=env),
            _run_cli("pull", ref, "--config", str(bad), "--store", str(tmp_path / "s2"), env=env),
            _run_cli("pull", ref, "--config", str(bad), "--store", str(tmp_path / "s3"), "--json", env=env),
            _run_cli("pack", ref, f"oci:{tmp_path / 'packed'}:x", "--config", str(good), env=env),
        ]
    assert [o.split("\n", 1)[0] for o in outputs] == ["exit=0", "exit=0", "exit=0", "exit=7", "exit=7",
                                                      "exit=0"], outputs
    assert "retrying" in "".join(outputs)  # the faults did make it log
    for output in outputs:
        for secret in secrets:
            assert secret not in output, output
    written = [p for root in (cache, tmp_path / "s", tmp_path / "packed")
               for p in root.rglob("*") if p.is_file()]
    assert written
    for path in written:
        data = path.read_bytes()
        assert not any(secret.encode() in data for secret in secrets), path


@pytest.mark.parametrize("case",
                         ["symlink parent relative", "whiteout dotdot", "hardlink dotdot", "char device"])
def test_pulling_a_hostile_image_is_refused_and_leaves_nothing(registry, repo, tmp_path, cli, case) -> None:
    """End to end: a hostile layer in a registry image stops `pull --to` with exit 9; the rootfs is not
    created (it was being built aside) and nothing next to it changed."""
    import gzip

    from tests.unpack.test_unpack import HOSTILE, _tar

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "sentinel").write_text("precious")
    members = [(n, k, p.replace("{outside}", str(outside)) if isinstance(p, str) else p)
               for n, k, p in HOSTILE[case]]
    layer = gzip.compress(_tar([("ok", "dir", None), ("ok/file", "reg", "fine"), *members]))
    layout = _layout(tmp_path / "layout", [layer])
    push_layout(layout, "evil", reference.parse(f"{registry}/{repo}:evil"))
    before = sorted(p.name for p in tmp_path.iterdir())
    result = cli("pull", f"docker://{registry}/{repo}:evil", "--to", str(tmp_path / "rootfs"),
                 "--store", str(tmp_path / "store"))
    assert result.exit_code == 9, result.output
    assert "refused" in result.output or "entry" in result.output
    assert not (tmp_path / "rootfs").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "store"])
    assert sorted(os.listdir(outside)) == ["sentinel"] and (outside / "sentinel").read_text() == "precious"


def _layout(layout: Path, layers: list[bytes]) -> Path:
    """An OCI layout (tag "evil") of gzip tar layers given as bytes."""
    import gzip
    import hashlib

    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return f"sha256:{digest}"

    diff_ids = ["sha256:" + hashlib.sha256(gzip.decompress(layer)).hexdigest() for layer in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}})
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": put(config.encode()), "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                       "digest": put(layer), "size": len(layer)}
                                      for layer in layers]}).encode()
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": put(manifest),
        "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": "evil"}}]}))
    return layout


def test_a_refused_layer_abandons_the_downloads_still_running(registry, repo, tmp_path) -> None:
    """Layer 0 is hostile; layer 1 is still arriving (slowly) when the unpack refuses layer 0: its
    transfer is abandoned rather than finished, and nothing of it is stored."""
    import gzip

    from falmigrate.errors import UnsafeArchiveError
    from falmigrate.oci.remote.client import RegistryClient
    from falmigrate.oci.remote.pull import pull
    from falmigrate.oci.remote.store import Store
    from tests.unpack.test_unpack import _tar

    big = gzip.compress(_tar([("data.bin", "reg", os.urandom(1 << 20))]), compresslevel=1)
    hostile = gzip.compress(_tar([("../escape", "reg", "x")]))
    layout = _layout(tmp_path / "layout", [hostile, big])
    push_layout(layout, "evil", reference.parse(f"{registry}/{repo}:evil"))
    big_digest = "sha256:" + __import__("hashlib").sha256(big).hexdigest()
    with FaultProxy(registry) as proxy, RegistryClient(proxy.address, backoff=0.01) as client:
        proxy.add(Fault("GET", f"/blobs/{big_digest}", "slow", times=-1))  # ~3 s for 1 MiB
        with pytest.raises(UnsafeArchiveError):
            pull(reference.parse(f"{proxy.address}/{repo}:evil"), Store(tmp_path / "s"), client,
                 to=tmp_path / "fs")
    assert not Store(tmp_path / "s").has_blob(big_digest)
    assert not list((tmp_path / "s" / ".falmigrate-tmp").glob("*"))
    assert not (tmp_path / "fs").exists()
