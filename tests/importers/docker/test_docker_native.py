"""``--native``: FastAPI/Flask modules rewritten into fal apps on the entry-point route (rules FM451–FM458):
no deploy settings and no private fal hooks in the class, GET routes answer POST, fal's runtime appended to
the user's Dockerfile."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from falmigrate import rules as registry
from falmigrate.codemods import rewrite as dispatch
from falmigrate.codemods.docker_native import rewrite
from falmigrate.convert import convert
from falmigrate.errors import UsageError
from falmigrate.importers.dockerfile import DockerImporter
from tests.importers.docker.conftest import FIXTURES

FASTAPI_APP = '''"""Service."""
from __future__ import annotations

import uvicorn
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware

app = FastAPI(title="x")
app.add_middleware(CORSMiddleware, allow_origins=["*"])
STATE = {}


@app.on_event("startup")
async def load():
    STATE["model"] = 2


@app.post("/run", response_model=dict)
async def run(x: int, request: Request):
    return {"y": x * STATE["model"]}


@app.get("/run")
def run_get():
    return {}


@app.api_route("/setup", methods=["PUT"])
def setup(q: str = "a", *, flag: bool = False):
    return {"q": q}


if __name__ == "__main__":
    uvicorn.run(app, port=8000)
'''


def _ruff_clean(code: str, tmp_path: Path) -> str:
    path = tmp_path / "fal_app.py"
    path.write_text(code)
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "F,E9", "--no-cache",
                           str(path)],
                          check=False, capture_output=True, text=True)
    return proc.stdout + proc.stderr if proc.returncode else ""


def _spec(project, files):
    root = project(files)
    return DockerImporter().load(root), root


def test_fastapi_module_becomes_fal_endpoints(project, tmp_path):
    spec, root = _spec(project, {"Dockerfile": 'FROM python:3.11\nCOPY . .\nCMD ["uvicorn", "main:app"]\n',
                                 "main.py": FASTAPI_APP})
    result = rewrite(spec, root, native=True)
    code = result.code
    ast.parse(code)
    assert _ruff_clean(code, tmp_path) == ""
    assert "FastAPI(" not in code and "from fastapi import Request" in code  # unused FastAPI import dropped
    assert "@app." not in code and "uvicorn.run" not in code
    assert "# TODO(falmigrate FM453)" in code and "#   app.add_middleware" in code
    assert '@fal.endpoint("/run")\n    async def run(self, x: int, request: Request) -> dict:\n' \
           '        return await run(x=x, request=request)' in code
    assert "def setup_endpoint(self, query: SetupQuery):" in code  # reserved name; PUT query → body model
    assert "return setup(q=query.q, flag=query.flag)" in code
    assert "ContainerImage" not in code and "_add_extra_routes" not in code and "_HERE" not in code
    # no settings in the class
    assert f"class {spec.class_name}(fal.App):\n    async def setup(self):" in code
    assert 'class SetupQuery(pydantic.BaseModel):\n    q: str = "a"\n    flag: bool = False\n' in code
    assert "    async def setup(self):\n        await load()" in code
    rules = sorted(f.rule for f in result.findings)
    assert rules == ["FM451", "FM452", "FM453", "FM454", "FM455"]
    assert all(registry.lookup(rule).platform == "docker" for rule in rules)
    assert registry.lookup("FM458").platform == "docker"


def test_flask_module_keeps_the_app_and_dispatches(tmp_path):
    spec = DockerImporter().load(FIXTURES / "flask_gunicorn" / "input")
    result = rewrite(spec, FIXTURES / "flask_gunicorn" / "input", native=True)
    code = result.code
    assert _ruff_clean(code, tmp_path) == ""
    assert "app = Flask(__name__)" in code and "app.full_dispatch_request()" in code
    assert '@fal.endpoint("/healthz")' in code and '_falmigrate_flask(app, "GET", request' in code
    assert "def _falmigrate_flask(flask_app: Any, method: str, request: Request, body: bytes)" in code
    assert {f.rule for f in result.findings} == {"FM451", "FM456"}
    get = next(f for f in result.findings if f.rule == "FM451")
    assert get.severity == "warning" and "without --native" in get.remediation


def test_flask_path_converters(project):
    spec, root = _spec(project, {
        "Dockerfile": 'FROM python:3.11\nCOPY . .\nCMD ["flask", "run"]\n',
        "app.py": "from flask import Flask\napp = Flask(__name__)\n\n"
                  "@app.post('/items/<int:item_id>/<name>')\ndef item(item_id, name):\n"
                  "    return {'id': item_id}\n",
    })
    code = rewrite(spec, root, native=True).code
    assert '@fal.endpoint("/items/{item_id}/{name}")' in code
    assert "async def item(self, request: Request, item_id: str, name: str) -> Response:" in code


def test_native_needs_a_fastapi_or_flask_app():
    with pytest.raises(UsageError, match="not a FastAPI or Flask app") as info:
        convert(FIXTURES / "http_server" / "input", "docker", native=True)
    assert "without --native" in info.value.hint and info.value.exit_code == 2


def test_native_image_appends_fal_runtime_to_the_users_dockerfile():
    result = convert(FIXTURES / "flask_gunicorn" / "input", "docker", native=True)
    source = (FIXTURES / "flask_gunicorn" / "input" / "Dockerfile").read_text()
    dockerfile = result.files["Dockerfile"]
    assert dockerfile.split("\n", 1)[1].startswith(source)  # the user's file, then fal's runtime
    added = dockerfile[len(source) + dockerfile.index("\n") + 1:]
    assert ("python3 -m pip install --no-cache-dir fal==" in added
            and "COPY fal_app.py /srv/app/fal_app.py" in added)
    assert "USER" not in added and "ENTRYPOINT" not in added  # root already; no ENTRYPOINT to reset
    assert 'python_entry_point = "fal_app:FlaskGunicorn"' in result.files["pyproject.toml"]
    appended = next(d for d in result.spec.decisions if d.target.startswith("fal's runtime appended"))
    assert str(appended.location) == "Dockerfile"


def test_native_runtime_runs_as_root_and_restores_the_user(project):
    root = project({"Dockerfile": 'FROM python:3.11\nWORKDIR /app\nCOPY . .\nUSER 1000:1000\n'
                                  'ENTRYPOINT ["uvicorn", "m:app", "--host", "0.0.0.0"]\n',
                    "m.py": ("from fastapi import FastAPI\napp = FastAPI()\n\n@app.post('/x')\n"
                             "def x():\n    return 1\n")})
    result = convert(root, "docker", native=True)
    tail = result.files["Dockerfile"].split("USER 1000:1000\n", 1)[1]
    assert tail.index("USER root") < tail.index("pip install") < tail.index("USER 1000:1000")
    assert tail.rstrip().endswith("ENTRYPOINT []")  # uvicorn itself would wrap fal's command
    assert any(d.target == "ENTRYPOINT [] appended" for d in result.spec.decisions)


def test_entrypoint_script_that_starts_the_server_is_reset_with_a_finding(project):
    root = project({"Dockerfile": 'FROM python:3.11\nWORKDIR /app\nCOPY . .\nENTRYPOINT ["./start.sh"]\n',
                    "start.sh": ("#!/bin/sh\nexport MODE=prod\nexec uvicorn m:app --host "
                                 "0.0.0.0 --port 8000\n"),
                    "m.py": ("from fastapi import FastAPI\napp = FastAPI()\n\n@app.post('/x')\n"
                             "def x():\n    return 1\n")})
    result = convert(root, "docker", native=True)
    assert result.files["Dockerfile"].rstrip().endswith("ENTRYPOINT []")
    (finding,) = [f for f in result.spec.findings if f.rule == "FM458"]
    assert str(finding.location) == "start.sh" and "setup()" in finding.remediation
    handing = project({"Dockerfile": 'FROM python:3.11\nWORKDIR /app\nCOPY . .\nENTRYPOINT ["./e.sh"]\n'
                                     'CMD ["uvicorn", "m:app", "--host", "0.0.0.0"]\n',
                       "e.sh": '#!/bin/sh\nexec "$@"\n', "m.py": (root / "m.py").read_text()})
    kept = convert(handing, "docker", native=True)
    assert ("ENTRYPOINT []" not in kept.files["Dockerfile"]
            and not any(f.rule == "FM458" for f in kept.spec.findings))


def test_dispatch_only_with_native():
    spec = DockerImporter().load(FIXTURES / "fastapi_uvicorn" / "input")
    root = FIXTURES / "fastapi_uvicorn" / "input"
    assert dispatch(spec, root) is None
    assert dispatch(spec, root, native=True).code == rewrite(spec, root, native=True).code


@pytest.mark.parametrize("case", ["fastapi_uvicorn", "flask_gunicorn", "multi_stage", "entrypoint_script"])
def test_native_is_deterministic_and_parses(case):
    root = FIXTURES / case / "input"
    spec = DockerImporter().load(root)
    first = rewrite(spec, root, native=True).code
    assert first == rewrite(spec, root, native=True).code
    tree = ast.parse(first)
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    assert classes[-1].name == spec.class_name


def test_get_query_parameters_move_into_a_body_model(project, tmp_path):
    spec, root = _spec(project, {
        "Dockerfile": 'FROM python:3.11\nCOPY . .\nCMD ["uvicorn", "m:app"]\n',
        "m.py": "from typing import Optional\n\nfrom fastapi import FastAPI, Request\n"
                "from pydantic import BaseModel\n\napp = FastAPI()\n\n\n"
                "class Body(BaseModel):\n    x: int\n\n\n@app.get('/users/{uid}/posts')\n"
                "def posts(uid: int, limit: int = 10, tag: Optional[str] = None):\n    return []\n\n"
                "\n@app.get('/raw')\ndef raw(request: Request):\n    return {}\n\n\n@app.put('/body')\n"
                "def body(b: Body, n: int = 1):\n    return b\n",
    })
    code = rewrite(spec, root, native=True).code
    assert _ruff_clean(code, tmp_path) == ""
    assert ("class PostsQuery(pydantic.BaseModel):\n    limit: int = 10\n"
            "    tag: Optional[str] = None\n") in code
    assert ("def posts(self, query: PostsQuery, uid: int):\n"
            "        return posts(uid=uid, limit=query.limit, tag=query.tag)") in code
    assert "def raw(self, request: Request):" in code  # not scalar: kept as is
    assert "def body(self, b: Body, n: int = 1):" in code  # already has a body: kept as is
    assert "import pydantic" in code
