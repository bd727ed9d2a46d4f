"""The harness is real: the engine builds with a RUN step, the registry takes a push over HTTP, and
the manifest read back names exactly the layers the engine reports."""

from __future__ import annotations

import io
import json
import ssl
import uuid

import httpx
import pytest

pytestmark = [pytest.mark.engine, pytest.mark.registry]

MANIFEST_TYPES = ("application/vnd.docker.distribution.manifest.v2+json, "
                  "application/vnd.oci.image.manifest.v1+json")


def _build(docker_client, base_image: str, tag: str) -> None:
    dockerfile = f"FROM {base_image}\nRUN echo smoke > /smoke.txt && python3 -c 'print(6*7)'\n"
    output = []
    for chunk in docker_client.api.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True,
                                         forcerm=True, decode=True):
        assert "error" not in chunk, chunk
        output.append(chunk.get("stream", ""))
    assert "42" in "".join(output)


def _push(docker_client, repo: str, tag: str) -> str:
    digest = None
    for chunk in docker_client.api.push(repo, tag=tag, stream=True, decode=True):
        assert "error" not in chunk, chunk
        digest = (chunk.get("aux") or {}).get("Digest", digest)
    assert digest and digest.startswith("sha256:")
    return digest


def test_build_push_and_read_manifest(docker_client, base_image, registry, registry_log):
    repo = f"{registry}/smoke/{uuid.uuid4().hex[:12]}"
    _build(docker_client, base_image, f"{repo}:v1")
    try:
        digest = _push(docker_client, repo, "v1")
        name = repo.split("/", 1)[1]
        with httpx.Client(base_url=f"http://{registry}", timeout=30) as http:
            resp = http.get(f"/v2/{name}/manifests/v1", headers={"Accept": MANIFEST_TYPES})
            assert resp.status_code == 200
            assert resp.headers["Docker-Content-Digest"] == digest
            manifest = resp.json()
            layer_digests = [layer["digest"] for layer in manifest["layers"]]
            config = http.get(f"/v2/{name}/blobs/{manifest['config']['digest']}").json()
            for layer in manifest["layers"]:
                head = http.head(f"/v2/{name}/blobs/{layer['digest']}")
                assert head.status_code == 200
                assert int(head.headers["Content-Length"]) == layer["size"]
        image = docker_client.images.get(f"{repo}:v1")
        # base image (one imported layer) + the RUN step = two layers, in the engine and the registry
        assert len(layer_digests) == 2
        assert config["rootfs"]["diff_ids"] == image.attrs["RootFS"]["Layers"]
        assert len(set(layer_digests)) == 2
        log_text = registry_log.read_text(errors="replace")
        assert f"/v2/{name}/manifests/v1" in log_text
        assert json.loads(resp.text) == manifest
    finally:
        docker_client.images.remove(f"{repo}:v1", force=True)


def test_tls_registry_needs_credentials(tls_registry):
    url = f"https://{tls_registry.address}/v2/"
    with httpx.Client(verify=ssl.create_default_context(cafile=tls_registry.ca), timeout=30) as http:
        anonymous = http.get(url)
        assert anonymous.status_code == 401
        assert anonymous.headers["WWW-Authenticate"].startswith("Basic realm=")
        assert http.get(url, auth=(tls_registry.user, "wrong-password")).status_code == 401
        assert http.get(url, auth=(tls_registry.user, tls_registry.password)).status_code == 200
    with pytest.raises(httpx.ConnectError):  # the CA is really needed: the default trust store refuses it
        httpx.get(url, timeout=30, verify=True)


def test_tiny_image_runs(docker_client, tiny_image):
    output = docker_client.containers.run(tiny_image, ["sh", "-c", "echo tiny-$((6*7))"], remove=True)
    assert output.strip() == b"tiny-42"
