"""A rendered Dockerfile builds on the real engine on the plain Debian bookworm + python3 base, and the
image holds the project's code in /app with the spec's ENV, ready to run the handler."""

from __future__ import annotations

import pytest

from falmigrate.convert import ConvertResult, write_output
from falmigrate.render import render_files
from falmigrate.spec import ImageSpec, RunStep
from tests.helpers.specs import PREDICT_PY, echo_spec

pytestmark = pytest.mark.engine


def test_rendered_dockerfile_builds_and_runs(docker_client, fal_base_image, tmp_path):
    spec = echo_spec(image=ImageSpec(
        base=fal_base_image, requirements_file="requirements.txt",
        run_steps=[RunStep(command="mkdir -p /opt/marker\necho built > /opt/marker/ok")],
        env={"GREETING": "hello world"}, exposed_port=8080))
    result = ConvertResult(spec=spec, files=render_files(spec, None),
                           sources={"predict.py": PREDICT_PY.encode(),
                                    "requirements.txt": b"# no packages\n"})
    out = write_output(result, tmp_path / "out")
    image, _ = docker_client.images.build(path=str(out), rm=True, forcerm=True, network_mode="none")
    try:
        script = ("import os, predict; p = predict.Predictor(); p.setup(); "
                  "print(p.predict('ab', 2), os.environ['GREETING'], open('/opt/marker/ok').read().strip())")
        output = docker_client.containers.run(image.id, ["python3", "-c", script], remove=True,
                                              network_mode="none")
        assert output.decode().strip() == "abab! hello world built"
        # fal's runtime needs: curl, and fal (installed last) importable by the image's python3
        runtime = docker_client.containers.run(
            image.id,
            ["sh", "-c", "command -v curl && python3 -c 'import fal, pydantic; print(pydantic.VERSION)'"],
            remove=True, network_mode="none")
        assert runtime.decode().split()[1].startswith("2.")
        listing = docker_client.containers.run(image.id, ["ls", "/app"], remove=True, network_mode="none")
        assert set(listing.decode().split()) >= {"Dockerfile", "fal_app.py", "predict.py", "requirements.txt"}
        config = image.attrs["Config"]
        assert config["WorkingDir"] == "/app" and "8080/tcp" in config["ExposedPorts"]
        assert "PIP_BREAK_SYSTEM_PACKAGES=1" in config["Env"]
    finally:
        docker_client.images.remove(image.id, force=True)
