"""The Docker importer on the fixtures: what the image runs, on which port, its health check, the image
description (the user's Dockerfile kept, its edits), the platform details verify needs."""

from __future__ import annotations

import pytest

from falmigrate.errors import SourceError
from falmigrate.importers import detect
from falmigrate.importers.dockerfile import DockerImporter
from tests.importers.docker.conftest import FIXTURES

EXPECTED = {  # kind, port, health path, code folder, command (a command-line port marked {port})
    "fastapi_uvicorn": ("uvicorn", 8000, "/health", "",
                        ["uvicorn", "main:app", "--host", "0.0.0.0", "--port", "{port}"]),
    "flask_gunicorn": ("gunicorn", 5000, "/healthz", "",
                       ["/bin/sh", "-c", "gunicorn --workers $WORKERS --bind 0.0.0.0:{port} app:app"]),
    "multi_stage": ("uvicorn", 8080, "/ready", "src",
                    ["python", "-m", "uvicorn", "api.service:app", "--host", "0.0.0.0", "--port", "{port}"]),
    "http_server": ("python", 9000, "/health", "", ["python", "server.py"]),
    "entrypoint_script": ("flask", 7000, "/ping", "",
                          ["/bin/sh", "./docker-entrypoint.sh", "flask", "run", "--host", "0.0.0.0", "--port",
                           "{port}"]),
    "spaces_healthcheck_user": ("python", 7860, "/healthz", "", ["python", "app.py", "--port", "8080"]),
    "node_server": ("node", 3000, "/health", "", ["node", "server.js"]),
}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_fixture_server(case):
    spec = DockerImporter().load(FIXTURES / case / "input")
    kind, port, health, sub, command = EXPECTED[case]
    assert spec.source.platform == "docker" and spec.source.root == "."
    assert (spec.server.kind, spec.server.port, spec.server.health_path) == (kind, port, health)
    assert spec.server.command == command
    assert spec.details.server_dir == sub
    assert spec.image.exposed_port == port and spec.image.dockerfile.path == "Dockerfile"


def test_fastapi_fixture_image_and_routes():
    spec = DockerImporter().load(FIXTURES / "fastapi_uvicorn" / "input")
    assert spec.image.base == "python:3.11-slim" and spec.image.python == "3.11"
    assert spec.image.env == {"MODEL_SCALE": "3"} and spec.image.workdir == "/app"
    assert spec.image.dockerfile.edits == []  # uvicorn already listens on 0.0.0.0
    assert [(e.method, e.path, e.handler) for e in spec.endpoints] == [
        ("GET", "/health", "health"), ("POST", "/predict", "predict"), ("GET", "/items/{item_id}", "item"),
        ("GET", "/count", "count")]
    assert spec.server.native_module == "main:app"
    assert spec.server.health.timeout_seconds == 3  # HEALTHCHECK --timeout=3s
    assert spec.findings == [] and spec.hardware.machine_type == "S"


def test_flask_fixture_describes_the_build():
    spec = DockerImporter().load(FIXTURES / "flask_gunicorn" / "input")
    image = spec.image
    assert image.system_packages == ["curl"] and image.python_requirements == ["flask==3.*", "gunicorn"]
    assert image.workdir == "/srv/app" and image.env == {"GREETING": "hello", "WORKERS": "2"}
    assert image.run_steps == [] and image.build_stages == []  # nothing is regenerated: the file is kept


def test_multi_stage_keeps_pre_from_args_and_stages():
    spec = DockerImporter().load(FIXTURES / "multi_stage" / "input")
    # ${PYTHON_VERSION} read for analysis, never written expanded
    assert spec.image.base == "python:3.11-slim"
    assert spec.image.env["APP_PORT"] == "8080" and spec.server.native_module == "api.service:app"
    assert spec.server.port == 8080  # no port of fal's is reserved on the image-only route


def test_entrypoint_fixture_runs_its_script():
    spec = DockerImporter().load(FIXTURES / "entrypoint_script" / "input")
    assert spec.details.via == "docker-entrypoint.sh" and spec.details.entrypoint_hands_over
    runs = next(d for d in spec.decisions if d.target.startswith("on fal the image runs"))
    assert "docker-entrypoint.sh" in runs.note and str(runs.location) == "Dockerfile:8"


