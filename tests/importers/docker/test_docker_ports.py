"""The server's port from its strongest evidence, recorded as a decision: server config, command line
(a --port flag only when the server reads it), the code's launch call with the image's ENV, the
framework's default (Gradio / Spaces 7860, LitServe 8000, uvicorn.run 8000, Flask 5000), a Space's
app_port, EXPOSE; none at all is exit 2 at the command's line."""

from __future__ import annotations

import pytest

from falmigrate.errors import SourceError
from falmigrate.importers.dockerfile import DockerImporter

HEAD = "FROM python:3.11-slim\nWORKDIR /app\nCOPY . .\n"
GRADIO = "import gradio as gr\n\ndemo = gr.Interface(fn=str.upper, inputs='text', outputs='text')\n"
LITSERVE = ("import litserve as ls\n\n\nclass Api(ls.LitAPI):\n    def predict(self, x):\n"
            "        return x\n\n\nif __name__ == '__main__':\n    ls.LitServer(Api()).run({args})\n")


def _port(project, dockerfile: str, files: dict[str, str]):
    spec = DockerImporter().load(project({"Dockerfile": HEAD + dockerfile, **files}))
    decision = next(d for d in spec.decisions if d.source.startswith("server port"))
    return spec, decision


@pytest.mark.parametrize(("dockerfile", "code", "port", "evidence"), [
    ('CMD ["python", "app.py"]\n', GRADIO + "demo.launch()\n", 7860, "gradio's default port"),
    ('ENV GRADIO_SERVER_PORT=7000\nCMD ["python", "app.py"]\n', GRADIO + "demo.launch()\n", 7000,
     "ENV GRADIO_SERVER_PORT=7000"),
    ('CMD ["python", "app.py"]\n', GRADIO + "demo.launch(server_name='0.0.0.0', server_port=9999)\n", 9999,
     "the port in the code (app.py:4)"),
    ('CMD ["python", "app.py"]\n', LITSERVE.format(args=""), 8000, "litserve's default port"),
    ('CMD ["python", "app.py"]\n', LITSERVE.format(args="port=8123"), 8123, "the port in the code"),
    ('ENV PORT=9100\nCMD ["python", "app.py"]\n',
     ("import os\nimport uvicorn\nuvicorn.run('a:b', host='0.0.0.0', "
      "port=int(os.environ.get('PORT', '9000')))\n"),
     9100, "PORT from the image's ENV, read at app.py:3"),
    ('CMD ["python", "app.py"]\n',
     "import os\nimport uvicorn\nuvicorn.run('a:b', host='0.0.0.0', port=int(os.getenv('PORT', 9000)))\n",
     9000, "the port in the code"),
    ('CMD ["python", "app.py", "--port", "8500"]\n',
     ("import argparse\nimport uvicorn\np = argparse.ArgumentParser()\np.add_argument('--port', type=int)\n"
      "uvicorn.run('a:b', host='0.0.0.0', port=p.parse_args().port)\n"), 8500,
     "the command line's --port flag"),
    ('CMD ["python", "app.py", "--port", "8500"]\n', GRADIO + "demo.launch(server_name='0.0.0.0')\n", 7860,
     "gradio's default port"),
])
def test_port_evidence(project, dockerfile, code, port, evidence):
    spec, decision = _port(project, dockerfile, {"app.py": code})
    assert spec.server.port == port and decision.target == f"exposed_port {port}"
    assert evidence in decision.note


def test_a_port_flag_the_server_ignores_is_a_warning(project):
    spec, _ = _port(project, 'CMD ["python", "app.py", "--port", "8500"]\n',
                    {"app.py": GRADIO + "demo.launch(server_name='0.0.0.0')\n"})
    (finding,) = [f for f in spec.findings if f.rule == "FM410"]
    assert finding.severity == "warning" and "--port 8500" in finding.message and "7860" in finding.message
    assert spec.server.command == ["python", "app.py", "--port", "8500"]  # the image runs it as written


def test_a_port_flag_the_server_reads_is_the_port_and_moves(project):
    spec, _ = _port(project, 'CMD ["python", "app.py", "-p", "8600"]\n',
                    {"app.py": ("import sys\nimport uvicorn\nuvicorn.run('a:b', host='0.0.0.0', "
                                "port=int(sys.argv[2]))\n")})
    assert spec.server.port == 8600 and spec.server.command == ["python", "app.py", "-p", "{port}"]
    assert not [f for f in spec.findings if f.rule == "FM410"]


def test_hugging_face_space_app_port(project):
    readme = "---\ntitle: Demo\nsdk: docker\napp_port: 7861\n---\n# Demo\n"
    spec, decision = _port(project, 'CMD ["./serve"]\n', {"README.md": readme, "serve": "#!/bin/sh\n"})
    assert (spec.server.port == 7861 and "app_port" in decision.note
            and str(decision.location) == "README.md:2")
    spec, _ = _port(project, 'CMD ["./serve"]\n', {"README.md": readme.replace("app_port: 7861\n", ""),
                                                  "serve": "#!/bin/sh\n"})
    assert spec.server.port == 7860  # Spaces' default
    with pytest.raises(SourceError, match="cannot tell which port"):
        _port(project, 'CMD ["./serve"]\n', {"README.md": readme.replace("sdk: docker", "sdk: gradio"),
                                            "serve": "#!/bin/sh\n"})


def test_config_beats_the_command_line_default(project):
    spec, decision = _port(project, 'CMD ["gunicorn", "-c", "gunicorn.py", "wsgi:app"]\n',
                           {"gunicorn.py": "workers = 2\nbind = '0.0.0.0:7100'\n", "wsgi.py": "app = None\n"})
    assert spec.server.port == 7100 and "gunicorn.py:2" in decision.note


def test_flask_run_port_from_env(project):
    spec, _ = _port(project,
                    'ENV FLASK_RUN_PORT=5055 FLASK_APP=web.py\nCMD ["flask", "run", "--host", "0.0.0.0"]\n',
                    {"web.py": "from flask import Flask\napp = Flask(__name__)\n"})
    assert spec.server.port == 5055 and spec.details.port_variable == "FLASK_RUN_PORT"


def test_no_port_evidence_is_exit_2_at_the_command(project):
    with pytest.raises(SourceError) as info:
        _port(project, "RUN true\nCMD ./serve --fast\n", {"serve": "#!/bin/sh\n"})
    assert info.value.location == "Dockerfile:5" and info.value.exit_code == 2 and "EXPOSE" in info.value.hint
