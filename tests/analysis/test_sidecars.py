"""Side services (compose), extra processes (launcher scripts) and missing data files: what an app needs
besides its own process, each reported with what to do on fal."""

from __future__ import annotations

from pathlib import Path

from falmigrate.analysis.sidecars import (
    MISSING_FILE_RULE,
    PROCESS_RULE,
    SERVICE_RULE,
    compose_findings,
    literal_paths,
    missing_file_findings,
    process_findings,
    read_compose,
)

COMPOSE = """\
services:
  web:
    build: .
    ports: ["8000:8000"]
    environment:
      REDIS_URL: redis://queue:6379/0
      DATABASE_URL: postgresql://app@db/app
      LOG_LEVEL: info
    depends_on: [queue, db]
  worker:
    build:
      context: .
    command: rq worker --url redis://queue:6379/0 jobs
  queue:
    image: redis:7-alpine
  db:
    image: postgres:16
  proxy:
    image: nginx:1.27
  other:
    build:
      context: ./docs
      dockerfile: Dockerfile.site
  thing:
    image: example/custom-sidecar:1
"""


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_every_service_but_the_app_is_reported_with_advice(tmp_path):
    root = _write(tmp_path, {"docker-compose.yml": COMPOSE})
    found = {f.message.split("`")[1]: f for f in compose_findings(root, "Dockerfile")}
    assert set(found) == {"worker", "queue", "db", "proxy", "other", "thing"}  # web builds the Dockerfile
    assert all(f.rule == SERVICE_RULE for f in found.values())
    queue = found["queue"]
    assert queue.severity == "error" and str(queue.location) == "docker-compose.yml:14"
    assert ("a Redis server" in queue.message and "REDIS_URL" in queue.message
            and "managed Redis" in queue.remediation)
    assert "DATABASE_URL" in found["db"].message and "a database" in found["db"].message
    assert "background worker" in found["worker"].message and "its own fal app" in found["worker"].remediation
    assert found["proxy"].severity == "warning" and "reverse proxy" in found["proxy"].message
    assert "built from the project" in found["other"].message
    assert found["thing"].severity == "error" and "side service" in found["thing"].message


def test_the_app_is_found_by_its_dockerfile_path(tmp_path):
    root = _write(tmp_path, {"compose.yaml": "services:\n  api:\n    build:\n      context: .\n"
                                              "      dockerfile: docker/Dockerfile.prod\n"
                                              "  cache:\n    image: redis\n"})
    assert [f.message.split("`")[1] for f in compose_findings(root, "docker/Dockerfile.prod")] == ["cache"]
    assert {f.message.split("`")[1] for f in compose_findings(root, "Dockerfile")} == {"api", "cache"}


def test_no_or_broken_compose_file(tmp_path):
    assert compose_findings(tmp_path, "Dockerfile") == []
    _write(tmp_path, {"docker-compose.yaml": "services: [unclosed\n"})
    assert read_compose(tmp_path) is None and compose_findings(tmp_path, "Dockerfile") == []
    _write(tmp_path, {"docker-compose.yaml": "version: '3'\n"})
    assert read_compose(tmp_path) is None


START = """\
#!/bin/sh
set -e
redis-server --daemonize yes
celery -A tasks worker --loglevel=info &
python warmup.py 2>&1 | tee /tmp/log
nohup python metrics.py >/dev/null 2>&1 &
exec uvicorn app:app --host 0.0.0.0 --port 8000
"""


def test_background_processes_of_a_kept_launcher_are_warnings():
    found = process_findings(START, "start.sh", kept=True)
    assert [(f.location.line, f.message.split("`")[1]) for f in found] == [
        (3, "redis-server --daemonize yes"), (4, "celery -A tasks worker …"), (6, "python metrics.py")]
    assert all(f.rule == PROCESS_RULE and f.severity == "warning" for f in found)
    assert "own copy" in found[0].message


def test_processes_of_a_dropped_launcher_are_errors_at_the_given_line():
    found = process_findings("redis-server & uvicorn app:app", "Dockerfile", kept=False, line=12)
    assert len(found) == 1 and found[0].severity == "error" and str(found[0].location) == "Dockerfile:12"
    assert "setup()" in found[0].remediation


def test_foreground_servers_are_not_extra_processes():
    script = "exec nginx -g 'daemon off;'\nuvicorn a:b 2>&1\n"
    assert process_findings(script, "run.sh", kept=True) == []


APP = '''\
import json, os
from fastapi import FastAPI

app = FastAPI()
CONFIG = "configs/model.yaml"
WEIGHTS = os.environ.get("WEIGHTS", "/models/unet.safetensors")


@app.get("/health.json")
def health():
    return {}


def load():
    with open("labels.txt") as f:
        labels = f.read()
    with open("out/result.json", "w") as f:
        json.dump(labels, f)
    return open("{}.json".format("x")), "https://example.com/a.pt", "application/json"
'''


def test_literal_paths_skip_routes_writes_urls_and_templates():
    assert literal_paths(APP, "app.py") == [("configs/model.yaml", 5), ("/models/unet.safetensors", 6),
                                            ("labels.txt", 15)]
    assert literal_paths("def (:", "x.py") == []


def test_missing_files_are_warnings_where_the_code_names_them(tmp_path):
    root = _write(tmp_path, {"app.py": APP, "labels.txt": "a\n"})
    found = missing_file_findings({"app.py": APP}, lambda literal, module: (root / literal).is_file())
    assert [(str(f.location), f.message) for f in found] == [
        ("app.py:5", "the code reads 'configs/model.yaml', which is not in the repository"),
        ("app.py:6", "the code reads '/models/unet.safetensors', which is not in the repository")]
    assert all(f.rule == MISSING_FILE_RULE and f.severity == "warning"
               and "/data" in f.remediation for f in found)
