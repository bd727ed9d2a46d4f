"""Real-world RunPod shapes: what the importer makes of each new fixture, one mutation test per finding
rule (the construct present → the finding; the same worker without it → none), and bad input through
the CLI (exit 2, the file named, nothing written)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from falmigrate.cli.app import app as cli_app
from falmigrate.convert import convert
from falmigrate.errors import SourceError
from falmigrate.importers.base import ImportRequest
from falmigrate.importers.runpod import RunpodImporter
from tests.importers.runpod.fixture_env import FIXTURES, convert_fixture

WORKER = ("import runpod\n\n\ndef handler(job):\n    return job['input']\n\n\n"
          "runpod.serverless.start({'handler': handler})\n")
DOCKERFILE = ("FROM runpod/base:1.0.2-ubuntu2204\nWORKDIR /app\nCOPY handler.py .\n"
              "CMD [\"python3.11\", \"-u\", \"handler.py\"]\n")


def project(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "worker"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text).lstrip("\n"))
    return root


def rules(root: Path, request: ImportRequest | None = None) -> set[str]:
    return {f.rule for f in RunpodImporter().load(root, request).findings}


def fixture(name: str):
    return convert_fixture(FIXTURES / name).spec


def test_arg_pinned_torch_keeps_the_args_and_picks_a_gpu() -> None:
    spec = fixture("arg_pinned_torch")
    assert spec.image.python == "3.11" and spec.image.dockerfile.python == "python3.11"
    assert spec.image.code_dirs == ["/workspace"]
    assert spec.hardware.machine_type == "GPU-A6000" and spec.hardware.gpu
    gpu = next(f for f in spec.findings if f.rule == "FM324")
    assert "runpod/pytorch" in gpu.message and "torch installed (Dockerfile:14)" in gpu.message
    edits = spec.image.dockerfile.edits
    assert [(e.action, e.line, e.lines) for e in edits] == [
        ("replace", 8, ["ENV PYTHONUNBUFFERED=1 \\", "    HF_HOME=/data/huggingface"])]
    assert [v.fal_path for v in spec.volumes] == ["/data"]


def test_arg_pinned_torch_dockerfile_expands_nothing() -> None:
    dockerfile = convert_fixture(FIXTURES / "arg_pinned_torch").files["Dockerfile"]
    assert '"torch==${TORCH_VERSION}" --extra-index-url "${TORCH_INDEX_URL}"' in dockerfile
    assert "ARG BASE_IMAGE=runpod/pytorch:" in dockerfile and "FROM ${BASE_IMAGE}" in dockerfile
    assert (dockerfile.index("COPY handler.py lexicon.py ./")
            < dockerfile.index("COPY fal_app.py /workspace/fal_app.py"))


def test_multistage_weights_keeps_every_stage_in_order() -> None:
    result = convert_fixture(FIXTURES / "multistage_weights")
    original = (FIXTURES / "multistage_weights" / "input" / "Dockerfile").read_text()
    written = result.files["Dockerfile"]
    assert original in written  # byte for byte, then fal's runtime appended to the final stage
    assert result.spec.image.code_dirs == ["/src"] and result.spec.image.dockerfile.edits == []


def test_start_sh_lines_run_in_setup() -> None:
    spec = fixture("start_sh_server")
    (launcher,) = spec.details.processes
    assert ((launcher.origin, launcher.file, launcher.shell, launcher.last_line)
            == ("launcher", "start.sh", "bash", 19))
    assert "model_server.py" in launcher.script and "handler.py" not in launcher.script
    assert spec.lifecycle.teardown == "_falmigrate_stop"


def test_venv_on_path_installs_fal_into_the_venv() -> None:
    result = convert_fixture(FIXTURES / "venv_on_path")
    spec = result.spec
    assert spec.image.python == "3.11" and spec.image.dockerfile.python == "python3"  # the venv's, via PATH
    assert spec.scaling.max_multiplexing == 3
    written = result.files["Dockerfile"]
    assert (written.index('ENV PATH="${VIRTUAL_ENV}/bin:${PATH}"')
            < written.index("pip install --no-cache-dir fal=="))
    assert "parser.parse_known_args([])" in result.files["fal_app.py"]


def test_multi_worker_needs_entry_and_builds_from_the_worker_folder() -> None:
    root = FIXTURES / "multi_worker" / "input"
    with pytest.raises(SourceError) as info:
        RunpodImporter().load(root)
    for path in ("caption/rp_handler.py", "embed/handler.py", "upscale/handler.py"):
        assert path in info.value.message
    spec = fixture("multi_worker")
    assert ((spec.name, spec.details.kind, spec.details.return_aggregate_stream)
            == ("caption", "generator", True))
    assert spec.image.dockerfile.path == "caption/Dockerfile" and spec.image.dockerfile.context == "."
    assert [e.lines for e in spec.image.dockerfile.edits] == [["COPY caption/requirements.txt ."],
                                                              ["COPY caption ."]]
    assert spec.endpoints[0].examples == [{"subject": "a red fox", "place": "in the snow", "style": "news"}]


def test_load_balancer_is_an_image_only_app() -> None:
    result = convert_fixture(FIXTURES / "load_balancer")
    spec = result.spec
    assert spec.route == "image_only" and "fal_app.py" not in result.files
    assert (spec.server.port, spec.server.health.path, spec.server.kind) == (5000, "/ping", "fastapi")
    assert spec.hardware.machine_type == "M"
    assert {e.path for e in spec.endpoints} == {"/ping", "/generate", "/stream", "/stats"}
    assert 'ENV GREETING="Response to" PORT=5000 PORT_HEALTH=5000' in result.files["Dockerfile"]
    assert "exposed_port = 5000" in result.files["pyproject.toml"]


def test_main_process_runs_in_setup_and_is_stopped() -> None:
    result = convert_fixture(FIXTURES / "main_process")
    (started,) = result.spec.details.processes
    assert started.origin == "main" and result.spec.scaling.max_multiplexing == 4
    code = result.files["fal_app.py"]
    assert ("before = set(_falmigrate_children())" in code
            and "_falmigrate_stop(None, self._falmigrate_started)" in code)
    assert '@fal.endpoint("/stream")' in code  # return_aggregate_stream: "/" aggregates, "/stream" streams


def test_secrets_and_job_fields() -> None:
    result = convert_fixture(FIXTURES / "secrets_s3")
    spec = result.spec
    assert (spec.details.job_fields == ["s3Config"]
            and "s3Config" in {f.name for f in spec.endpoints[0].inputs})
    assert '_falmigrate_job(input, ("s3Config",))' in result.files["fal_app.py"]
    assert spec.secrets == ["AWS_ACCESS_KEY_ID", "HF_TOKEN"]  # TOKENIZER_NAME is read too, and is no secret
    assert [(f.location.file, f.severity) for f in spec.findings if f.rule == "FM020"] == [
        ("handler.py", "error"), ("storage.py", "error")]
    everything = json.dumps(result.files) + "".join(v.decode("utf-8", "replace")
                                                    for v in result.sources.values())
    for key in ("hf_gB95GEkUBm5O51xhSQiQ1ayc91kJk3y3Gv", "AKIA47U0HN1229ANA0WS"):
        assert key not in everything and key not in spec.to_json()


MUTATIONS = [
    # (rule, files with the construct, the edit that removes it: (file, old, new))
    ("FM020",
     {"handler.py": WORKER.replace("import runpod\n",
                                   "import runpod\nKEY = 'hf_Qw3rTy7UiOp2AsDfGh5JkLzXcVbNm1Pq8R'\n")},
     ("handler.py", "'hf_Qw3rTy7UiOp2AsDfGh5JkLzXcVbNm1Pq8R'", "'public-model'")),
    ("FM313", {"handler.py": WORKER.replace("return job['input']", "return '/runpod-volume/models'")},
     ("handler.py", "/runpod-volume/models", "/tmp/models")),
    ("FM320", {"handler.py": WORKER,
               "Dockerfile": DOCKERFILE.replace("runpod/base:1.0.2-ubuntu2204", "python:3.9-slim")
               .replace("python3.11", "python3")},
     ("Dockerfile", "python:3.9-slim", "python:3.11-slim")),
    ("FM321", {"handler.py": WORKER, "Dockerfile": DOCKERFILE.replace("COPY handler.py .\n", "")},
     ("Dockerfile", "WORKDIR /app\n", "WORKDIR /app\nCOPY handler.py .\n")),
    ("FM322",
     {"app.py": "import os\nfrom fastapi import FastAPI\napp = FastAPI()\n\n@app.get('/ping')\ndef ping():\n"
                "    return 'ok'\n\nif __name__ == '__main__':\n    import uvicorn\n"
                "    uvicorn.run(app, host='127.0.0.1', port=int(os.getenv('PORT', '80')))\n",
               "Dockerfile": "FROM python:3.11-slim\nCOPY app.py .\nCMD [\"python3\", \"app.py\"]\n"},
     ("app.py", "host='127.0.0.1'", "host='0.0.0.0'")),
    ("FM323", {"handler.py": WORKER,
               "start.sh": "#!/bin/bash\npython3 server.py --port 9000 &\npython3 -u handler.py\n",
               "Dockerfile": DOCKERFILE.replace("COPY handler.py .", "COPY . .").replace(
                   '["python3.11", "-u", "handler.py"]', '["./start.sh"]')},
     ("start.sh", "python3 server.py --port 9000 &\n", "")),
    ("FM324", {"handler.py": WORKER, "requirements.txt": "runpod\ntorch==2.4.0\n"},
     ("requirements.txt", "torch==2.4.0\n", "")),
    ("FM325", {"handler.py": WORKER.replace("return job['input']", "return job.get('webhook')")},
     ("handler.py", "job.get('webhook')", "job['input']")),
    ("FM326", {"handler.py": "import argparse\n" + WORKER.replace(
        "\n\ndef handler",
        "\nparser = argparse.ArgumentParser()\nARGS = parser.parse_args()\n\n\ndef handler")},
     ("handler.py", "parser.parse_args()", "parser.parse_args([])")),
    ("FM327", {"handler.py": "import os\n" + WORKER.replace(
        "{'handler': handler}",
        "{'handler': handler, 'concurrency_modifier': lambda c: int(os.getenv('MAXC', '4'))}")},
     ("handler.py", "int(os.getenv('MAXC', '4'))", "4")),
    ("FM328", {"handler.py": WORKER + "runpod.serverless.start({'handler': handler})\n"},
     ("handler.py", "runpod.serverless.start({'handler': handler})\n", "", 1)),
]


@pytest.mark.parametrize(("rule", "files", "mutation"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_each_finding_fires_only_with_its_construct(rule: str, files: dict[str, str], mutation: tuple,
                                                   tmp_path: Path) -> None:
    root = project(tmp_path, files)
    assert rule in rules(root)
    rel, old, new, *count = mutation
    text = (root / rel).read_text()
    assert old in text
    (root / rel).write_text(text.replace(old, new, *count))
    assert rule not in rules(root)


def test_a_dockerfile_key_goes_to_a_build_secret(tmp_path: Path) -> None:
    root = project(tmp_path, {"handler.py": WORKER, "Dockerfile": DOCKERFILE.replace(
        "WORKDIR /app\n", "WORKDIR /app\nENV HF_TOKEN=hf_Qw3rTy7UiOp2AsDfGh5JkLzXcVbNm1Pq8R MODE=fast\n"
        "RUN huggingface-cli login --token hf_Qw3rTy7UiOp2AsDfGh5JkLzXcVbNm1Pq8R\n")})
    result = convert(root, "runpod")
    written = result.files["Dockerfile"]
    assert "hf_Qw3rTy7UiOp2AsDfGh5JkLzXcVbNm1Pq8R" not in written + result.spec.to_json()
    assert 'ENV MODE="fast"' in written
    assert ('RUN --mount=type=secret,id=HF_TOKEN huggingface-cli login '
            '--token "$(cat /run/secrets/HF_TOKEN)"') in written
    assert result.spec.image.build_secrets == ["HF_TOKEN"] and "HF_TOKEN" in result.spec.secrets
    assert 'secrets = { HF_TOKEN = "$HF_TOKEN" }' in result.files["pyproject.toml"]


def test_dockerfile_and_context_options(tmp_path: Path) -> None:
    dockerfile = ("FROM python:3.11-slim\nWORKDIR /srv\nCOPY worker/ /srv/\n"
                  "CMD [\"python3\", \"-u\", \"handler.py\"]\n")
    root = project(tmp_path, {"worker/handler.py": WORKER, "docker/Dockerfile.prod": dockerfile,
                              "services/api/worker/handler.py": WORKER,
                              "services/api/Dockerfile": dockerfile})
    spec = RunpodImporter().load(root, ImportRequest(entry="worker/handler.py",
                                                     dockerfile="docker/Dockerfile.prod"))
    assert (spec.image.dockerfile.path, spec.image.dockerfile.context) == ("docker/Dockerfile.prod", ".")
    assert spec.image.code_dirs == ["/srv"] and spec.image.dockerfile.edits == []
    spec = RunpodImporter().load(root, ImportRequest(entry="services/api/worker/handler.py",
                                                     dockerfile="services/api/Dockerfile",
                                                     context="services/api"))
    assert [e.lines for e in spec.image.dockerfile.edits] == [["COPY services/api/worker/ /srv/"]]
    assert spec.image.code_dirs == ["/srv"]
    # a context the COPY sources are not in: the worker is copied from the output folder at the end
    spec = RunpodImporter().load(root,
                                 ImportRequest(entry="worker/handler.py", dockerfile="docker/Dockerfile.prod",
                                                     context="docker"))
    assert [e.lines for e in spec.image.dockerfile.edits] == [["COPY docker/worker/ /srv/"],
                                                              ["COPY worker/ /srv/"]]
    assert "FM321" in {f.rule for f in spec.findings}


@pytest.mark.parametrize(("args", "needle"), [
    (["--entry", "nope/handler.py"], "--entry nope/handler.py: no such file"),
    (["--entry", "cog.yaml"], "--entry cog.yaml is a cog file, not a RunPod one"),
    (["--entry", "modal_app.py"], "--entry modal_app.py is a Modal file, not a RunPod one"),
    (["--entry", "helpers.py"], "--entry helpers.py is not a file falmigrate converts"),
    (["--entry", "b/rp_utils.py"], "b/rp_utils.py calls no runpod.serverless.start"),
    ([], "2 RunPod workers in this repository"),
    (["--entry", "a/handler.py", "--dockerfile", "missing/Dockerfile"],
     "--dockerfile missing/Dockerfile: no such file"),
    (["--entry", "a/handler.py", "--context", "../.."], "is outside the source directory"),
])
def test_bad_entry_options_fail_through_the_cli(tmp_path: Path, args: list[str], needle: str) -> None:
    root = project(tmp_path, {"a/handler.py": WORKER, "b/handler.py": WORKER, "cog.yaml": "predict: p.py:P\n",
                              "b/rp_utils.py": "from runpod.serverless.utils import rp_upload\n",
                              "modal_app.py": "import modal\napp = modal.App('x')\n", "helpers.py": "X = 1\n",
                              "a/Dockerfile": DOCKERFILE})
    out = tmp_path / "out"
    result = CliRunner().invoke(cli_app, ["convert", str(root), "--out", str(out), "--from", "runpod", *args])
    assert result.exit_code == 2, result.output
    assert needle in result.stderr
    assert not out.exists()
