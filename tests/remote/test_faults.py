"""Faults injected by an in-process proxy in front of the real registry: retries, resume, integrity."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from falmigrate.errors import IntegrityError, RegistryAuthError, RegistryError
from falmigrate.oci.digest import Digest
from falmigrate.oci.layout import TMP_DIR
from falmigrate.oci.remote import reference
from falmigrate.oci.remote.client import RegistryClient
from falmigrate.oci.remote.pull import pull
from falmigrate.oci.remote.push import push_image, push_layout
from falmigrate.oci.remote.store import Store
from tests.helpers.wait import wait_until
from tests.remote.conftest import manifest_of
from tests.remote.fakeregistry import Fault, FaultProxy


def _client(proxy: FaultProxy, **kw) -> RegistryClient:
    return RegistryClient(proxy.address, backoff=0.01, **kw)


def _temp_files(store: Path) -> list[Path]:
    """Files of unfinished writes (the store writes into the layout's temp area, then renames)."""
    return sorted((store / TMP_DIR).glob("*")) if (store / TMP_DIR).is_dir() else []


def _assert_store_clean(store: Path) -> None:
    assert _temp_files(store) == []
    for blob in (store / "blobs" / "sha256").iterdir():
        assert str(Digest.of_bytes(blob.read_bytes())) == f"sha256:{blob.name}", f"bad blob {blob.name}"


@pytest.fixture
def pushed(registry, gzip_layout, repo) -> str:
    push_layout(gzip_layout, "latest", reference.parse(f"{registry}/{repo}:v1"))
    return repo


def test_5xx_on_manifest_and_blob_are_retried(registry, pushed, tmp_path) -> None:
    with FaultProxy(registry) as proxy, _client(proxy) as client:
        proxy.add(Fault("GET", "/manifests/", "status", times=1, status=503),
                  Fault("GET", "/blobs/", "status", times=2, status=500))
        result = pull(reference.parse(f"{proxy.address}/{pushed}:v1"), Store(tmp_path / "s"), client)
    assert result.stats.blobs_fetched == 2
    assert [s for _, _, s in proxy.log].count(500) == 2 and [s for _, _, s in proxy.log].count(503) == 1
    _assert_store_clean(tmp_path / "s")


def test_429_waits_for_retry_after(registry, pushed, tmp_path) -> None:
    with FaultProxy(registry) as proxy, _client(proxy) as client:
        proxy.add(Fault("GET", "/manifests/", "status", times=1, status=429, retry_after="1"))
        started = time.monotonic()
        pull(reference.parse(f"{proxy.address}/{pushed}:v1"), Store(tmp_path / "s"), client)
    assert time.monotonic() - started >= 1.0


def test_persistent_500_is_a_registry_error(registry, pushed, tmp_path) -> None:
    with FaultProxy(registry) as proxy, _client(proxy, retries=2) as client:
        proxy.add(Fault("GET", "/blobs/", "status", times=-1, status=500))
        with pytest.raises(RegistryError, match="HTTP 500"):
            pull(reference.parse(f"{proxy.address}/{pushed}:v1"), Store(tmp_path / "s"), client)
    _assert_store_clean(tmp_path / "s")


@pytest.mark.parametrize("action", ["truncate", "corrupt", "reset"])
def test_bad_blob_once_is_retried(registry, pushed, tmp_path, action) -> None:
    with FaultProxy(registry) as proxy, _client(proxy) as client:
        proxy.add(Fault("GET", "/blobs/", action, times=1))
        result = pull(reference.parse(f"{proxy.address}/{pushed}:v1"), Store(tmp_path / "s"), client)
    assert result.stats.blobs_fetched == 2
    _assert_store_clean(tmp_path / "s")


@pytest.mark.parametrize("action", ["truncate", "corrupt"])
def test_always_bad_blob_is_rejected_and_never_stored(registry, pushed, gzip_layout, tmp_path,
                                                      action) -> None:
    layer = manifest_of(gzip_layout)["layers"][0]["digest"]
    with FaultProxy(registry) as proxy, _client(proxy) as client:
        proxy.add(Fault("GET", f"/blobs/{layer}", action, times=-1))
        with pytest.raises((IntegrityError, RegistryError)):
            pull(reference.parse(f"{proxy.address}/{pushed}:v1"), Store(tmp_path / "s"), client)
    assert not Store(tmp_path / "s").has_blob(layer)
    _assert_store_clean(tmp_path / "s")


def test_connection_reset_mid_upload_resumes(registry, chunked_layout, repo, tmp_path) -> None:
    store = Store(chunked_layout)
    with FaultProxy(registry) as proxy, _client(proxy) as client:
        proxy.add(Fault("PATCH", "/blobs/uploads/", "reset-body", times=2, after=2))
        ref = reference.parse(f"{proxy.address}/{repo}:v1")
        result = push_image(store, store.resolve("latest"), ref, client, monolithic_limit=0,
                            chunk_size=200_000)
    assert [s for m, _, s in proxy.log if m == "PATCH"].count(0) == 2
    assert any(m == "GET" and "/blobs/uploads/" in p for m, p, _ in proxy.log)  # asked where it stood
    with RegistryClient(registry) as client:
        back = pull(reference.parse(f"{registry}/{repo}@{result.digest}"), Store(tmp_path / "s"), client)
    layer = manifest_of(chunked_layout)["layers"][0]["digest"]
    assert back.digest == result.digest and Store(tmp_path / "s").read_blob(layer) == store.read_blob(layer)


@pytest.mark.parametrize("mode", ["monolithic", "chunked"])
def test_upload_broken_after_the_registry_kept_half_recovers(registry, chunked_layout, repo,
                                                             tmp_path, mode) -> None:
    """The registry really holds part of the body when the connection breaks: a monolithic upload starts
    a fresh session (re-sending into the old one would fail its digest), a chunked one resumes from the
    offset the registry reports."""
    store = Store(chunked_layout)
    layer = manifest_of(chunked_layout)["layers"][0]
    options = {"monolithic_limit": 0, "chunk_size": 300_000} if mode == "chunked" else {}
    method = "PATCH" if mode == "chunked" else "PUT"
    with FaultProxy(registry) as proxy, _client(proxy) as client:
        proxy.add(Fault(method, "/blobs/uploads/", "half-then-reset", times=1,
                        after=1 if mode == "chunked" else 0))
        result = push_image(store, store.resolve("latest"), reference.parse(f"{proxy.address}/{repo}:v1"),
                            client, **options)
    assert [s for m, _, s in proxy.log if m == method].count(0) == 1
    if mode == "chunked":
        assert result.stats.bytes_sent < layer["size"] + 200_000  # resumed, not restarted
    with RegistryClient(registry) as client:
        back = pull(reference.parse(f"{registry}/{repo}@{result.digest}"), Store(tmp_path / "s"), client)
    assert back.digest == result.digest
    assert Store(tmp_path / "s").read_blob(layer["digest"]) == store.read_blob(layer["digest"])


def test_connection_reset_on_monolithic_upload_is_retried(registry, gzip_layout, repo) -> None:
    with FaultProxy(registry) as proxy, _client(proxy) as client:
        proxy.add(Fault("PUT", "/blobs/uploads/", "reset-body", times=1))
        store = Store(gzip_layout)
        result = push_image(store, store.resolve("latest"),
                            reference.parse(f"{proxy.address}/{repo}:v1"), client)
    assert result.stats.blobs_uploaded == 2


def test_bearer_token_flow_and_refusal(registry, gzip_layout, repo, tmp_path) -> None:
    with FaultProxy(registry, token="tok-123", user="alice", password="s3cret-pw") as proxy:
        cfg = tmp_path / "config.json"
        cfg.write_text(json.dumps({"auths": {proxy.address: {
            "auth": base64.b64encode(b"alice:s3cret-pw").decode()}}}))
        ref = reference.parse(f"{proxy.address}/{repo}:v1")
        result = push_layout(gzip_layout, "latest", ref, docker_config=str(cfg), backoff=0.01)
        assert result.stats.blobs_uploaded == 2
        assert ("GET", "/v2/", 401) in proxy.log and ("GET", "/token", 200) in proxy.log
        cfg.write_text(json.dumps({"auths": {proxy.address: {"username": "alice", "password": "nope-pw"}}}))
        with pytest.raises(RegistryAuthError) as info:
            push_layout(gzip_layout, "latest", ref, docker_config=str(cfg), backoff=0.01)
        assert "nope-pw" not in str(info.value) and "refused user 'alice'" in str(info.value)


def test_registry_without_ranges_falls_back_to_whole_layers(registry, chunked_layout, repo, tmp_path) -> None:
    push_layout(chunked_layout, "latest", reference.parse(f"{registry}/{repo}:v1"))
    with FaultProxy(registry, no_ranges=True) as proxy, _client(proxy) as client:
        result = pull(reference.parse(f"{proxy.address}/{repo}:v1"), Store(tmp_path / "s"), client,
                      to=tmp_path / "fs")
    assert [layer["mode"] for layer in result.layers] == ["full"]
    assert (tmp_path / "fs" / "bin" / "busybox").stat().st_size > 100_000
    _assert_store_clean(tmp_path / "s")


@pytest.mark.parametrize("unpack", [False, True], ids=["store", "store+rootfs"])
def test_kill_9_during_pull_then_rerun_succeeds(registry, chunked_layout, repo, tmp_path, unpack) -> None:
    push_layout(chunked_layout, "latest", reference.parse(f"{registry}/{repo}:v1"))
    layer = manifest_of(chunked_layout)["layers"][0]["digest"]
    store, rootfs = tmp_path / "store", tmp_path / "rootfs"
    extra = ["--to", str(rootfs)] if unpack else []
    with FaultProxy(registry) as proxy:
        proxy.add(Fault("GET", f"/blobs/{layer}", "slow", times=-1))
        cmd = [sys.executable, "-m", "falmigrate", "pull", f"docker://{proxy.address}/{repo}:v1", "--store",
               str(store), *extra]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=os.environ.copy())
        wait_until(lambda: any(p.stat().st_size > 100_000 for p in _temp_files(store)),
                   timeout=120, what="the layer's temp file to be half-way")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not Store(store).has_blob(layer)
    for blob in (store / "blobs" / "sha256").iterdir():
        assert str(Digest.of_bytes(blob.read_bytes())) == f"sha256:{blob.name}"
    assert not rootfs.exists()  # the rootfs is built aside and renamed into place only when complete
    rerun = subprocess.run([sys.executable, "-m", "falmigrate", "pull", f"docker://{registry}/{repo}:v1",
                            "--store", str(store), "--json", *extra], capture_output=True,
                           text=True, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert Store(store).has_blob(layer) and json.loads(rerun.stdout)["bytes_reused"] > 0
    if unpack:
        assert (rootfs / "bin" / "busybox").stat().st_size > 100_000
        assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "docker-config", "rootfs", "store"]


