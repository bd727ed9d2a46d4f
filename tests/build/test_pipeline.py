"""``falmigrate build`` end to end on the real engine and registry: a converted fixture is built on
the local base image, repacked as FlashPack into an OCI layout, validated (ours and skopeo), pushed, pulled
back by podman and by our client; it runs on the Docker engine; a one-line code change repacks and uploads
only the code layer; ``--update-app`` points pyproject.toml at the pushed digest.

One engine build is shared per module (builds cost tens of seconds on vfs); later builds of the
same Dockerfile hit the engine's build cache.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from falmigrate.cli.app import app
from falmigrate.oci import mediatypes

pytestmark = [pytest.mark.engine, pytest.mark.registry, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]


def _fixture_input() -> Path:
    for platform in ("cog", "docker", "runpod", "modal"):
        for case in sorted((REPO_ROOT / "fixtures" / platform).glob("*/input")):
            return case
    raise AssertionError("no fixture under fixtures/")


def run_build(args: list[str], docker_host: str) -> dict:
    result = CliRunner().invoke(app, ["build", *args, "--json"], env={"DOCKER_HOST": docker_host},
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def app_out(tmp_path_factory) -> Path:
    from falmigrate.convert import convert, write_output

    out = tmp_path_factory.mktemp("app") / "out"
    write_output(convert(_fixture_input()), out)
    assert (out / "Dockerfile").is_file() and (out / "fal_app.py").is_file()
    return out


@pytest.fixture(scope="module")
def repo(registry) -> str:
    return f"{registry}/build-e2e/{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def layout(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("layout") / "oci"


@pytest.fixture(scope="module")
def flashpack(app_out, docker_host, fal_base_image, repo, layout, tmp_path_factory) -> dict:
    profile_out = tmp_path_factory.mktemp("profile") / "startup.txt"
    report = run_build([str(app_out), "--base-image", fal_base_image, "--network", "host", "--tag",
                        f"{repo}:v1",
                        "--push", "--layout", str(layout), "--profile",  # default: the entry points' setup()
                        "--profile-out", str(profile_out)], docker_host)
    report["profile_out"] = str(profile_out)
    return report


def test_report_layout_and_validate(flashpack, layout):
    from falmigrate.oci.validate import validate

    assert flashpack["ok"] and flashpack["digest"].startswith("sha256:")
    assert flashpack["builder"] == "engine-sdk"
    assert len(flashpack["layers"]) >= 3  # base rootfs + dependency step(s) + the app's code
    assert all(layer["media_type"] == mediatypes.OCI_LAYER_ZSTD for layer in flashpack["layers"])
    assert all(any("zstd-chunked" in key for key in layer["annotations"]) for layer in flashpack["layers"])
    assert set(flashpack["timings"]) >= {"build", "export", "pack", "push", "profile"}
    validate(layout)
    inspected = subprocess.run(["skopeo", "inspect", f"oci:{layout}:{flashpack['layout_tag']}"],
                               capture_output=True, text=True, check=True)
    assert json.loads(inspected.stdout)["Digest"] == flashpack["digest"]


def test_startup_profile_recorded(flashpack):
    assert flashpack["startup_profile"]["files"] > 0
    paths = Path(flashpack["profile_out"]).read_text().splitlines()
    assert any(p.endswith("/fal_app.py") for p in paths)  # read from the image's workdir
    assert any(p.startswith("/usr/bin/python3") for p in paths)
    # loaded like a runner does
    assert any("/site-packages/fal/" in p or "/dist-packages/fal/" in p for p in paths)


def test_podman_pulls_the_pushed_image(flashpack, repo, tmp_path):
    reference = f"{repo}@{flashpack['digest']}"
    runroot = Path(tempfile.mkdtemp(prefix="fm-podman-", dir="/tmp"))  # podman wants a short runroot
    base = ["podman", "--root", str(tmp_path / "root"), "--runroot", str(runroot), "--storage-driver", "vfs"]
    pulled = subprocess.run([*base, "pull", "--tls-verify=false", f"docker://{reference}"],
                            check=False, capture_output=True, text=True, timeout=600)
    assert pulled.returncode == 0, pulled.stderr
    inspected = json.loads(subprocess.run([*base, "image", "inspect", reference], capture_output=True,
                                          text=True, check=True).stdout)[0]
    assert inspected["RootFS"]["Layers"] == [layer["diff_id"] for layer in flashpack["layers"]]
    subprocess.run([*base, "rmi", "-a", "-f"], check=False, capture_output=True)
    shutil.rmtree(runroot, ignore_errors=True)


def test_our_client_pulls_it_back(flashpack, repo, tmp_path):
    from falmigrate.oci.remote.transport import pull_to_layout

    target = tmp_path / "pulled"
    pull_to_layout(f"docker://{repo}@{flashpack['digest']}", target)
    index = json.loads((target / "index.json").read_text())
    assert index["manifests"][0]["digest"] == flashpack["digest"]


def test_gzip_variant_runs_on_docker(app_out, docker_host, docker_client, fal_base_image, repo, tmp_path):
    report = run_build([str(app_out), "--base-image", fal_base_image, "--network", "host", "--compression",
                        "gzip",
                        "--tag", f"{repo}-gzip:v1", "--push", "--layout", str(tmp_path / "oci")], docker_host)
    assert all(layer["media_type"] == mediatypes.OCI_LAYER_GZIP for layer in report["layers"])
    reference = f"{repo}-gzip@{report['digest']}"
    docker_client.images.pull(reference)
    # what fal's runtime needs (curl, fal importable), the app's files, Python
    script = "import fal, os, sys; print(sys.version_info[0], sorted(os.listdir('.')))"
    listing = docker_client.containers.run(
        reference, ["sh", "-c", f'command -v curl >/dev/null && python3 -c "{script}"'],
        entrypoint=[], remove=True, network_mode="none",
    ).decode()
    assert listing.startswith("3 ")
    assert "'fal_app.py'" in listing
    for name in sorted(p.name for p in app_out.iterdir()):
        assert repr(name) in listing
    docker_client.images.remove(reference, force=True)


def test_code_change_repacks_and_uploads_only_the_code_layer(app_out, flashpack, docker_host, fal_base_image,
                                                             repo,
                                                              layout, registry_log, tmp_path):
    changed = tmp_path / "out"
    shutil.copytree(app_out, changed)
    with (changed / "fal_app.py").open("a") as handle:
        handle.write(f"# one more line {uuid.uuid4().hex}\n")  # unique: no registry holds this layer yet
    log_mark = registry_log.stat().st_size
    report = run_build([str(changed), "--base-image", fal_base_image, "--network", "host", "--tag",
                        f"{repo}:v2", "--push", "--layout", str(layout), "--update-app", str(changed),
                        # same profile: cache hits
                        "--startup-profile", flashpack["profile_out"]], docker_host)
    old, new = flashpack["layers"], report["layers"]
    assert len(old) == len(new)
    assert [layer["digest"] for layer in new[:-1]] == [layer["digest"] for layer in old[:-1]]
    assert new[-1]["diff_id"] != old[-1]["diff_id"]
    assert [layer["reused"] for layer in new] == [True] * (len(new) - 1) + [False]
    code_layer = new[-1]["size"]
    assert report["push"]["bytes_sent"] >= code_layer
    assert report["push"]["bytes_sent"] < code_layer + 64 * 1024  # + config + manifest, no other layer
    with registry_log.open("rb") as handle:
        handle.seek(log_mark)
        new_log = handle.read().decode(errors="replace")
    uploads_path = f"/v2/{repo.split('/', 1)[1]}/blobs/uploads/"  # other tests may push at the same time
    finished_uploads = [line for line in new_log.splitlines()
                        if 'msg="response completed"' in line and "http.request.method=PUT" in line
                        and uploads_path in line]
    assert len(finished_uploads) == 2  # the code layer and the new config
    text = (changed / "pyproject.toml").read_text()
    assert f"{repo}@{report['push']['digest']}" in text or f"{repo}@{report['digest']}" in text
    manifest = httpx.get(f"http://{repo.split('/', 1)[0]}/v2/{repo.split('/', 1)[1]}/manifests/v2",
                         headers={"Accept": mediatypes.MANIFEST_ACCEPT}, timeout=30)
    assert manifest.status_code == 200
    assert manifest.headers["Docker-Content-Digest"] == report["digest"]
