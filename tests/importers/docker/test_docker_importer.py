"""The Docker importer on the fixtures and on bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from falmigrate.errors import SourceError
from falmigrate.importers import detect
from falmigrate.importers.dockerfile import DockerImporter

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "docker"

EXPECTED = {
    "fastapi_uvicorn": ("uvicorn", 8000, "/health", "", ["uvicorn", "main:app", "--host", "0.0.0.0", "--port", "{port}"]),
    "flask_gunicorn": ("gunicorn", 5000, "/healthz", "",
                       ["/bin/sh", "-c", "gunicorn --workers $WORKERS --bind 0.0.0.0:{port} app:app"]),
    "multi_stage": ("uvicorn", 8081, "/ready", "src",
                    ["python", "-m", "uvicorn", "api.service:app", "--host", "0.0.0.0", "--port", "{port}"]),
    "http_server": ("python", 9000, "/health", "", ["python", "server.py"]),
    "entrypoint_script": ("flask", 7000, "/ping", "",
                          ["/bin/sh", "./docker-entrypoint.sh", "flask", "run", "--host", "0.0.0.0", "--port", "{port}"]),
}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_fixture_server(case):
    spec = DockerImporter().load(FIXTURES / case / "input")
    kind, port, health, sub, command = EXPECTED[case]
    assert spec.source.platform == "docker" and spec.source.root == "."
    assert (spec.server.kind, spec.server.port, spec.server.health_path) == (kind, port, health)
    assert spec.server.command == command
    assert spec.details.server_dir == sub
    assert spec.image.exposed_port == port


def test_fastapi_fixture_image_and_routes():
    spec = DockerImporter().load(FIXTURES / "fastapi_uvicorn" / "input")
    assert spec.image.base == "python:3.11-slim" and spec.image.python == "3.11"
    assert spec.image.requirements_file == "requirements.txt"
    assert spec.image.env == {"MODEL_SCALE": "3"}
    assert [(e.method, e.path, e.handler) for e in spec.endpoints] == [
        ("GET", "/health", "health"), ("POST", "/predict", "predict"), ("GET", "/items/{item_id}", "item"),
        ("GET", "/count", "count")]
    assert spec.server.native_module == "main:app"
    assert spec.findings == []


def test_flask_fixture_keeps_build_steps():
    spec = DockerImporter().load(FIXTURES / "flask_gunicorn" / "input")
    image = spec.image
    assert image.system_packages == ["curl"]
    assert image.python_requirements == ["flask==3.*", "gunicorn"]
    assert [s.command for s in image.run_steps] == ["useradd --create-home worker && mkdir -p /srv/data"]
    assert image.workdir == "/srv/app" and image.env == {"GREETING": "hello", "WORKERS": "2"}


def test_multi_stage_keeps_build_stage_and_copy_from():
    spec = DockerImporter().load(FIXTURES / "multi_stage" / "input")
    stages = spec.image.build_stages
    assert len(stages) == 1 and stages[0].startswith("FROM python:3.11-slim AS builder\n")
    assert "--prefix=/install" in stages[0]
    assert spec.image.dockerfile_extra == ["COPY --from=builder /install /usr/local"]
    assert spec.image.env["APP_PORT"] == "8080"
    assert spec.server.native_module == "src.api.service:app"


def test_entrypoint_fixture_runs_its_script_and_later_steps():
    spec = DockerImporter().load(FIXTURES / "entrypoint_script" / "input")
    assert spec.details.via == "docker-entrypoint.sh"
    # needs the code: the code is copied in before it
    assert spec.image.dockerfile_extra == ["COPY . /opt/service", "RUN chmod +x docker-entrypoint.sh"]


def test_detect_prefers_dockerfiles_with_a_command(project):
    assert DockerImporter().detect(FIXTURES / "fastapi_uvicorn" / "input") == 0.5
    assert DockerImporter().detect(project({"Dockerfile": "FROM x\n"})) == 0.2
    assert isinstance(detect(FIXTURES / "http_server" / "input"), DockerImporter)


def test_no_dockerfile(project):
    with pytest.raises(SourceError, match="no Dockerfile"):
        DockerImporter().load(project({"app.py": "print(1)\n"}))


def test_broken_dockerfile_points_at_the_line(project):
    root = project({"Dockerfile": "FROM python:3.11\nRUN pip install x\nCOPY . .\nCDM python app.py\n"})
    with pytest.raises(SourceError) as info:
        DockerImporter().load(root)
    assert info.value.location == "Dockerfile:4" and "CDM" in info.value.message


def test_no_cmd_is_an_error_at_the_final_from(project):
    root = project({"Dockerfile": "FROM python:3.11 AS a\nRUN true\nFROM python:3.11-slim\nCOPY . .\n"})
    with pytest.raises(SourceError) as info:
        DockerImporter().load(root)
    assert info.value.location == "Dockerfile:3" and "no CMD or ENTRYPOINT" in info.value.message
    assert info.value.hint


def test_unknown_server_without_port_is_an_error(project):
    root = project({"Dockerfile": 'FROM node:20\nCOPY . .\nCMD ["node", "server.js"]\n'})
    with pytest.raises(SourceError) as info:
        DockerImporter().load(root)
    assert info.value.location == "Dockerfile:3" and "unknown server" in info.value.message


def test_unknown_server_with_expose_is_run_as_is_with_a_finding(project):
    root = project({"Dockerfile": 'FROM node:20\nCOPY . .\nEXPOSE 3000\nCMD ["node", "server.js"]\n'})
    spec = DockerImporter().load(root)
    assert spec.server.kind == "unknown" and spec.server.port == 3000 and spec.server.command == ["node", "server.js"]
    rules = {f.rule: f for f in spec.findings}
    assert rules["FM401"].severity == "warning" and str(rules["FM401"].location) == "Dockerfile:4"
    assert "FM402" in rules  # no health route known: waits on /


def test_port_mismatch_and_health_from_code(project):
    root = project({
        "Dockerfile": 'FROM python:3.11\nCOPY . .\nEXPOSE 80 443\nCMD ["python", "serve.py"]\n',
        "serve.py": "from flask import Flask\napp = Flask(__name__)\n\n@app.route('/livez')\ndef l():\n"
                    "    return 'ok'\n\nif __name__ == '__main__':\n    app.run(host='0.0.0.0', port=8088)\n",
    })
    spec = DockerImporter().load(root)
    assert spec.server.port == 8088 and spec.server.health_path == "/livez"
    assert {f.rule for f in spec.findings} == {"FM403", "FM406"}
    assert spec.server.native_module == "serve:app"


def test_code_dir_and_secret_mounts(project):
    root = project({
        "Dockerfile": "FROM python:3.11\nWORKDIR /w\nRUN --mount=type=secret,id=hf,target=/run/hf make weights\n"
                      "COPY app/ .\nCMD uvicorn m:app --port 81\n",
        "app/m.py": "from fastapi import FastAPI\napp = FastAPI()\n@app.get('/ping')\ndef p():\n    return 1\n",
    })
    spec = DockerImporter().load(root)
    assert spec.details.server_dir == "app"
    assert spec.server.health_path == "/ping" and spec.source.entry_file == "app/m.py"
    step = spec.image.run_steps[0]
    assert step.command == "make weights" and step.secrets[0].id == "hf" and step.secrets[0].target == "/run/hf"


def test_fal_reserved_ports_are_avoided(project):
    spec = DockerImporter().load(FIXTURES / "multi_stage" / "input")  # uvicorn --port 8080
    assert spec.server.port == 8081 and [f.rule for f in spec.findings] == ["FM408"]
    assert spec.findings[0].severity == "info"  # the port is on the command line: it moves
    root = project({"Dockerfile": 'FROM pytorch/torchserve\nCMD ["torchserve", "--start", "--ts-config", "c"]\n'})
    spec = DockerImporter().load(root)
    assert spec.server.kind == "torchserve" and spec.server.port == 8081 and spec.server.health_path == "/ping"
    moved = next(f for f in spec.findings if f.rule == "FM408")
    assert moved.severity == "warning" and "$PORT" in moved.remediation
