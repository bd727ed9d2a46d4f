"""Behaviour diff on the fixtures: the source server (started locally the way its image starts it, no
Docker) vs the output — for image-only apps the output image's own server started the same way from the
output folder, for ``--native`` apps the generated fal app called in-process — same requests, same answers."""

from __future__ import annotations

import os

import httpx
import pytest

from falmigrate.convert import convert, write_output
from falmigrate.errors import UsageError, VerifyError
from falmigrate.importers.dockerfile import DockerImporter
from falmigrate.verify import load_cases, verify
from falmigrate.verify.imageonly import output_spec
from falmigrate.verify.runners.docker import run_source, start, stop
from tests.helpers.wait import wait_until
from tests.importers.docker.conftest import FIXTURES, options, request_of

CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "cases.json").is_file())
IMAGE_ONLY = [case for case in CASES if not options(FIXTURES / case).get("native")]


def test_fixture_set_is_complete():
    assert {"fastapi_uvicorn", "flask_gunicorn", "multi_stage", "http_server", "entrypoint_script",
            "dockerdir_from_root", "spaces_healthcheck_user", "node_server"} <= set(CASES)


@pytest.mark.parametrize("case", IMAGE_ONLY)
def test_image_only_output_answers_like_the_source(case, tmp_path):
    """``falmigrate verify`` (both worker subprocesses) on the converted fixture: every case equal."""
    src = FIXTURES / case / "input"
    out = write_output(convert(src, "docker", request=request_of(FIXTURES / case)), tmp_path / "out")
    assert not (out / "fal_app.py").exists()
    cases = load_cases(FIXTURES / case / "cases.json")
    report = verify(src, out, cases)
    assert report["ok"], [row.get("diff") for row in report["cases"] if not row["equal"]]
    assert report["passed"] == len(cases) and report["platform"] == "docker"
    assert not any(isinstance(row["source"], dict) and "error" in row["source"]
                   and "HTTP" not in row["source"]["error"]
                   for row in report["cases"])


def test_verify_finds_a_different_answer(tmp_path):
    """The diff can fail: an output server whose /reverse answers like /stats is reported as a mismatch."""
    src = FIXTURES / "http_server" / "input"
    out = write_output(convert(src, "docker"), tmp_path / "out")
    server = out / "server.py"
    broken = server.read_text().replace('if self.path == "/reverse":', 'if self.path == "/nothing":')
    assert broken != server.read_text()
    server.write_text(broken)
    cases = [{"name": "reverse", "endpoint": "/reverse", "method": "POST", "input": {"text": "a bc"}},
             {"name": "root", "endpoint": "/", "method": "GET", "input": {}}]
    report = verify(src, out, cases)
    assert not report["ok"] and report["passed"] == 1
    assert (report["cases"][0]["source"] == {"reversed": "cb a"}
            and report["cases"][0]["fal"]["error"] == "HTTP 404")


def test_fal_side_runs_the_output_images_command(tmp_path):
    """The output's Dockerfile decides what the fal side runs: a CMD pointing at another module is caught."""
    src = FIXTURES / "fastapi_uvicorn" / "input"
    out = write_output(convert(src, "docker"), tmp_path / "out")
    (out / "other.py").write_text("from fastapi import FastAPI\napp = FastAPI()\n\n@app.get('/health')\n"
                                  "def h():\n    return {'ok': 1}\n")
    dockerfile = out / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace('"main:app"', '"other:app"'))
    assert output_spec(out).server.command[1] == "other:app"
    report = verify(src, out, load_cases(FIXTURES / "fastapi_uvicorn" / "cases.json"))
    assert not report["ok"] and report["cases"][0]["fal"]["error"] == "HTTP 404"


def test_image_only_output_needs_no_fal_app_but_entry_points_do(tmp_path):
    src = FIXTURES / "fastapi_native" / "input"
    out = write_output(convert(src, "docker", native=True), tmp_path / "out")
    (out / "fal_app.py").unlink()
    with pytest.raises(UsageError, match="no fal_app.py"):
        verify(src, out, [{"endpoint": "/tag", "input": {"text": "a"}}])


@pytest.mark.parametrize("case", ["fastapi_uvicorn", "flask_gunicorn", "multi_stage", "fastapi_native",
                                  "flask_native"])
def test_native_app_answers_like_the_server(case, tmp_path):
    """--native output through ``falmigrate verify``: same answers, original methods included."""
    src = FIXTURES / case / "input"
    result = convert(src, "docker", native=True)
    assert result.rewritten
    out = write_output(result, tmp_path / "out")
    cases = load_cases(FIXTURES / case / "cases.json")
    report = verify(src, out, cases)
    assert report["ok"], [row.get("diff") for row in report["cases"] if not row["equal"]]


def test_environment_matters(tmp_path):
    """The comparison can fail: without the Dockerfile's ENV the server answers differently."""
    src = FIXTURES / "fastapi_uvicorn" / "input"
    spec = DockerImporter().load(src)
    case = [{"name": "p", "endpoint": "/predict", "method": "POST", "input": {"text": "ab"}}]
    with_env = run_source(src, spec, case)
    without = run_source(src,
                         spec.model_copy(update={"image": spec.image.model_copy(update={"env": {}})}), case)
    assert with_env[0]["score"] == 6 and without[0]["score"] == 2


def test_server_that_dies_is_a_verify_error(project):
    root = project({"Dockerfile": 'FROM python:3.11\nCOPY . .\nEXPOSE 9\nCMD ["python", "crash.py"]\n',
                    "crash.py": "raise SystemExit('boom: no model file')\n"})
    spec = DockerImporter().load(root)
    with pytest.raises(VerifyError, match="exited with code 1") as info:
        run_source(root, spec, [{"endpoint": "/"}])
    assert "boom: no model file" in info.value.message


def test_start_uses_a_free_port_and_stop_ends_the_process_group():
    src = FIXTURES / "flask_gunicorn" / "input"
    spec = DockerImporter().load(src)
    process, port = start(src, spec)
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json() == {"ok": True}
    finally:
        stop(process)
    assert process.poll() is not None

    def group_gone() -> bool:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return True
        return False

    # SIGKILLed workers vanish once their parent is gone
    wait_until(group_gone, timeout=10, what=f"process group {process.pid} to end")


def test_server_with_a_fixed_port_is_verified_on_it(project, tmp_path):
    root = project({
        "Dockerfile": 'FROM python:3.11\nCOPY . .\nCMD ["python", "srv.py"]\n',
        "srv.py": "import json\nfrom http.server import BaseHTTPRequestHandler, HTTPServer\n\n\n"
                  "class H(BaseHTTPRequestHandler):\n    def do_POST(self):\n"
                  "        n = int(self.headers['Content-Length'])\n"
                  "        body = json.dumps({'keys': sorted(json.loads(self.rfile.read(n)))}).encode()\n"
                  "        self.send_response(200)\n"
                  "        self.end_headers()\n        self.wfile.write(body)\n\n    def do_GET(self):\n"
                  "        self.send_response(200)\n        self.end_headers()\n\n\n"
                  "HTTPServer(('127.0.0.1', 18765), H).serve_forever()\n",
    })
    spec = DockerImporter().load(root)
    assert spec.server.port == 18765 and spec.details.port_movable is False
    cases = [{"name": "x", "endpoint": "/x", "method": "POST", "input": {"a": 1}}]
    assert run_source(root, spec, cases) == [{"keys": ["a"]}]
    report = verify(root, write_output(convert(root, "docker"), tmp_path / "out"), cases)
    assert report["ok"] and report["cases"][0]["fal"] == {"keys": ["a"]}
