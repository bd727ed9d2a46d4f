"""Every RunPod fixture's generated image builds on the real engine and works the way fal uses it.

The fixture's RunPod/Docker Hub base is swapped for a local stand-in (``runpod_base``) with the
function ``falmigrate build --base-image`` uses; builds run with the host network but install
offline from the stand-in's wheelhouse. An entry-point app is then imported the way fal's runner
imports it — ``importlib.import_module("fal_app")`` from cwd ``/`` with no PYTHONPATH, by the
interpreter the worker runs with — and its ``/`` endpoint answers the fixture's first case exactly as
the converted app does locally. A load-balancing worker's image runs its own server: the health path
and a route answer on the exposed port, and an SSE route streams.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from falmigrate.build.dockerfile import read, replace_base_image
from falmigrate.convert import write_output
from falmigrate.verify import load_cases, run_side
from falmigrate.verify.runners.runpod import SECRET_STAND_IN
from tests.importers.runpod.fixture_env import FIXTURES, convert_fixture, fixture_env
from tests.importers.runpod.runpod_base import ensure_runpod_base

pytestmark = [pytest.mark.engine, pytest.mark.slow]

# The workers with their own image shapes (Dockerfiles kept and patched, launchers, a server): each
# needs the RunPod stand-in base. The template-Dockerfile fixtures build on the generic test base
# (tests/image/test_fixture_images.py, which leaves these out).
NAMES = ["arg_pinned_torch", "hub_dockerfile", "load_balancer", "main_process", "multi_worker",
         "multistage_weights", "secrets_s3", "start_sh_server", "venv_on_path"]
# What fal's runner does with python_entry_point: import the module from site-packages, build the app.
IMPORT_AND_CALL = """
import importlib, json, os, sys
assert os.getcwd() == "/" and "PYTHONPATH" not in os.environ
module = importlib.import_module("fal_app")
app = getattr(module, sys.argv[1])(_allow_init=True)._build_app()
from fastapi.testclient import TestClient
with TestClient(app, raise_server_exceptions=False) as client:
    response = client.post("/", json=json.loads(sys.argv[2]))
    print("RESULT " + json.dumps({"status": response.status_code, "body": response.json()}))
"""
CALL_SERVER = """
import json, sys, time, urllib.request
port, prompt = int(sys.argv[1]), sys.argv[2]
base = f"http://127.0.0.1:{port}"
deadline = time.monotonic() + 60
while True:
    try:
        with urllib.request.urlopen(base + "/ping", timeout=2) as r:
            if r.status == 200:
                break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.2)
body = json.dumps({"prompt": prompt}).encode()
request = urllib.request.Request(base + "/generate", data=body, headers={"Content-Type": "application/json"})
with urllib.request.urlopen(request, timeout=10) as r:
    generated = json.load(r)
with urllib.request.urlopen(base + "/stream?prompt=" + prompt.replace(" ", "+"), timeout=10) as r:
    events = [line for line in r.read().decode().splitlines() if line.startswith("data: ")]
print("RESULT " + json.dumps({"generate": generated, "events": events}))
"""


@pytest.fixture(scope="module")
def runpod_base(docker_client, fal_base_image: str) -> str:
    return ensure_runpod_base(docker_client, fal_base_image)


def _build(docker_client, out: Path, base: str, tag: str) -> None:
    swapped = out.parent / "Dockerfile.swapped"
    swapped.write_text(replace_base_image(read(out / "Dockerfile"), base))
    docker_client.images.build(path=str(out), dockerfile=str(swapped), tag=tag, rm=True, forcerm=True,
                               network_mode="host")


def _result(output: bytes) -> dict:
    line = next(line for line in output.decode().splitlines() if line.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def _check_entry_point(docker_client, tag: str, result, case: dict, expected: object) -> None:
    spec = result.spec
    python = spec.image.dockerfile.python if spec.image.dockerfile else "python3"
    env = {name: SECRET_STAND_IN for name in spec.details.literal_secrets}
    output = docker_client.containers.run(tag, [python, "-c", IMPORT_AND_CALL, spec.class_name,
                                                json.dumps(case["input"])],
                                          working_dir="/", environment=env, remove=True, network_mode="none")
    answer = _result(output)
    assert answer["status"] == 200, answer
    assert answer["body"]["output"] == expected


def _check_server(docker_client, tag: str, result) -> None:
    server = result.spec.server
    container = docker_client.containers.run(tag, detach=True, network_mode="none")
    try:
        code, output = container.exec_run(["python3", "-c", CALL_SERVER, str(server.port),
                                           "fal runs servers"])
        assert code == 0, output.decode()[-2000:]
        answer = _result(output)
    finally:
        container.remove(force=True)
    assert answer["generate"]["generated_text"] == "Response to: fal runs servers"
    assert answer["events"] == ['data: {"token": "fal"}', 'data: {"token": "runs"}',
                                'data: {"token": "servers"}', "data: [DONE]"]


@pytest.mark.parametrize("name", NAMES)
def test_fixture_image_builds_and_answers(name: str, docker_client, runpod_base: str, tmp_path: Path) -> None:
    case_dir = FIXTURES / name
    result = convert_fixture(case_dir)
    out = write_output(result, tmp_path / "out")
    tag = f"runpod-fixtures/{name.replace('_', '-')}:{uuid.uuid4().hex[:10]}"
    _build(docker_client, out, runpod_base, tag)
    try:
        if result.spec.server is not None:
            _check_server(docker_client, tag, result)
            return
        cases = load_cases(case_dir / "cases.json") if (case_dir / "cases.json").is_file() else [
            {"name": "example", "endpoint": "/", "method": "POST",
             "input": result.spec.endpoints[0].examples[0]}]
        case = cases[0]
        with fixture_env(case_dir, tmp_path / "env"):
            expected = run_side("fal", out, result.spec, [case],
                                env={n: SECRET_STAND_IN for n in result.spec.details.literal_secrets})[0]
        _check_entry_point(docker_client, tag, result, case, expected)
    finally:
        docker_client.images.remove(tag, force=True)