@pytest.mark.parametrize("action", ["truncate", "corrupt"])
def test_unpack_while_downloading_never_keeps_unverified_bytes(registry, chunked_layout, repo, tmp_path,
                                                                action) -> None:
    """The rootfs is built from a layer's bytes as they arrive; a bad first transfer is replaced by the
    verified retry, and a transfer that never verifies leaves no rootfs at all."""
    from tests.remote.test_push_pull import _source_tree, _tree

    push_layout(chunked_layout, "latest", reference.parse(f"{registry}/{repo}:v1"))
    layer = manifest_of(chunked_layout)["layers"][0]["digest"]
    with FaultProxy(registry) as proxy, _client(proxy) as client:
        proxy.add(Fault("GET", f"/blobs/{layer}", action, times=1))
        result = pull(reference.parse(f"{proxy.address}/{repo}:v1"), Store(tmp_path / "s"), client,
                      to=tmp_path / "fs", partial=False)
    assert [x["mode"] for x in result.layers] == ["full"]
    assert [m for m, p, _ in proxy.log if p.endswith(layer)].count("GET") == 2
    assert _tree(tmp_path / "fs") == _source_tree(chunked_layout, tmp_path)
    with FaultProxy(registry) as proxy, _client(proxy) as client:
        proxy.add(Fault("GET", f"/blobs/{layer}", action, times=-1))
        with pytest.raises((IntegrityError, RegistryError)):
            pull(reference.parse(f"{proxy.address}/{repo}:v1"), Store(tmp_path / "s2"), client,
                 to=tmp_path / "fs2", partial=False)
    assert not (tmp_path / "fs2").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".falmigrate-unpack-")]
    _assert_store_clean(tmp_path / "s2")


