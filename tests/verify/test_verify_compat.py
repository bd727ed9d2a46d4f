"""``falmigrate verify`` for a cog app on the compatibility route, on the real engine.

The source side runs the predictor under cog (offline, in this venv); the fal side is the output's image,
built as ``falmigrate build`` builds it (test base swapped in) and started with its own CMD, called as a
Replicate client calls cog's server: ``POST /predictions`` with ``{"input": …}``, as many at once as fal's
``max_multiplexing`` sends one runner. A changed output (other code, or a server without cog's
prediction slots) makes verify fail.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from falmigrate.cli.app import app
from falmigrate.convert import convert, write_output
from falmigrate.render.dockerfile import UV_IMAGE
from tests.helpers.golden import FIXTURES, fixture_request
from tests.helpers.images import ensure_uv_image

pytestmark = [pytest.mark.slow]

CASE = FIXTURES / "cog-compat" / "async_batcher"


@pytest.fixture(scope="module")
def compat_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("compat") / "out"
    return write_output(convert(CASE / "input", "cog", request=fixture_request(CASE)), out)


def _verify(out: Path, docker_host: str, fal_base_image: str, uv_image: str) -> tuple[int, dict]:
    result = CliRunner().invoke(app, [
        "verify", str(CASE / "input"), str(out), "--cases", str(CASE / "cases.json"), "--json",
        "--base-image", fal_base_image, "--replace-image", f"{UV_IMAGE}={uv_image}", "--network", "host",
    ], env={"DOCKER_HOST": docker_host}, catch_exceptions=False)
    return result.exit_code, json.loads(result.stdout)


def test_verify_calls_the_image_like_a_replicate_client(compat_out, docker_client, docker_host,
                                                        fal_base_image):
    code, report = _verify(compat_out, docker_host, fal_base_image, ensure_uv_image(docker_client))
    assert code == 0 and report["ok"], json.dumps(report, indent=1)
    rows = {row["name"]: row for row in report["cases"]}
    assert rows["en_1"]["fal"] == {"score": 5, "words": 3, "language": "en"}
    assert rows["bad_language"]["fal"]["kind"] == "refused" == rows["bad_language"]["source"]["kind"]


@pytest.mark.parametrize("change", ["weights", "slots"])
def test_verify_fails_when_the_image_answers_differently(change, compat_out, tmp_path, docker_client,
                                                         docker_host, fal_base_image):
    out = Path(shutil.copytree(compat_out, tmp_path / "out"))
    if change == "weights":  # other code or data in the image: other answers
        (out / "keywords.json").write_text(json.dumps({"en": {"fast": 1}, "de": {}}))
    else:  # cog's server with one prediction slot: fal's multiplexed requests get 409 Conflict
        dockerfile = out / "Dockerfile"
        text = dockerfile.read_text()
        assert "ENV COG_MAX_CONCURRENCY=8\n" in text  # two slots for each of fal's 4 requests at once
        dockerfile.write_text(text.replace("ENV COG_MAX_CONCURRENCY=8\n", ""))
    code, report = _verify(out, docker_host, fal_base_image, ensure_uv_image(docker_client))
    assert code == 1 and not report["ok"]
    failed = [row for row in report["cases"] if not row["equal"]]
    assert failed
    if change == "slots":
        assert any(row["fal"].get("error") == "HTTP 409" for row in failed), json.dumps(failed, indent=1)
