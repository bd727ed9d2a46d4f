"""Engine side of ``falmigrate build`` on the real engine: errors and exit codes, .dockerignore,
secrets that stay out of the image and the log, streamed export and the startup profile."""

from __future__ import annotations

import gzip
import io
import json
import socket
import tarfile
import tomllib

import httpx
import pytest
from typer.testing import CliRunner

from falmigrate.build import engine, engine_build, export, profile
from falmigrate.build.buildlog import BuildLog
from falmigrate.build.secrets import Redactor, parse_secret
from falmigrate.cli.app import app
from falmigrate.oci.validate import validate
from tests.build.conftest import archive_members, write_context

pytestmark = pytest.mark.engine
SECRET_VALUE = "s3cr3t-Value-4e1f9a"


def _cli(args: list[str], docker_host: str):
    return CliRunner().invoke(app, args, env={"DOCKER_HOST": docker_host}, catch_exceptions=False)


def _no_repo(registry: str, repo: str) -> bool:
    name = repo.split("/", 1)[1]
    return httpx.get(f"http://{registry}/v2/{name}/tags/list", timeout=10).status_code == 404


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again: nothing listens there


@pytest.mark.parametrize("host", ["unix:///nonexistent/docker.sock", "tcp://127.0.0.1:{port}"])
def test_unreachable_engine_exit_10(tmp_path, host):
    host = host.format(port=_closed_port())
    write_context(tmp_path / "app", {"Dockerfile": "FROM scratch\nCOPY . /\n"})
    result = _cli(["build", str(tmp_path / "app"), "--json"], host)
    assert result.exit_code == 10
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "engine"
    assert host.split("://", 1)[1] in error["message"]
    assert "DOCKER_HOST" in error["hint"]


def test_failing_step_exit_11_with_step_and_tail(tmp_path, docker_host, tiny_image, registry, unique_repo):
    write_context(tmp_path / "app", {
        "Dockerfile": (f"FROM {tiny_image}\nRUN echo first-step-ok\n"
                       "RUN echo marker-before-failure && exit 3\n"),
    })
    result = _cli(["build", str(tmp_path / "app"), "--tag", f"{unique_repo}:v1", "--push",
                   "--json"], docker_host)
    assert result.exit_code == 11, result.output
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "build"
    assert error["step"] == "step 3/3: RUN echo marker-before-failure && exit 3"
    assert "marker-before-failure" in error["log_tail"]
    assert "returned a non-zero code: 3" in error["message"]
    assert _no_repo(registry, unique_repo)


def test_syntax_error_exit_11_with_line(tmp_path, docker_host, tiny_image, registry, unique_repo):
    write_context(tmp_path / "app", {"Dockerfile": f"FROM {tiny_image}\nRUN true\nCOPPY . /app\n"})
    result = _cli(["build", str(tmp_path / "app"), "--tag", f"{unique_repo}:v1", "--push"], docker_host)
    assert result.exit_code == 11
    assert "Dockerfile:3" in result.stderr
    assert "unknown instruction: COPPY" in result.stderr
    assert _no_repo(registry, unique_repo)


def test_dockerignore_and_base_image_override(tmp_path, docker_client, docker_host, tiny_image, captured_log):
    context = write_context(tmp_path / "app", {
        "Dockerfile": "FROM does-not-exist/base:1 AS runtime\nCOPY . /app\nRUN ls /app > /listing.txt\n",
        ".dockerignore": "*.log\nprivate/\n",
        "main.py": "print('hi')\n",
        "debug.log": "junk\n",
        "private/key.txt": "nope\n",
    })
    from falmigrate.build import dockerfile

    info = dockerfile.read(context / "Dockerfile")
    edited = tmp_path / "Dockerfile.edited"
    edited.write_text(dockerfile.replace_base_image(info, tiny_image))
    assert edited.read_text().splitlines()[0] == f"FROM {tiny_image} AS runtime"
    client = engine.connect(docker_host)
    log = BuildLog(lambda s: s, "Dockerfile")
    image_id = engine_build.build_with_sdk(client,
                                           engine_build.BuildRequest(context=context, dockerfile=edited), log)
    archive = export.save_image(client, image_id, tmp_path / "out" / "image.tar")
    files = {name.split("!", 1)[1] for name in archive_members(archive) if "!" in name}
    assert "app/main.py" in files
    assert "app/Dockerfile" in files
    assert not any(name.startswith(("app/debug.log", "app/private")) for name in files)
    assert log.steps_seen == 3
    assert any("Step 3/3 : RUN ls /app" in line for line in captured_log.lines)
    docker_client.images.remove(image_id, force=True)