def test_dockerdir_fixture_reads_the_root_layout():
    spec = DockerImporter().load(FIXTURES / "dockerdir_from_root" / "input")
    assert spec.details.dockerfile == "docker/Dockerfile.prod" and spec.details.context == "."
    assert spec.details.via == "docker/entrypoint.sh" and spec.details.image_paths == {"/srv/src": "src"}
    assert spec.source.entry_file == "src/embedder/api.py" and spec.server.native_module == "embedder.api:app"
    assert spec.details.port_variable == "APP_PORT" and spec.server.port == 8000
    assert spec.image.build_secrets == ["hf_token"] and spec.image.code_dirs == ["/srv", "/srv/src"]
    (edit,) = spec.image.dockerfile.edits
    assert (edit.line == 29
            and edit.lines == ["CMD uvicorn --host 0.0.0.0 embedder.api:app --port ${APP_PORT} --workers 1"])
    assert spec.hardware.machine_type == "GPU-A100"
    rules = sorted(f.rule for f in spec.findings)
    assert rules == ["FM030", "FM031", "FM031", "FM033"]


def test_spaces_fixture_health_timing_and_ignored_port_flag():
    spec = DockerImporter().load(FIXTURES / "spaces_healthcheck_user" / "input")
    health = spec.server.health
    assert (health.path, health.start_period_seconds, health.timeout_seconds, health.failure_threshold) == \
        ("/healthz", 20, 5, 3)
    (finding,) = spec.findings
    assert (finding.rule == "FM410" and "--port 8080" in finding.message
            and str(finding.location) == "Dockerfile:17")
    assert spec.details.port_movable is False  # the code binds 7860 itself


def test_node_fixture_needs_no_python():
    spec = DockerImporter().load(FIXTURES / "node_server" / "input")
    assert spec.image.python is None and spec.details.port_variable == "PORT" and spec.findings == []
    port = next(d for d in spec.decisions if d.source == "server port 3000")
    assert "server.js:6" in port.note


def test_detect_prefers_dockerfiles_with_a_command(project):
    assert DockerImporter().detect(FIXTURES / "fastapi_uvicorn" / "input") == 0.5
    assert DockerImporter().detect(project({"Dockerfile": "FROM x\n"})) == 0.2
    # only docker/Dockerfile.prod
    assert DockerImporter().detect(FIXTURES / "dockerdir_from_root" / "input") == 0.15
    assert isinstance(detect(FIXTURES / "http_server" / "input"), DockerImporter)


def test_no_dockerfile(project):
    with pytest.raises(SourceError, match="no Dockerfile"):
        DockerImporter().load(project({"app.py": "print(1)\n"}))


def test_no_cmd_is_an_error_at_the_final_from(project):
    root = project({"Dockerfile": "FROM python:3.11 AS a\nRUN true\nFROM python:3.11-slim\nCOPY . .\n"})
    with pytest.raises(SourceError) as info:
        DockerImporter().load(root)
    assert info.value.location == "Dockerfile:3" and "no CMD or ENTRYPOINT" in info.value.message
    assert info.value.hint


def test_unknown_server_without_port_is_an_error_at_its_command(project):
    root = project({"Dockerfile": 'FROM debian:bookworm\nCOPY . .\nCMD ["./serve", "--verbose"]\n'})
    with pytest.raises(SourceError) as info:
        DockerImporter().load(root)
    assert info.value.location == "Dockerfile:3" and "cannot tell which port" in info.value.message


def test_unknown_server_with_expose_is_run_as_is_with_a_finding(project):
    root = project({"Dockerfile": 'FROM debian:bookworm\nCOPY . .\nEXPOSE 3000\nCMD ["./serve"]\n'})
    spec = DockerImporter().load(root)
    assert spec.server.kind == "unknown" and spec.server.port == 3000 and spec.server.command == ["./serve"]
    rules = {f.rule: f for f in spec.findings}
    assert rules["FM401"].severity == "warning" and str(rules["FM401"].location) == "Dockerfile:4"
    assert "FM402" in rules  # no health route known: GET /


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


def test_code_dir_and_build_secrets(project):
    root = project({
        "Dockerfile": "FROM python:3.11\nWORKDIR /w\nRUN --mount=type=secret,id=hf,target=/run/hf make "
                      "weights\nCOPY app/ .\nCMD uvicorn m:app --host 0.0.0.0 --port 81\n",
        "app/m.py": ("from fastapi import FastAPI\napp = FastAPI()\n@app.get('/ping')\n"
                     "def p():\n    return 1\n"),
    })
    spec = DockerImporter().load(root)
    assert spec.details.server_dir == "app"
    assert spec.server.health_path == "/ping" and spec.source.entry_file == "app/m.py"
    assert spec.image.build_secrets == ["hf"]
    secret = next(d for d in spec.decisions if d.source.startswith("RUN --mount=type=secret"))
    assert str(secret.location) == "Dockerfile:3" and "fal secrets set hf" in secret.note
