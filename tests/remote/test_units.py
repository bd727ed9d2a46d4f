"""References, Docker config credentials, challenges and scheme choice (no network)."""

from __future__ import annotations

import base64
import json

import pytest

from falmigrate.errors import RegistryAuthError, UsageError
from falmigrate.oci.remote import auth
from falmigrate.oci.remote.client import RegistryClient, _parse_retry_after
from falmigrate.oci.remote.reference import is_loopback, parse


@pytest.mark.parametrize(("text", "registry", "repo", "tag", "digest"), [
    ("ubuntu", "docker.io", "library/ubuntu", None, None),
    ("docker://ubuntu:22.04", "docker.io", "library/ubuntu", "22.04", None),
    ("user/app", "docker.io", "user/app", None, None),
    ("localhost/app", "localhost", "app", None, None),
    ("127.0.0.1:5000/team/app:v1", "127.0.0.1:5000", "team/app", "v1", None),
    ("ghcr.io/o/r@sha256:" + "a" * 64, "ghcr.io", "o/r", None, "sha256:" + "a" * 64),
    ("reg.example.com:443/a/b:t@sha256:" + "b" * 64, "reg.example.com:443", "a/b", "t", "sha256:" + "b" * 64),
])
def test_reference_parse(text, registry, repo, tag, digest) -> None:
    ref = parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repo, tag, digest)
    assert ref.reference == (digest or tag or "latest")
    assert parse(str(ref)) == ref


@pytest.mark.parametrize("bad", ["", "Upper/Case", "a/b@sha256:short", "a/b:bad tag", "a//b"])
def test_reference_rejects(bad) -> None:
    with pytest.raises(UsageError):
        parse(bad)


def test_docker_hub_talks_to_its_api_host() -> None:
    assert parse("busybox").api_host == "registry-1.docker.io"


@pytest.mark.parametrize(("host", "loop"),
                         [("localhost:5000", True), ("127.0.0.1:1", True), ("[::1]:5000", True),
                                            ("127.8.0.1", True), ("10.0.0.1:5000", False),
                                            ("example.com", False)])
def test_loopback(host, loop) -> None:
    assert is_loopback(host) is loop


def test_plain_http_only_for_loopback_or_insecure() -> None:
    assert RegistryClient("127.0.0.1:5000")._schemes() == ["https", "http"]
    assert RegistryClient("registry.example.com")._schemes() == ["https"]
    assert RegistryClient("registry.example.com", insecure=True)._schemes() == ["https", "http"]


def test_challenge_parse() -> None:
    ch = auth.parse_challenge('Bearer realm="https://auth.example/token",service="reg",scope="repository:a:pull,push"')
    assert ch.scheme == "bearer" and ch.params == {"realm": "https://auth.example/token", "service": "reg",
                                                   "scope": "repository:a:pull,push"}
    assert auth.parse_challenge('Basic realm="x"').scheme == "basic"
    assert auth.parse_challenge("") is None


def test_retry_after_forms() -> None:
    assert _parse_retry_after("3") == 3.0
    assert _parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert _parse_retry_after("garbage") == 0.0


def _config(tmp_path, data: dict):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    return path


def test_config_auths_forms(tmp_path) -> None:
    b64 = base64.b64encode(b"u1:p:with:colons").decode()
    path = _config(tmp_path, {"auths": {"reg.example:5000": {"auth": b64},
                                        "https://other.example": {"username": "u2", "password": "p2"},
                                        "https://index.docker.io/v1/": {
                                            "auth": base64.b64encode(b"hub:pw").decode()}}})
    assert auth.from_docker_config("reg.example:5000", path) == auth.Credentials("u1", "p:with:colons")
    assert auth.from_docker_config("other.example", path) == auth.Credentials("u2", "p2")
    assert auth.from_docker_config("docker.io", path) == auth.Credentials("hub", "pw")
    assert auth.from_docker_config("unknown.example", path) is None
    assert "p:with:colons" not in repr(auth.from_docker_config("reg.example:5000", path))


def _helper(tmp_path, monkeypatch, name: str, body: str) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    script = bindir / f"docker-credential-{name}"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")


def test_cred_helpers_and_store(tmp_path, monkeypatch) -> None:
    _helper(tmp_path, monkeypatch, "one",
            'read s; echo "{\\"Username\\":\\"h1\\",\\"Secret\\":\\"s-$s\\"}"\n')
    _helper(tmp_path, monkeypatch, "store",
            'read s; echo "credentials not found in native keychain"; exit 1\n')
    path = _config(tmp_path, {"credHelpers": {"a.example": "one"}, "credsStore": "store",
                              "auths": {"b.example": {}}})
    assert auth.from_docker_config("a.example", path) == auth.Credentials("h1", "s-a.example")
    assert auth.from_docker_config("b.example", path) is None  # store has none for it


