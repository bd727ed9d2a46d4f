"""The minimal edits that let fal reach the image's server (each one a decision with file:line), the
findings where no Dockerfile edit can do it, and what the final image runs."""

from __future__ import annotations

import pytest

from falmigrate.convert import convert
from falmigrate.importers.dockerfile import DockerImporter

HEAD = "FROM python:3.11-slim\nWORKDIR /app\nCOPY . .\n"
FASTAPI = "from fastapi import FastAPI\napp = FastAPI()\n\n@app.get('/health')\ndef ok():\n    return {}\n"
FLASK = "from flask import Flask\napp = Flask(__name__)\n\n@app.get('/health')\ndef ok():\n    return 'ok'\n"


@pytest.mark.parametrize(("command", "patched"), [
    ('CMD ["uvicorn", "main:app", "--port", "8000"]',
     'CMD ["uvicorn", "--host", "0.0.0.0", "main:app", "--port", "8000"]'),
    ("CMD uvicorn main:app --port 8000", "CMD uvicorn --host 0.0.0.0 main:app --port 8000"),
    ('CMD ["python", "-m", "uvicorn", "main:app"]',
     'CMD ["python", "-m", "uvicorn", "--host", "0.0.0.0", "main:app"]'),
    ('CMD ["uvicorn", "main:app", "--host", "127.0.0.1"]',
     'CMD ["uvicorn", "main:app", "--host", "0.0.0.0"]'),
    ("CMD uvicorn main:app --host=localhost --port 81", "CMD uvicorn main:app --host=0.0.0.0 --port 81"),
    ('CMD ["gunicorn", "main:app", "-k", "uvicorn.workers.UvicornWorker"]',
     'CMD ["gunicorn", "--bind", "0.0.0.0:8000", "main:app", "-k", "uvicorn.workers.UvicornWorker"]'),
    ("CMD gunicorn -b 127.0.0.1:9000 main:app", "CMD gunicorn -b 0.0.0.0:9000 main:app"),
    ('CMD ["hypercorn", "main:app"]', 'CMD ["hypercorn", "--bind", "0.0.0.0:8000", "main:app"]'),
    ('CMD ["fastapi", "dev", "main.py"]', 'CMD ["fastapi", "dev", "--host", "0.0.0.0", "main.py"]'),
    ('ENV FLASK_APP=main.py\nCMD ["flask", "run"]', 'CMD ["flask", "run", "--host", "0.0.0.0"]'),
    ("ENV FLASK_APP=main.py\nCMD flask --app main run -p 5001",
     "CMD flask --app main run --host 0.0.0.0 -p 5001"),
])
def test_loopback_launchers_get_the_host_flag(project, command, patched):
    app = FLASK if "flask" in command else FASTAPI
    root = project({"Dockerfile": HEAD + command + "\n", "main.py": app})
    spec = DockerImporter().load(root)
    (edit,) = spec.image.dockerfile.edits
    assert edit.action == "replace" and edit.lines == [patched]
    assert edit.line == HEAD.count("\n") + command.count("\n") + 1
    decision = next(d for d in spec.decisions if d.target.startswith("replaced by"))
    assert str(decision.location) == f"Dockerfile:{edit.line}" and "all interfaces" in decision.note
    assert convert(root, "docker").files["Dockerfile"].endswith(patched + "\n")


@pytest.mark.parametrize("command", [
    'CMD ["uvicorn", "main:app", "--host", "0.0.0.0"]', 'CMD ["fastapi", "run", "main.py"]',
    "ENV UVICORN_HOST=0.0.0.0\nCMD uvicorn main:app", 'CMD ["gunicorn", "-b", ":8000", "main:app"]',
    "ENV FLASK_RUN_HOST=0.0.0.0 FLASK_APP=main.py\nCMD flask run",
])
def test_servers_already_on_all_interfaces_are_left_alone(project, command):
    app = FLASK if "flask" in command else FASTAPI
    spec = DockerImporter().load(project({"Dockerfile": HEAD + command + "\n", "main.py": app}))
    assert spec.image.dockerfile.edits == [] and not [f for f in spec.findings if f.rule == "FM409"]


def test_a_continued_shell_command_is_replaced_whole(project):
    command = "CMD uvicorn main:app \\\n    --port 8000 \\\n    --workers 2\n"
    spec = DockerImporter().load(project({"Dockerfile": HEAD + command, "main.py": FASTAPI}))
    (edit,) = spec.image.dockerfile.edits
    assert edit.lines == ["CMD uvicorn --host 0.0.0.0 main:app \\", "    --port 8000 \\", "    --workers 2"]


