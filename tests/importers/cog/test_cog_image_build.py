"""The Dockerfile of a converted cog project, built by ``falmigrate build`` on the real engine: the steps
run in cog's order and cog's conditions (``environment`` set during the build, ``build.run`` in the
base image's directory, a BuildKit secret readable in its step only, ``pre_install`` after ``run``),
the final image works in /src, the secret is in no layer, and the project's code is the last layer."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from falmigrate.cli.app import app as cli_app
from falmigrate.convert import convert, write_output

pytestmark = [pytest.mark.engine, pytest.mark.slow]

SECRET = "s3cr3t-token-value"
COG_YAML = """\
build:
  python_version: "3.11"
  pre_install:
    - "echo pre >> /order.txt"
  run:
    - "echo run1 $MODEL_NAME $(pwd) >> /order.txt"
    - command: "echo run2 $(wc -c < /run/secrets/tok) >> /order.txt"
      mounts:
        - type: secret
          id: tok
          target: /run/secrets/tok
environment:
  - "MODEL_NAME=tiny"
predict: "predict.py:Predictor"
"""
PREDICT = """\
from cog import BasePredictor, Input


class Predictor(BasePredictor):
    def predict(self, text: str = Input(default="hi")) -> str:
        return text
"""


def test_converted_cog_dockerfile_builds_in_cogs_order(tmp_path: Path, docker_host: str,
                                                       fal_base_image: str) -> None:
    import docker

    src = tmp_path / "src"
    src.mkdir()
    (src / "cog.yaml").write_text(COG_YAML)
    (src / "predict.py").write_text(textwrap.dedent(PREDICT))
    out = tmp_path / "out"
    write_output(convert(src, "cog"), out)
    secret = tmp_path / "tok.txt"
    secret.write_text(SECRET)
    tag = f"falmigrate-test/cog-order:{tmp_path.name[-12:].lower()}"
    result = CliRunner().invoke(
        cli_app, ["build", str(out), "--base-image", fal_base_image, "--network", "host", "--secret",
                  f"id=tok,src={secret}", "--tag", tag, "--layout", str(tmp_path / "layout"), "--json"],
        env={"DOCKER_HOST": docker_host}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    report = json.loads(result.stdout)
    client = docker.DockerClient(base_url=docker_host)
    try:
        shown = client.containers.run(tag,
                                      ["sh", "-c", "cat /order.txt; pwd; ls -A /run/secrets 2>/dev/null"],
                                      remove=True, network_mode="none").decode().split("\n")
        image = client.images.get(tag)
        history = [h.get("CreatedBy", "") for h in image.history()]
        saved = b"".join(image.save())
    finally:
        client.images.remove(tag, force=True)
        client.close()
    assert shown[:4] == ["run1 tiny /", f"run2 {len(SECRET)}", "pre", "/src"]
    assert shown[4:] == [""]  # nothing left in /run/secrets
    assert SECRET.encode() not in saved
    assert history[0].startswith("COPY . /src")  # the code is the last layer
    assert report["layers"][-1]["size"] < 64 * 1024  # … and only the code (a small layer)


_CURL_PROBE = r'''
import importlib, json, os
from fastapi.testclient import TestClient
module = importlib.import_module("fal_app")  # from cwd / with no PYTHONPATH, as fal's runner does
with TestClient(module.Predictor(_allow_init=True)._build_app()) as client:
    answer = client.post("/", json={"title": "Crème Brûlée: A Short History"})
print(json.dumps([answer.status_code, answer.json(), sorted(os.listdir("/opt/licenses")),
                  sorted(os.listdir("/opt/wheels"))]))
'''


def test_run_steps_using_curl_and_wget_build_and_the_app_answers(tmp_path: Path, docker_host: str,
                                                                  fal_base_image: str) -> None:
    """The run_curl fixture: its build.run steps call curl and wget, which the converted Dockerfile
    installs before them (cog's base image has them, a slim or swapped base does not)."""
    import docker

    fixtures = Path(__file__).resolve().parents[3] / "fixtures" / "cog"
    out = tmp_path / "out"
    write_output(convert(fixtures / "run_curl" / "input", "cog"), out)
    tag = f"falmigrate-test/cog-run-curl:{tmp_path.name[-12:].lower()}"
    result = CliRunner().invoke(
        cli_app, ["build", str(out), "--base-image", fal_base_image, "--network", "host", "--tag", tag,
                  "--layout", str(tmp_path / "layout"), "--json"], env={"DOCKER_HOST": docker_host},
        catch_exceptions=False)
    assert result.exit_code == 0, result.output
    client = docker.DockerClient(base_url=docker_host)
    try:
        shown = client.containers.run(tag, ["python3", "-c", _CURL_PROBE], working_dir="/", remove=True,
                                      network_mode="none").decode().strip().splitlines()[-1]
    finally:
        client.images.remove(tag, force=True)
        client.close()
    status, answer, licenses, wheels = json.loads(shown)
    assert status == 200 and answer == {"output": "creme-brulee-a-short-history"}
    assert licenses == ["text-unidecode.txt"] and wheels == ["text_unidecode-1.3-py2.py3-none-any.whl"]
