"""Docker importer, one test per launcher form as a Dockerfile writes it (exec and shell form), with
the port and health path fal will use; server images whose ENTRYPOINT the Dockerfile does not show;
ports from server config files and variables; bad input through the CLI (exit code, file:line, nothing
written)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from falmigrate.cli.app import app as cli_app
from falmigrate.errors import SourceError
from falmigrate.importers.dockerfile import DockerImporter
from falmigrate.importers.dockerfile.server import image_repository

FASTAPI = "from fastapi import FastAPI\napp = FastAPI()\n\n@app.get('/healthz')\ndef ok():\n    return {}\n"
FLASK = "from flask import Flask\napp = Flask(__name__)\n\n@app.route('/ping')\ndef ok():\n    return 'ok'\n"
HTTP_SERVER = ("from http.server import BaseHTTPRequestHandler, HTTPServer\n\n"
               "class H(BaseHTTPRequestHandler):\n    def do_GET(self):\n        if self.path == '/health':\n"
               "            self.send_response(200)\n\nHTTPServer(('0.0.0.0', 7000), H).serve_forever()\n")
HEAD = "FROM python:3.11-slim\nWORKDIR /app\nCOPY . .\n"


@pytest.mark.parametrize(("cmd", "files", "kind", "port", "health", "command"), [
    ('CMD ["uvicorn", "main:app", "--host", "0.0.0.0", "--port", "8001"]', {"main.py": FASTAPI},
     "uvicorn", 8001, "/healthz", ["uvicorn", "main:app", "--host", "0.0.0.0", "--port", "{port}"]),
    ("CMD uvicorn main:app --host 0.0.0.0 --port 8002", {"main.py": FASTAPI},
     "uvicorn", 8002, "/healthz", ["/bin/sh", "-c", "uvicorn main:app --host 0.0.0.0 --port {port}"]),
    ('CMD ["gunicorn", "--bind=0.0.0.0:5005", "wsgi:app"]', {"wsgi.py": FLASK},
     "gunicorn", 5005, "/ping", ["gunicorn", "--bind=0.0.0.0:{port}", "wsgi:app"]),
    ('CMD ["hypercorn", "main:app"]', {"main.py": FASTAPI}, "hypercorn", 8000, "/healthz",
     ["hypercorn", "main:app"]),
    ('CMD ["fastapi", "run", "--port", "8010"]', {"main.py": FASTAPI},
     "fastapi", 8010, "/healthz", ["fastapi", "run", "--port", "{port}"]),
    ("ENV FLASK_APP=web.py\nCMD flask run --host=0.0.0.0 --port=5050", {"web.py": FLASK},
     "flask", 5050, "/ping", ["/bin/sh", "-c", "flask run --host=0.0.0.0 --port={port}"]),
    ('EXPOSE 7000\nCMD ["python", "server.py"]', {"server.py": HTTP_SERVER},
     "python", 7000, "/health", ["python", "server.py"]),
    ('CMD ["torchserve", "--start", "--model-store", "/m"]', {},
     "torchserve", 8080, "/ping", ["torchserve", "--start", "--model-store", "/m", "--foreground"]),
    ('CMD ["text-generation-launcher", "--model-id", "gpt2", "--port", "3000"]', {},
     "tgi", 3000, "/health", ["text-generation-launcher", "--model-id", "gpt2", "--port", "{port}"]),
    (('ENTRYPOINT ["python3", "-m", "vllm.entrypoints.openai.api_server"]\n'
      'CMD ["--model", "m", "--port", "8100"]'), {},
     "vllm", 8100, "/health",
     ["python3", "-m", "vllm.entrypoints.openai.api_server", "--model", "m", "--port", "{port}"]),
])
def test_launcher_forms_in_a_dockerfile(project, cmd, files, kind, port, health, command):
    root = project({"Dockerfile": HEAD + cmd + "\n", **files})
    spec = DockerImporter().load(root)
    assert (spec.server.kind, spec.server.port, spec.server.health_path) == (kind, port, health)
    assert spec.server.command == command


@pytest.mark.parametrize(("dockerfile", "kind", "port", "command"), [
    (("FROM ghcr.io/huggingface/text-generation-inference:2.4.0\n"
      "CMD [\"--model-id\", \"gpt2\", \"--port\", \"8085\"]\n"),
     "tgi", 8085, ["text-generation-launcher", "--model-id", "gpt2", "--port", "{port}"]),
    ("FROM vllm/vllm-openai:v0.6.3\nCMD [\"--model\", \"facebook/opt-125m\"]\n",
     "vllm", 8000, ["python3", "-m", "vllm.entrypoints.openai.api_server", "--model", "facebook/opt-125m"]),
    ("FROM docker.io/pytorch/torchserve:0.9.0-cpu\n", "torchserve", 8080,
     ["torchserve", "--start", "--ts-config", "/home/model-server/config.properties"]),
])
def test_server_images_with_an_inherited_entrypoint(project, dockerfile, kind, port, command):
    spec = DockerImporter().load(project({"Dockerfile": dockerfile}))
    assert (spec.server.kind, spec.server.port, spec.server.command) == (kind, port, command)
    assert spec.image.dockerfile.edits == []  # the image runs its base's server as it is
    runs = next(d for d in spec.decisions if d.target.startswith("on fal the image runs"))
    assert "base image" in runs.note and "ENTRYPOINT" in runs.note
    assert spec.image.entrypoint == []  # only an entry-point app (--native) would reset it


def test_image_repository_names():
    assert image_repository("ghcr.io/huggingface/text-generation-inference:2.4@sha256:ab") == \
        "ghcr.io/huggingface/text-generation-inference"
    assert image_repository("docker.io/library/python:3.11") == "python"
    assert image_repository("localhost:5000/x/y:1") == "localhost:5000/x/y"


def test_gunicorn_port_from_its_config_file(project):
    root = project({"Dockerfile": HEAD + 'CMD ["gunicorn", "-c", "conf/gunicorn.py", "wsgi:app"]\n',
                    "conf/gunicorn.py": 'bind = ["0.0.0.0:7001"]\nworkers = 2\n', "wsgi.py": FLASK})
    assert DockerImporter().load(root).server.port == 7001
    default = project({"Dockerfile": HEAD + 'CMD ["gunicorn", "wsgi:app"]\n',
                       "gunicorn.conf.py": 'bind = "0.0.0.0:7002"\n', "wsgi.py": FLASK})
    assert DockerImporter().load(default).server.port == 7002  # gunicorn reads ./gunicorn.conf.py itself
    env = project({"Dockerfile": HEAD
                   + 'ENV GUNICORN_CMD_ARGS="--bind=0.0.0.0:7003 -w 2"\nCMD ["gunicorn", "wsgi:app"]\n',
                   "wsgi.py": FLASK})
    assert DockerImporter().load(env).server.port == 7003


def test_torchserve_port_from_ts_config(project):
    root = project({
        "Dockerfile": "FROM pytorch/torchserve:0.9.0-cpu\nCOPY config.properties "
                      "/home/model-server/config.properties\n"
                      'CMD ["torchserve", "--start", "--ts-config", '
                      '"/home/model-server/config.properties"]\n',
        "config.properties": "inference_address=http://0.0.0.0:8090\nmanagement_address=http://0.0.0.0:8091\n",
    })
    spec = DockerImporter().load(root)
    assert spec.server.port == 8090
    port = next(d for d in spec.decisions if d.source == "server port 8090")
    assert "inference_address" in port.note and "config.properties:1" in port.note and "8081" in port.note


def test_torchserve_default_is_the_inference_port_not_management(project):
    spec = DockerImporter().load(project({"Dockerfile": ('FROM pytorch/torchserve:0.9.0-cpu\nCMD '
                                                         '["serve"]\n')}))
    assert spec.server.port == 8080 and spec.server.health_path == "/ping"
    port = next(d for d in spec.decisions if d.source.startswith("server port"))
    assert "management API on 8081 is not exposed" in port.note


@pytest.mark.parametrize(("files", "needle", "where"), [
    ({"Dockerfile": "FROM python:3.11\nRUNN pip install x\nCMD [\"python\", \"a.py\"]\n"},
     "unknown Dockerfile instruction", "Dockerfile:2"),
    ({"Dockerfile": "RUN echo hi\nFROM python:3.11\n"}, "before the first FROM", "Dockerfile:1"),
    ({"Dockerfile": "FROM python:3.11\nEXPOSE http\nCMD [\"python\", \"a.py\"]\n"}, "not a port number",
     "Dockerfile:2"),
    ({"Dockerfile": "FROM debian:12\nCMD [\"./bin/serve\"]\n"}, "cannot tell which port", "Dockerfile:2"),
    ({"Dockerfile": "FROM python:3.11\nRUN pip install flask\n"}, "no CMD or ENTRYPOINT", "Dockerfile:1"),
    ({"Dockerfile": "FROM python:3.11 AS build\nRUN true\nFROM python:3.11-slim\nCOPY --from=biuld /x /x\n"
                    "EXPOSE 8000\nCMD [\"python\", \"a.py\"]\n"}, "names no stage", "Dockerfile:4"),
    ({"Dockerfile": "ARG A=${B}\nARG B=${A}\nFROM python:3.11\nEXPOSE 8000\nCMD [\"python\", \"a.py\"]\n"},
     "loop", "Dockerfile:1"),
    ({"Dockerfile": "FROM python:3.11 AS a AS b\nCMD [\"python\", \"a.py\"]\n"}, "cannot read this FROM line",
     "Dockerfile:1"),
    ({"app.py": "print(1)\n"}, "no Dockerfile found", None),
])
def test_bad_projects_fail_through_the_cli(project, tmp_path, files, needle, where):
    root = project(files)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli_app, ["convert", str(root), "--out", str(out), "--from", "docker"])
    assert result.exit_code == SourceError.exit_code, result.output
    assert needle in result.stderr
    if where is not None:
        assert where in result.stderr
    assert not out.exists()


@pytest.mark.parametrize(("cmd", "port", "variable"), [
    ("ENV APP_PORT=9000\nCMD uvicorn main:app --host 0.0.0.0 --port ${APP_PORT}", 9000, "APP_PORT"),
    ("ENV PORT=9001\nCMD uvicorn main:app --host 0.0.0.0 --port $PORT", 9001, "PORT"),
    ("ARG P=9002\nENV BIND=0.0.0.0:${P}\nCMD gunicorn --bind $BIND main:app", 9002, None),
    ("CMD uvicorn main:app --port ${APP_PORT:-9003}", 9003, "APP_PORT"),
])
def test_port_from_a_variable_is_valued_from_env(project, cmd, port, variable):
    spec = DockerImporter().load(project({"Dockerfile": HEAD + cmd + "\n", "main.py": FASTAPI}))
    assert spec.server.port == port
    assert spec.details.port_variable == variable and spec.details.port_movable is (variable is not None)


def test_server_image_keeps_its_entrypoint(project):
    from falmigrate.convert import convert

    root = project({"Dockerfile": "FROM ghcr.io/huggingface/text-generation-inference:2.4.0\n"
                                  'CMD ["--model-id", "gpt2", "--port", "8085"]\n'})
    result = convert(root, "docker")
    assert "fal_app.py" not in result.files
    dockerfile = result.files["Dockerfile"]
    assert dockerfile.endswith('FROM ghcr.io/huggingface/text-generation-inference:2.4.0\n'
                               'CMD ["--model-id", "gpt2", "--port", "8085"]\n')
    assert 'exposed_port = 8085' in result.files["pyproject.toml"]
    assert 'health_check = { path = "/health" }' in result.files["pyproject.toml"]
    assert result.spec.hardware.machine_type == "GPU-A100"  # a TGI image brings CUDA