def test_kill_9_during_chunked_push_then_rerun_resumes(registry, chunked_layout, repo, tmp_path) -> None:
    """A push killed in the middle of a chunked upload: the rerun asks the registry where the upload
    stands (session remembered in the cache) and sends only the rest."""
    layer = manifest_of(chunked_layout)["layers"][0]
    chunk = 150_000
    assert layer["size"] > 4 * chunk
    with FaultProxy(registry) as proxy:
        proxy.add(Fault("PATCH", "/blobs/uploads/", "hang", times=1, after=3))
        ref = f"docker://{proxy.address}/{repo}:v1"
        cmd = [sys.executable, "-m", "falmigrate", "push", f"oci:{chunked_layout}:latest", ref,
               "--chunk-size", str(chunk), "--json"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=os.environ.copy())
        wait_until(lambda: ("PATCH", -1) in [(m, s) for m, _, s in proxy.log], timeout=30,
                   what="the hanging PATCH to reach the proxy")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        assert [s for m, _, s in proxy.log if m == "PATCH"] == [202, 202, 202, -1]
        rerun = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert summary["bytes_skipped"] >= 3 * chunk  # what the registry already had was not sent again
    assert summary["bytes_sent"] <= layer["size"] - 3 * chunk + 10_000
    assert any(m == "GET" and "/blobs/uploads/" in p for m, p, _ in proxy.log)
    with RegistryClient(registry) as client:
        back = pull(reference.parse(f"{registry}/{repo}@{summary['manifest_digest']}"),
                    Store(tmp_path / "s"), client)
    assert (Store(tmp_path / "s").read_blob(layer["digest"])
            == Store(chunked_layout).read_blob(layer["digest"]))
    assert back.digest == summary["manifest_digest"]
    assert json.loads((tmp_path / "cache" / "falmigrate" / "uploads.json").read_text()) == {}


def test_a_pool_workers_log_line_reaches_the_cli(registry, pushed, gzip_layout, tmp_path) -> None:
    """Blobs download on a thread pool; the retry notice a worker logs must reach the CLI's stderr (pool
    jobs run in a copy of the caller's context, which holds the CLI's progress sink)."""
    layer = manifest_of(gzip_layout)["layers"][0]["digest"]
    with FaultProxy(registry) as proxy:
        proxy.add(Fault("GET", f"/blobs/{layer}", "truncate", times=1))
        done = subprocess.run([sys.executable, "-m", "falmigrate", "pull", f"docker://{proxy.address}/{pushed}:v1",
                               "--store", str(tmp_path / "s")], capture_output=True, text=True, check=False,
                              env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    assert f"retrying blob {layer[:19]}" in done.stderr
