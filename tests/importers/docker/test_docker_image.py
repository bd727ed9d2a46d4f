"""On the real engine, what the in-image fixture checks (tests/image) do not cover for Docker servers:
the bind patch really makes the image's server listen on all interfaces (fal reaches it from outside
the container), and a ``--native`` app's image imports ``fal_app`` from ``/`` without PYTHONPATH."""

from __future__ import annotations

import json

import pytest

from falmigrate.convert import convert, write_output
from tests.helpers.images import build_output
from tests.importers.docker import images
from tests.importers.docker.conftest import FIXTURES, options, request_of

pytestmark = [pytest.mark.engine, pytest.mark.slow]

NATIVE = sorted(c.name for c in FIXTURES.iterdir() if (c / "input").is_dir() and options(c).get("native"))


def test_patched_command_listens_on_all_interfaces(tmp_path, docker_client, fal_base_image, base_image):
    case = FIXTURES / "dockerdir_from_root"
    result = convert(case / "input", "docker", request=request_of(case))
    assert result.spec.image.dockerfile.edits  # uvicorn without --host: the CMD is patched
    out = write_output(result, tmp_path / "out")
    tag = "falmigrate-test/docker-bind-check:latest"
    build_output(docker_client, out, fal_base_image, tag, spec=result.spec, plain_base=base_image)
    try:
        server = result.spec.server
        report = images.probe(docker_client, tag, fal_base_image, {
            "port": server.port, "health": server.health.path,
            "route": ["POST", "/embed", {"texts": ["a"], "dim": 2}]})
    finally:
        docker_client.images.remove(tag, force=True)
    assert report["health"][0] == 200 and report["all_interfaces"], report
    assert report["route"][0] == 200 and json.loads(report["route"][1])["dim"] == 2


@pytest.mark.parametrize("case", NATIVE)
def test_native_image_imports_the_app_from_anywhere(case, tmp_path, docker_client,
                                                    fal_base_image, base_image):
    result = convert(FIXTURES / case / "input", "docker", native=True)
    out = write_output(result, tmp_path / "out")
    tag = f"falmigrate-test/docker-native-{case.replace('_', '-')}:latest"
    build_output(docker_client, out, fal_base_image, tag, spec=result.spec, plain_base=base_image)
    check = (f"import importlib, fal; module = importlib.import_module('fal_app'); "
             f"cls = getattr(module, {result.spec.class_name!r}); print(issubclass(cls, fal.App))")
    try:
        output = docker_client.containers.run(tag, ["python3", "-c", check], remove=True, working_dir="/",
                                              entrypoint=[], network_mode="none",
                                              environment={"PYTHONPATH": ""})
    finally:
        docker_client.images.remove(tag, force=True)
    assert output.decode().strip().splitlines()[-1] == "True"