def test_gradio_gets_its_server_name_before_the_command(project):
    code = ("import gradio as gr\n\ndemo = gr.Interface(fn=str.upper, inputs='text', "
            "outputs='text')\ndemo.launch()\n")
    root = project({"Dockerfile": HEAD + 'CMD ["python", "app.py"]\n', "app.py": code})
    spec = DockerImporter().load(root)
    (edit,) = spec.image.dockerfile.edits
    assert (edit.action, edit.line, edit.lines) == ("insert_before", 4, ["ENV GRADIO_SERVER_NAME=0.0.0.0"])
    assert "app.py:4" in edit.reason
    dockerfile = convert(root, "docker").files["Dockerfile"]
    assert 'ENV GRADIO_SERVER_NAME=0.0.0.0\nCMD ["python", "app.py"]\n' in dockerfile


@pytest.mark.parametrize(("files", "where", "fix"), [
    ({"main.py": ("import uvicorn\nfrom fastapi import FastAPI\napp = FastAPI()\n"
                  "uvicorn.run(app, port=8000)\n")},
     "main.py:4", 'host="0.0.0.0"'),
    ({"main.py": FLASK + "app.run(port=5000)\n"}, "main.py:7", 'host="0.0.0.0"'),
    ({"main.py": "import gradio as gr\ndemo = gr.Blocks()\ndemo.launch(server_name='127.0.0.1')\n"},
     "main.py:3", 'server_name="0.0.0.0"'),
    ({"main.py": "from http.server import HTTPServer, BaseHTTPRequestHandler\n"
                 "HTTPServer(('localhost', 8000), BaseHTTPRequestHandler).serve_forever()\n"}, "main.py:2",
     "host"),
])
def test_loopback_in_code_is_an_error_at_its_line(project, files, where, fix):
    spec = DockerImporter().load(project({"Dockerfile": HEAD + 'CMD ["python", "main.py"]\n', **files}))
    (finding,) = [f for f in spec.findings if f.rule == "FM409"]
    assert finding.severity == "error" and str(finding.location) == where and fix in finding.remediation
    assert spec.image.dockerfile.edits == []


def test_loopback_in_an_entrypoint_script_is_an_error_at_the_script_line(project):
    root = project({"Dockerfile": HEAD + 'ENTRYPOINT ["./run.sh"]\n', "main.py": FASTAPI,
                    "run.sh": "#!/bin/sh\nset -e\nexec uvicorn main:app --port 8000\n"})
    spec = DockerImporter().load(root)
    (finding,) = [f for f in spec.findings if f.rule == "FM409"]
    assert str(finding.location) == "run.sh:3" and "--host 0.0.0.0" in finding.remediation
    assert spec.image.dockerfile.edits == []


def test_torchserve_started_in_the_background_gets_foreground(project):
    root = project({"Dockerfile": "FROM pytorch/torchserve:0.9.0-cpu\n"
                                  'CMD ["torchserve", "--start", "--model-store", "/m", '
                                  '"--models", "all"]\n'})
    spec = DockerImporter().load(root)
    (edit,) = spec.image.dockerfile.edits
    assert edit.lines == [('CMD ["torchserve", "--foreground", "--start", "--model-store", '
                           '"/m", "--models", "all"]')]
    kept = DockerImporter().load(project({"Dockerfile": "FROM pytorch/torchserve:0.9.0-cpu\n"
                                                        "CMD torchserve --start && tail -f /dev/null\n"}))
    assert kept.image.dockerfile.edits == []


@pytest.mark.parametrize(("dockerfile", "note"), [
    ('FROM vllm/vllm-openai:v0.6.3\nCMD ["--model", "m"]\n',
     "base image vllm/vllm-openai:v0.6.3's ENTRYPOINT"),
    ('FROM vllm/vllm-openai:v0.6.3\nENTRYPOINT []\nCMD ["vllm", "serve", "m"]\n', "ENTRYPOINT [] resets"),
    (HEAD + 'CMD ["uvicorn", "main:app", "--host", "0.0.0.0"]\n', "as the Dockerfile's CMD says"),
])
def test_what_the_final_image_runs_is_a_decision(project, dockerfile, note):
    spec = DockerImporter().load(project({"Dockerfile": dockerfile, "main.py": FASTAPI}))
    runs = next(d for d in spec.decisions if d.target.startswith("on fal the image runs"))
    assert note in runs.note and runs.location is not None
