"""The converted Docker-server project builds on the real engine and its server runs from the image the
way the generated app starts it (SERVER_COMMAND in SERVER_DIR), answering its health route."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from falmigrate.convert import convert, write_output

pytestmark = [pytest.mark.engine, pytest.mark.slow]

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "docker"


def test_http_server_image_runs_the_server(tmp_path, docker_client, fal_base_image):
    out = write_output(convert(FIXTURES / "http_server" / "input", "docker"), tmp_path / "out")
    dockerfile = (out / "Dockerfile").read_text()
    (out / "Dockerfile.test").write_text(re.sub(r"^FROM \S+", f"FROM {fal_base_image}", dockerfile, count=1, flags=re.MULTILINE))
    image, _ = docker_client.images.build(path=str(out), dockerfile="Dockerfile.test", network_mode="none", rm=True)
    image_id = image.id
    code = (out / "fal_app.py").read_text()
    command = json.loads(re.search(r"^SERVER_COMMAND = (.*)$", code, re.MULTILINE).group(1))
    server_dir = re.search(r'"FALMIGRATE_SERVER_DIR", "([^"]+)"', code).group(1)
    port = re.search(r'"FALMIGRATE_SERVER_PORT", "(\d+)"', code).group(1)
    health = json.loads(re.search(r"^HEALTH_PATH = (.*)$", code, re.MULTILINE).group(1))
    start = " ".join(command).replace("{port}", port).replace("python ", "python3 ", 1)
    probe = (f"cd {server_dir} && PORT={port} {start} & sleep 2; python3 -c \"import urllib.request as u; "
             f"print(u.urlopen('http://127.0.0.1:{port}{health}').read().decode())\"")
    output = docker_client.containers.run(image_id, ["sh", "-c", probe], entrypoint=[], remove=True,
                                          network_mode="none").decode()
    assert json.loads(output.strip().splitlines()[-1]) == {"status": "up"}
    docker_client.images.remove(image_id, force=True)
