"""Which Dockerfile is the app's and its build context: --entry, --dockerfile, --context, several
candidates (exit 2 listing them unless one is clearly the entry), through the library and the CLI."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from falmigrate.cli.app import app as cli_app
from falmigrate.convert import convert
from falmigrate.errors import UsageError
from falmigrate.importers.base import ImportRequest
from falmigrate.importers.dockerfile import DockerImporter
from falmigrate.importers.dockerfile.locate import candidates, locate

SERVER = "from fastapi import FastAPI\napp = FastAPI()\n\n@app.get('/health')\ndef h():\n    return {}\n"
SERVICE = 'FROM python:3.11-slim\nWORKDIR /app\nCOPY . .\nCMD ["uvicorn", "main:app", "--host", "0.0.0.0"]\n'
ROOT_BUILT = ('FROM python:3.11-slim\nWORKDIR /app\nCOPY services/api/ .\nCOPY shared/ /app/shared/\n'
              'CMD ["uvicorn", "main:app", "--host", "0.0.0.0", "--port", "8010"]\n')


def _monorepo(project):
    return project({
        "services/api/Dockerfile": SERVICE, "services/api/main.py": SERVER,
        "services/worker/Dockerfile": SERVICE.replace("main:app", "jobs:app"),
        "services/worker/jobs.py": SERVER, "docker/api.Dockerfile": ROOT_BUILT, "shared/util.py": "X = 1\n",
        "node_modules/pkg/Dockerfile": "FROM node\n",
    })


def test_candidates_are_listed_shallow_first_without_junk(project):
    root = _monorepo(project)
    assert candidates(root) == ["docker/api.Dockerfile", "services/api/Dockerfile",
                                "services/worker/Dockerfile"]


def test_several_candidates_without_entry_is_a_usage_error_listing_them(project, tmp_path):
    root = _monorepo(project)
    with pytest.raises(UsageError) as info:
        DockerImporter().load(root)
    assert "services/api/Dockerfile" in info.value.message and "--entry" in info.value.hint
    out = tmp_path / "out"
    result = CliRunner().invoke(cli_app, ["convert", str(root), "--out", str(out), "--from", "docker"])
    assert result.exit_code == 2 and "docker/api.Dockerfile" in result.stderr and not out.exists()


def test_entry_picks_a_service_built_from_its_own_folder(project):
    root = _monorepo(project)
    spec = DockerImporter().load(root, ImportRequest(entry="services/worker/Dockerfile"))
    assert spec.details.dockerfile == "services/worker/Dockerfile"
    assert spec.details.context == "services/worker"  # its COPY sources are there, not at the root
    assert spec.source.entry_file == "services/worker/jobs.py" and spec.name == "worker"
    result = convert(root, "docker", request=ImportRequest(entry="services/worker/Dockerfile"))
    # the output is that context
    assert ("jobs.py" in result.sources and "shared/util.py" not in result.sources)


def test_dockerfile_option_builds_from_the_root(project):
    root = _monorepo(project)
    spec = DockerImporter().load(root, ImportRequest(dockerfile="docker/api.Dockerfile"))
    assert spec.details.context == "." and spec.details.server_dir == "services/api"
    assert spec.server.port == 8010 and spec.source.entry_file == "services/api/main.py"
    context = next(d for d in spec.decisions if d.source == "build context .")
    assert "docker build -f docker/api.Dockerfile ." in context.note
    result = convert(root, "docker", request=ImportRequest(dockerfile="docker/api.Dockerfile"))
    assert result.files["Dockerfile"].endswith(ROOT_BUILT) and "shared/util.py" in result.sources


def test_context_option_wins(project):
    root = _monorepo(project)
    spec = DockerImporter().load(root, ImportRequest(entry="services/api/Dockerfile", context="."))
    assert spec.details.context == "."
    named = next(d for d in spec.decisions if d.source == "build context .")
    assert named.note == "named with --context"


def test_a_root_dockerfile_is_clearly_the_entry(project):
    root = project({"Dockerfile": SERVICE, "Dockerfile.dev": SERVICE, "docker/Dockerfile.gpu": SERVICE,
                    "main.py": SERVER})
    located = locate(root, ImportRequest())
    assert located.rel == "Dockerfile" and "3 Dockerfiles" in located.decisions[0].note


@pytest.mark.parametrize(("request_", "needle"), [
    (ImportRequest(entry="services/nope/Dockerfile"), "no such file"),
    (ImportRequest(entry="services/api/main.py"), "is not a Dockerfile"),
    (ImportRequest(entry="../outside/Dockerfile"), "outside the source directory"),
    (ImportRequest(entry="services/api/Dockerfile", dockerfile="docker/api.Dockerfile"),
     "different Dockerfiles"),
    (ImportRequest(entry="services/api/Dockerfile", context="nowhere"), "not a directory"),
])
def test_bad_entry_options(project, request_, needle):
    root = _monorepo(project)
    with pytest.raises(UsageError, match=needle):
        DockerImporter().load(root, request_)


def test_entry_through_the_cli_names_the_file_and_writes_nothing(project, tmp_path):
    root = _monorepo(project)
    out = tmp_path / "out"
    bad = CliRunner().invoke(cli_app, ["convert", str(root), "--out", str(out), "--from", "docker",
                                       "--entry", "services/api/main.py"])
    assert bad.exit_code == 2 and "services/api/main.py" in bad.stderr and not out.exists()
    good = CliRunner().invoke(cli_app, ["convert", str(root), "--out", str(out), "--from", "docker",
                                        "--entry", "services/api/Dockerfile"])
    assert good.exit_code == 0, good.output
    assert (out / "main.py").is_file() and (out / "Dockerfile").read_text().endswith(SERVICE)