def test_broken_helper_is_an_auth_error_without_secrets(tmp_path, monkeypatch) -> None:
    _helper(tmp_path, monkeypatch, "bad", "echo not-json-secret-xyz\n")
    path = _config(tmp_path, {"credHelpers": {"a.example": "bad", "c.example": "missing"}})
    with pytest.raises(RegistryAuthError) as info:
        auth.from_docker_config("a.example", path)
    assert "secret-xyz" not in str(info.value)
    with pytest.raises(RegistryAuthError, match="not installed"):
        auth.from_docker_config("c.example", path)


def test_credentials_never_go_to_a_plain_http_token_realm_elsewhere() -> None:
    """A registry may name any token service; sending the password there over plain HTTP to another host
    would leak it, so that is refused (loopback realms, or --insecure, are allowed)."""
    import httpx

    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.url.host}{request.url.path}")
        if request.url.host == "auth.example.com":
            return httpx.Response(200, json={"token": "t"})
        return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer realm="http://auth.example.com/token",service="r"'})

    client = RegistryClient("127.0.0.1:5999", credentials=auth.Credentials("u", "pw-xyz"), backoff=0)
    client._http = httpx.Client(transport=httpx.MockTransport(handler))
    with pytest.raises(RegistryAuthError, match="plain HTTP") as info:
        client.request("GET", "/v2/a/manifests/latest", scope="repository:a:pull")
    assert "pw-xyz" not in str(info.value)
    assert not any(s.startswith("auth.example.com") for s in seen)
    trusting = RegistryClient("127.0.0.1:5999", credentials=auth.Credentials("u", "pw-xyz"),
                              insecure=True, backoff=0)
    trusting._http = httpx.Client(transport=httpx.MockTransport(handler))
    with pytest.raises(RegistryAuthError, match="rejected the token"):  # the mock never accepts the token
        trusting.request("GET", "/v2/a/manifests/latest", scope="repository:a:pull")
    assert "auth.example.com/token" in seen


def test_pull_to_a_file_is_a_usage_error(tmp_path, cli) -> None:
    target = tmp_path / "afile"
    target.write_text("x")
    result = cli("pull", "docker://127.0.0.1:1/a:b", "--to", str(target), "--store", str(tmp_path / "s"))
    assert result.exit_code == 2 and "not a directory" in result.output
    assert target.read_text() == "x"


def test_incoming_blob_is_read_while_written_and_only_a_verified_attempt_counts(tmp_path) -> None:
    import hashlib
    import threading

    from falmigrate.errors import IntegrityError
    from falmigrate.oci.remote.store import Incoming, Store, Superseded
    from tests.helpers.wait import wait_until

    store = Store(tmp_path / "store")
    data = bytes(range(256)) * 4096  # 1 MiB
    digest = "sha256:" + hashlib.sha256(data).hexdigest()

    def in_step(payload: bytes, got: bytearray):
        """The payload in 64 KiB chunks, each handed to the writer once the reader has every byte
        written before it: the reader reads while the blob is written, however fast either thread runs."""
        for i in range(0, len(payload), 65536):
            wait_until(lambda i=i: len(got) >= i, timeout=30,
                       what=f"the reader to reach byte {i}", interval=0.001)
            yield payload[i:i + 65536]

    # a corrupted first attempt: the reader following it is superseded, and it was not verified
    incoming = Incoming()
    bad = bytearray(data)
    bad[-1] ^= 0xFF
    got = bytearray()
    writer = threading.Thread(target=lambda: pytest.raises(IntegrityError, store.write_blob, digest,
                                                           in_step(bytes(bad), got), len(data),
                                                           incoming=incoming))
    writer.start()
    reader = incoming.open()
    with pytest.raises(Superseded):
        while chunk := reader.read(100_000):
            got += chunk
    writer.join()
    assert not incoming.verified(reader) and not store.has_blob(digest)
    assert bytes(got) == bytes(bad[:len(got)])  # it only ever saw bytes that had been written
    # the retry: read while written, same bytes, verified. The reader is opened once the retry has
    # begun: one opened in between follows the failed attempt and is superseded (pull then unpacks
    # from the stored blob instead), which the first half already covers.
    begun = threading.Event()
    got = bytearray()

    def announced(payload: bytes):
        begun.set()  # the first chunk is asked for after write_blob announced the new attempt
        yield from in_step(payload, got)

    writer = threading.Thread(target=store.write_blob, args=(digest, announced(data), len(data)),
                              kwargs={"incoming": incoming})
    writer.start()
    assert begun.wait(10)
    reader = incoming.open()
    while chunk := reader.read(100_000):
        got += chunk
    writer.join()
    assert bytes(got) == data and incoming.verified(reader) and store.has_blob(digest)
    # already stored: the reader opens the stored blob
    again = Incoming()
    store.write_blob(digest, [data], len(data), incoming=again)
    late = again.open()
    assert b"".join(iter(lambda: late.read(1 << 20), b"")) == data
    assert again.verified(late)


def test_push_of_an_unpacked_source_points_at_pack(tmp_path, cli) -> None:
    result = cli("push", f"docker-archive:{tmp_path / 'x.tar'}", "docker://127.0.0.1:1/a:b")
    assert result.exit_code == 2 and "falmigrate pack docker-archive:" in result.output
