"""Server recognition from CMD/ENTRYPOINT words: kind, port ({port} placeholder), app module."""

from __future__ import annotations

import pytest

from falmigrate.dockerfile import parse_text
from falmigrate.importers.dockerfile.server import recognise, recognise_words


@pytest.mark.parametrize(
    ("words", "kind", "port", "command", "app_file"),
    [
        (["uvicorn", "pkg.main:app", "--host", "0.0.0.0", "--port", "8001"], "uvicorn", 8001,
         ["uvicorn", "pkg.main:app", "--host", "0.0.0.0", "--port", "{port}"], "pkg/main.py"),
        (["uvicorn", "main:app", "--port=9"], "uvicorn", 9, ["uvicorn", "main:app", "--port={port}"],
         "main.py"),
        (["uvicorn", "main:app"], "uvicorn", 8000, ["uvicorn", "main:app"], "main.py"),
        (["gunicorn", "-k", "uvicorn.workers.UvicornWorker", "-b", "0.0.0.0:7000", "wsgi:application"],
         "gunicorn", 7000,
         ["gunicorn", "-k", "uvicorn.workers.UvicornWorker", "-b", "0.0.0.0:{port}", "wsgi:application"],
         "wsgi.py"),
        (["hypercorn", "--bind", "[::]:8100", "svc:app"], "hypercorn", 8100,
         ["hypercorn", "--bind", "[::]:{port}", "svc:app"], "svc.py"),
        (["fastapi", "run", "api.py", "--port", "80"], "fastapi", 80,
         ["fastapi", "run", "api.py", "--port", "{port}"], "api.py"),
        (["flask", "--app", "web", "run", "-p", "5001"], "flask", 5001,
         ["flask", "--app", "web", "run", "-p", "{port}"], "web.py"),
        (["python3", "-m", "uvicorn", "a.b:app", "--port", "1234"], "uvicorn", 1234,
         ["python3", "-m", "uvicorn", "a.b:app", "--port", "{port}"], "a/b.py"),
        (["python", "-u", "server.py"], "python", None, ["python", "-u", "server.py"], "server.py"),
        (["/usr/local/bin/python3.11", "-m", "mypkg.serve"], "python", None,
         ["/usr/local/bin/python3.11", "-m", "mypkg.serve"], "mypkg/serve.py"),
        (["text-generation-launcher", "--model-id", "m", "--port", "3000"], "tgi", 3000,
         ["text-generation-launcher", "--model-id", "m", "--port", "{port}"], None),
        (["vllm", "serve", "m"], "vllm", 8000, ["vllm", "serve", "m"], None),
        (["tini", "--", "exec", "uvicorn", "m:app"], "uvicorn", 8000, ["uvicorn", "m:app"], "m.py"),
    ],
)
def test_launchers(words, kind, port, command, app_file):
    rec = recognise_words(words)
    assert rec is not None and rec.kind == kind
    assert rec.port == port
    assert rec.words == command
    assert rec.app_file == app_file


def test_torchserve_port_is_its_inference_api():
    rec = recognise_words(["torchserve", "--start", "--model-store", "/m"])
    assert rec.kind == "torchserve" and rec.port == 8080 and not rec.port_flag


@pytest.mark.parametrize(("words", "app_file"), [
    (["node", "server.js"], "server.js"), (["npm", "start"], None),
    (["bun", "run", "./src/index.ts"], "src/index.ts"),
])
def test_non_python_servers(words, app_file):
    rec = recognise_words(words)
    assert rec is not None and rec.kind == "node" and rec.app_file == app_file and rec.port is None


def test_shell_form_keeps_the_shell_line_and_moves_the_port():
    rec = recognise_words(["/bin/sh", "-c", "cd /srv && exec gunicorn -w $W --bind 0.0.0.0:5000 app:app"])
    assert rec.kind == "gunicorn" and rec.port == 5000
    assert rec.words == ["/bin/sh", "-c", "cd /srv && exec gunicorn -w $W --bind 0.0.0.0:{port} app:app"]


@pytest.mark.parametrize("words",
                         [["./bin/serve"], ["nginx", "-g", "daemon off;"], ["java", "-jar", "app.jar"], []])
def test_unknown_commands(words):
    assert recognise_words(words) is None


def test_entrypoint_script_exec_line(tmp_path):
    (tmp_path / "start.sh").write_text("#!/bin/bash\nset -e\npython migrate.py\n"
                                       "exec uvicorn app:app --port 9100\n")
    parsed = parse_text('FROM x\nWORKDIR /app\nCOPY . .\nENTRYPOINT ["./start.sh"]\n')
    rec = recognise(parsed, tmp_path)
    assert rec.kind == "uvicorn" and rec.port == 9100 and rec.via == "start.sh" and rec.via_line == 4
    assert rec.words == ["/bin/bash", "./start.sh"]  # the script runs (its setup steps too)
    assert not rec.handed_over


def test_entrypoint_script_handing_over_to_cmd(tmp_path):
    (tmp_path / "entry.sh").write_text('#!/bin/sh\nexport A=1\nexec "$@"\n')
    parsed = parse_text('FROM x\nCOPY entry.sh /entry.sh\nENTRYPOINT ["/entry.sh"]\n'
                        'CMD ["hypercorn", "-b", "0.0.0.0:81", "m:app"]\n')
    rec = recognise(parsed, tmp_path)
    assert rec.kind == "hypercorn" and rec.port == 81 and rec.handed_over
    assert rec.words == ["/bin/sh", "/entry.sh", "hypercorn", "-b", "0.0.0.0:{port}", "m:app"]


def test_entrypoint_script_found_along_path(tmp_path):
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "run.sh").write_text('#!/bin/sh\nexec "$@"\n')
    parsed = parse_text('FROM x\nCOPY docker/run.sh /usr/local/bin/run.sh\nENTRYPOINT ["run.sh"]\n'
                        'CMD ["uvicorn", "m:app"]\n')
    rec = recognise(parsed, tmp_path)
    assert rec.via == "docker/run.sh" and rec.kind == "uvicorn"


def test_a_script_no_copy_brings_in_is_not_read(tmp_path):
    (tmp_path / "start.sh").write_text("#!/bin/sh\nexec uvicorn app:app --port 9100\n")
    parsed = parse_text('FROM x\nENTRYPOINT ["./start.sh"]\n')
    assert recognise(parsed, tmp_path) is None  # the image has no such file (preflight FM059 says so)