def _file_in_image(client, image_id: str, path: str) -> bytes:
    container = client.containers.create(image_id, ["true"], entrypoint=[], network_mode="none")
    try:
        stream, _ = container.get_archive(path)
        archive = b"".join(stream)
    finally:
        container.remove(force=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        member = tar.extractfile(path.rsplit("/", 1)[-1])
        assert member is not None, f"{path} is not a regular file in {image_id}"
        return member.read()


def test_base_image_replaces_only_the_final_stage(tmp_path, docker_client, docker_host,
                                                  base_image, tiny_image):
    # The builder needs Python (the Debian base), the final stage is meant to be busybox: replacing the
    # first FROM instead would break the builder's RUN and leave the unpullable final base in place.
    context = write_context(tmp_path / "app", {"Dockerfile": (
        f"FROM {base_image} AS builder\n"
        "RUN python3 -c \"open('/artifact', 'w').write('built by python')\"\n"
        "FROM does-not-exist/runtime:1\n"
        "COPY --from=builder /artifact /artifact\n"
        "RUN busybox true && test ! -e /usr/bin/python3\n"
    )})
    result = _cli(["build", str(context), "--base-image", tiny_image, "--compression", "gzip",
                   "--layout", str(tmp_path / "oci"), "--json"], docker_host)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    # the user's file untouched
    assert (context / "Dockerfile").read_text().count("does-not-exist/runtime:1") == 1
    # read from the image's filesystem, not a container's log: the engine may close a log before the
    # last bytes of a short-lived container's output reach it (seen under load)
    assert _file_in_image(docker_client, report["image_id"], "/artifact") == b"built by python"
    # the final stage's image (not the builder's, which has /artifact too): busybox + the COPY layer
    tiny_layers = docker_client.images.get(tiny_image).attrs["RootFS"]["Layers"]
    built_layers = docker_client.images.get(report["image_id"]).attrs["RootFS"]["Layers"]
    assert built_layers[:len(tiny_layers)] == tiny_layers
    assert not set(docker_client.images.get(base_image).attrs["RootFS"]["Layers"]) & set(built_layers)
    assert [layer["diff_id"] for layer in report["layers"]] == built_layers
    validate(tmp_path / "oci")
    docker_client.images.remove(report["image_id"], force=True)


def test_secret_never_in_image_or_log(tmp_path, docker_host, tiny_image, captured_log):
    secret_file = tmp_path / "token.txt"
    secret_file.write_text(SECRET_VALUE)
    context = write_context(tmp_path / "app", {
        "Dockerfile": (
            f"FROM {tiny_image}\n"
            "RUN --mount=type=secret,id=token test \"$(cat /run/secrets/token)\" != '' "
            "&& echo \"the token is $(cat /run/secrets/token)\" && wc -c < /run/secrets/token > /token-size\n"
        ),
    })
    secret = parse_secret(f"id=token,src={secret_file}")
    client = engine.connect(docker_host)
    log = BuildLog(Redactor([secret]), "Dockerfile")
    request = engine_build.BuildRequest(context=context, dockerfile=context / "Dockerfile", secrets=(secret,),
                                        network_mode="host", no_cache=True)
    image_id = engine_build.build_with_cli(request, log, docker_host)
    printed = "\n".join(captured_log.lines)
    assert "the token is ***" in printed
    assert SECRET_VALUE not in printed
    archive = export.save_image(client, image_id, tmp_path / "image.tar")
    members = archive_members(archive)
    token_size = next(n for n in members if n.endswith("!token-size"))
    assert members[token_size].strip() == str(len(SECRET_VALUE)).encode()
    assert SECRET_VALUE.encode() not in archive.read_bytes()
    assert not any(SECRET_VALUE.encode() in data for data in members.values())
    client.remove_image(image_id, force=True)


def test_startup_profile_records_opened_files(docker_client, docker_host, tiny_image):
    client = engine.connect(docker_host)
    paths = profile.profile_startup(client, tiny_image,
                                    command=["sh", "-c", "cat /etc/passwd > /dev/null; sleep 60"], seconds=3)
    assert "/etc/passwd" in paths
    assert "/bin/busybox" in paths or "/bin/sh" in paths
    assert not any(p.startswith(("/proc/", "/.falmigrate-profile")) for p in paths)
    leftovers = docker_client.containers.list(all=True, filters={"label": "falmigrate=profile"})
    assert leftovers == []


@pytest.mark.registry
def test_secret_build_report_and_layout_stay_clean(tmp_path, docker_host, tiny_image,
                                                   unique_repo, monkeypatch):
    monkeypatch.setenv("FM_TEST_TOKEN", SECRET_VALUE)
    context = write_context(tmp_path / "app", {
        "Dockerfile": (f"FROM {tiny_image}\nCOPY hello.txt /hello.txt\n"
                       "RUN --mount=type=secret,id=tok echo \"using $(cat "
                       "/run/secrets/tok)\" && touch /done\n"),
        "hello.txt": "hello\n",
    })
    args = ["build", str(context), "--secret", "id=tok,env=FM_TEST_TOKEN", "--network", "host", "--tag",
            f"{unique_repo}:v1", "--push", "--compression", "gzip", "--layout", str(tmp_path / "oci")]
    shown = CliRunner().invoke(app, [*args, "--no-cache"], env={"DOCKER_HOST": docker_host},
                               catch_exceptions=False)
    assert shown.exit_code == 0, shown.output
    assert "using ***" in shown.stderr
    assert SECRET_VALUE not in shown.stdout + shown.stderr
    result = CliRunner().invoke(app, [*args, "--json"], env={"DOCKER_HOST": docker_host},
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["builder"] == "buildkit-cli"
    assert report["secrets"] == [{"id": "tok", "source": "env"}]
    assert SECRET_VALUE not in result.stdout + result.stderr
    for blob in (tmp_path / "oci" / "blobs" / "sha256").iterdir():
        data = blob.read_bytes()
        assert SECRET_VALUE.encode() not in data
        if data[:2] == b"\x1f\x8b":
            assert SECRET_VALUE.encode() not in gzip.decompress(data)


@pytest.mark.registry
def test_remote_engine_over_tcp(tmp_path, tcp_docker_host, tiny_image, unique_repo, monkeypatch):
    """DOCKER_HOST=tcp://…: the SDK build, the startup profile (copying strace in and the trace out)
    and the BuildKit CLI build for secrets all reach the engine over TCP; the result is pushed."""
    host, relayed = tcp_docker_host
    monkeypatch.setenv("FM_TCP_TOKEN", SECRET_VALUE)
    context = write_context(tmp_path / "app", {
        "Dockerfile": f"FROM {tiny_image}\nCOPY hello.txt /hello.txt\nCMD [\"cat\", \"/hello.txt\"]\n",
        "hello.txt": "hello over tcp\n",
    })
    report = json.loads(_cli(["build", str(context), "--tag", f"{unique_repo}:v1", "--push", "--compression",
                              "gzip",
                              "--layout", str(tmp_path / "oci"), "--profile", "--profile-seconds", "5",
                              "--json"],
                             host).stdout)
    assert report["ok"] and report["builder"] == "engine-sdk"
    assert report["startup_profile"]["files"] > 0 and report["push"]["bytes_sent"] > 0
    validate(tmp_path / "oci")
    sdk_connections = len(relayed)
    assert sdk_connections > 0
    (context / "Dockerfile").write_text(
        f"FROM {tiny_image}\nRUN --mount=type=secret,id=tok test -s /run/secrets/tok && touch /ok\n")
    secret_build = _cli(["build", str(context), "--secret", "id=tok,env=FM_TCP_TOKEN", "--network", "host",
                         "--compression", "gzip", "--layout", str(tmp_path / "oci"), "--json"], host)
    assert secret_build.exit_code == 0, secret_build.output
    assert json.loads(secret_build.stdout)["builder"] == "buildkit-cli"
    assert len(relayed) > sdk_connections  # the docker CLI went through the TCP port too


def test_failing_buildkit_step_masks_the_secret_in_the_error(tmp_path, docker_host, tiny_image, monkeypatch):
    monkeypatch.setenv("FM_FAIL_TOKEN", SECRET_VALUE)
    context = write_context(tmp_path / "app", {"Dockerfile": (
        f"FROM {tiny_image}\n"
        "RUN --mount=type=secret,id=tok echo \"leaking $(cat /run/secrets/tok)\" && exit 7\n"
    )})
    result = _cli(["build", str(context), "--secret", "id=tok,env=FM_FAIL_TOKEN", "--network", "host",
                   "--no-cache", "--json"], docker_host)
    assert result.exit_code == 11, result.output
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "build"
    assert "RUN --mount=type=secret,id=tok" in error["step"]
    assert any("leaking ***" in line for line in error["log_tail"])
    assert SECRET_VALUE not in result.stdout + result.stderr


@pytest.mark.registry
def test_push_to_authenticated_registry_updates_app_without_writing_credentials(tmp_path, docker_host,
                                                                                tiny_image, tls_registry):
    """--push to the TLS + htpasswd registry with credentials from the Docker config (what `docker login`
    writes in CI) and --update-app: pyproject.toml points at the digest and names fal secrets for the
    credentials."""
    import base64

    config_dir = tmp_path / "docker-config"
    config_dir.mkdir()
    token = base64.b64encode(f"{tls_registry.user}:{tls_registry.password}".encode()).decode()
    (config_dir / "config.json").write_text(json.dumps({"auths": {tls_registry.address: {"auth": token}}}))
    context = write_context(tmp_path / "app", {
        "Dockerfile": f"FROM {tiny_image}\nCOPY . /app\n",
        "pyproject.toml": '[tool.fal.apps.app]\npython_entry_point = "fal_app:App"\n'
                          'image = { dockerfile = "Dockerfile" }\n',
    })
    repo = f"{tls_registry.address}/build-tests/auth-{socket.gethostname()[:8].lower()}"
    result = CliRunner().invoke(
        app,
        ["build", str(context), "--tag", f"{repo}:v1", "--push", "--ca", tls_registry.ca, "--compression",
              "gzip", "--layout", str(tmp_path / "oci"), "--update-app", str(context), "--json"],
        env={"DOCKER_HOST": docker_host, "DOCKER_CONFIG": str(config_dir)}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["push"]["authenticated"] is True
    text = (context / "pyproject.toml").read_text()
    image = tomllib.loads(text)["tool"]["fal"]["apps"]["app"]["image"]
    assert image == {"image": f"{repo}@{report['digest']}", "registries": {tls_registry.address: {
        "username": "$FAL_IMAGE_REGISTRY_USERNAME", "password": "$FAL_IMAGE_REGISTRY_PASSWORD"}}}
    assert tls_registry.password not in text and token not in text and tls_registry.user not in text
    assert tls_registry.password not in result.stdout + result.stderr
