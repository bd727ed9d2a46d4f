"""Every Docker fixture's output image builds on the real engine (unreachable bases swapped for local
ones) and runs: an image-only app's own CMD/ENTRYPOINT starts the server, which answers its health path
on the exposed port, listens on all interfaces, serves a route and streams SSE where the fixture has a
stream; a ``--native`` app's image imports ``fal_app`` from ``/`` without PYTHONPATH."""

from __future__ import annotations

import json

import pytest

from falmigrate.build.secrets import Secret
from falmigrate.convert import convert, write_output
from tests.importers.docker import images
from tests.importers.docker.conftest import FIXTURES, options, request_of

pytestmark = [pytest.mark.engine, pytest.mark.slow]

ROUTES = {  # fixture -> (a route to call, the JSON it answers (subset), an SSE path)
    "fastapi_uvicorn": (["POST", "/predict", {"text": "ab", "repeat": 2}], {"score": 6}, None),
    "flask_gunicorn": (["POST", "/greet", {"name": "fal"}], None, None),
    "multi_stage": (["POST", "/tokenize", {"text": "A b"}], {"ids": ["tok0", "tok1"]}, None),  # ENV TOKEN_PREFIX
    "http_server": (["POST", "/reverse", {"text": "fal"}], {"reversed": "laf"}, None),
    "entrypoint_script": (["POST", "/convert", {"km": 2}], None, None),
    "dockerdir_from_root": (["POST", "/embed", {"texts": ["a"], "dim": 2}], {"dim": 2}, "/stream?text=a%20b"),
    "spaces_healthcheck_user": (["POST", "/count", {"text": "a b a"}], {"words": 3, "unique": 2},
                                "/stream?text=x%20y%20z"),
    "node_server": (["POST", "/slug", {"text": "Fal Node"}], {"slug": "fal-node"}, "/events?text=A%20B"),
}
IMAGE_ONLY = sorted(c.name for c in FIXTURES.iterdir() if (c / "input").is_dir() and not options(c).get("native"))
NATIVE = sorted(c.name for c in FIXTURES.iterdir() if (c / "input").is_dir() and options(c).get("native"))


def _base(result, client, base_image: str) -> str:
    if result.spec.image.python is None and "python" not in (result.spec.image.base or ""):
        return base_image  # a Debian image without Python (the node server)
    return images.python_slim_base(client, base_image)


def test_every_image_only_fixture_has_a_probe_plan():
    assert sorted(ROUTES) == IMAGE_ONLY


@pytest.mark.parametrize("case", IMAGE_ONLY)
def test_image_runs_its_own_server(case, tmp_path, docker_client, docker_host, fal_base_image, base_image,
                                   monkeypatch):
    result = convert(FIXTURES / case / "input", "docker", request=request_of(FIXTURES / case))
    out = write_output(result, tmp_path / "out")
    secrets = ()
    if result.spec.image.build_secrets:
        monkeypatch.setenv("FM_DOCKER_TEST_SECRET", "not-a-real-token")
        secrets = tuple(Secret(id=s, env="FM_DOCKER_TEST_SECRET") for s in result.spec.image.build_secrets)
    image_id = images.build(out, _base(result, docker_client, base_image), docker_host, docker_client, secrets)
    try:
        route, expected, sse = ROUTES[case]
        server = result.spec.server
        report = images.probe(docker_client, image_id, fal_base_image,
                              {"port": server.port, "health": server.health.path, "route": route, "sse": sse})
    finally:
        docker_client.images.remove(image_id, force=True)
    assert report["health"][0] == 200 and report["all_interfaces"], report
    status, body = report["route"]
    assert status == 200, body
    if expected is not None:
        answer = json.loads(body)
        assert {key: answer.get(key) for key in expected} == expected
    if sse is not None:
        assert len(report["sse"]) >= 2 and report["sse"][0]["index" if case != "dockerdir_from_root" else "i"] == 0


@pytest.mark.parametrize("case", NATIVE)
def test_native_image_imports_the_app_from_anywhere(case, tmp_path, docker_client, docker_host, fal_base_image):
    result = convert(FIXTURES / case / "input", "docker", native=True)
    out = write_output(result, tmp_path / "out")
    image_id = images.build(out, images.python_slim_base(docker_client, fal_base_image), docker_host, docker_client)
    check = (f"import importlib, fal; module = importlib.import_module('fal_app'); "
             f"cls = getattr(module, {result.spec.class_name!r}); print(issubclass(cls, fal.App))")
    try:
        output = docker_client.containers.run(image_id, ["python3", "-c", check], remove=True, working_dir="/",
                                              network_mode="none", environment={"PYTHONPATH": ""})
    finally:
        docker_client.images.remove(image_id, force=True)
    assert output.decode().strip().splitlines()[-1] == "True"
