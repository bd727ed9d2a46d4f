"""Every RunPod fixture run the way RunPod documents local testing — ``python handler.py --test_input
'{"input": ...}'`` under the real runpod package — checked against the converted fal app offline.

The SDK logs the job result it computed (``Job result: {'output': ...}``, a Python repr); that value
must equal the fal app's answer for the same input (runpod 1.10's parser has no ``--test_output``,
so the comparison is ours). A case the fal app refuses
(HTTP 4xx) must fail the RunPod job too (exit 1), with the same message where the handler chose it.
RunPod's local runner does not iterate generator handlers (it logs the generator object), so for
those only a clean run is checked here; their items are compared by ``test_runpod_parity``. A worker
the image starts through a launcher script is started through that script, as the image would
(``./start.sh --test_input …``, with this interpreter first on PATH); job fields beside the input
(``s3Config``) go at the top of the job, where RunPod puts them.
"""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from falmigrate.convert import write_output
from falmigrate.verify import load_cases, run_side
from falmigrate.verify.runners.runpod import job_for
from tests.importers.runpod.fixture_env import FIXTURES, convert_fixture, fixture_env

NAMES = sorted(p.name for p in FIXTURES.iterdir() if (p / "cases.json").is_file())
REQUIRED_KINDS = {"generator", "async", "schema", "module_init", "error_return"}


def run_local(entry: Path, job: dict, launcher: str | None = None) -> subprocess.CompletedProcess:
    """The worker (through its launcher, if any) on one test job; what it left running is stopped."""
    start = [f"./{launcher}"] if launcher else [sys.executable, entry.name]
    command = [*start, "--test_input", json.dumps(job), "--rp_log_level", "INFO"]
    env = {**os.environ, "RUNPOD_LOG_LEVEL": "INFO",
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        # files, not pipes: a launcher's background server keeps its copy of them open
        process = subprocess.Popen(command, cwd=entry.parent, env=env, stdout=out, stderr=err,
                                   start_new_session=True)
        try:
            process.wait(timeout=120)
        finally:
            try:  # that server outlives the worker, as it would in the container
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(command, process.returncode, out.read(), err.read())


def test_fixtures_cover_the_required_kinds() -> None:
    kinds = set()
    for name in NAMES:
        converted = convert_fixture(FIXTURES / name)
        runpod = converted.spec.details
        kinds.add("generator" if runpod.kind in ("generator", "async_generator") else runpod.kind)
        kinds |= {"schema"} if runpod.schema_validated else set()
        kinds |= {"module_init"} if runpod.init else set()
        kinds |= {"error_return"} if any(f.rule == "FM307" for f in converted.spec.findings) else set()
    assert REQUIRED_KINDS <= kinds, kinds


@pytest.mark.parametrize("name", NAMES)
def test_runpod_test_input_agrees_with_the_fal_app(name: str, tmp_path: Path) -> None:
    source = FIXTURES / name / "input"
    converted = convert_fixture(FIXTURES / name)
    out = tmp_path / "out"
    write_output(converted, out)
    spec = converted.spec
    entry = source / spec.source.entry_file
    cases = load_cases(FIXTURES / name / "cases.json")
    test_input = json.loads(next(p for p in (entry.parent / "test_input.json", source / "test_input.json")
                                 if p.is_file()).read_text())
    cases.append({"name": "test_input.json", "endpoint": "/", "method": "POST", "input": test_input["input"]})
    launcher = next((Path(p.file).name for p in spec.details.processes if p.origin == "launcher"), None)
    with fixture_env(FIXTURES / name, tmp_path):
        fal_answers = run_side("fal", out.resolve(), spec, cases,
                               env={name: "stand-in" for name in spec.details.literal_secrets})
        runs = [run_local(entry, job_for(case, 0, spec.details.job_fields), launcher) for case in cases]
    streaming = spec.details.kind in ("generator", "async_generator")
    for case, answer, proc in zip(cases, fal_answers, runs, strict=True):
        failed = isinstance(answer, dict) and str(answer.get("error", "")).startswith("HTTP 4")
        log = proc.stdout + proc.stderr
        if streaming:  # the local runner logs the generator object without iterating it: a clean run only
            assert proc.returncode == 0 and "completed successfully" in log, (case["name"], log[-2000:])
        elif failed:
            assert proc.returncode == 1 and "failed with error" in log, (case["name"], log[-2000:])
            detail = answer.get("body", {}).get("detail") if isinstance(answer.get("body"), dict) else None
            if answer["error"] == "HTTP 400":  # the handler's own {"error": ...}: same message on both sides
                assert str(detail) in log, (case["name"], detail, log[-2000:])
        else:
            assert proc.returncode == 0, (case["name"], answer, log[-2000:])
            assert "completed successfully" in log
            assert job_result(log) == {"output": answer}, (case["name"], log[-2000:])


def job_result(log: str) -> object:
    lines = [line.partition("Job result: ")[2] for line in log.splitlines() if "Job result: " in line]
    assert len(lines) == 1, log[-2000:]
    return ast.literal_eval(lines[0])
