"""Every RunPod fixture run the way RunPod documents local testing — ``python handler.py --test_input
'{"input": ...}'`` under the real runpod package — checked against the converted fal app offline.

The SDK logs the job result it computed (``Job result: {'output': ...}``, a Python repr); that value
must equal the fal app's answer for the same input (runpod 1.10's parser has no ``--test_output``,
so the comparison is ours). A case the fal app refuses
(HTTP 4xx) must fail the RunPod job too (exit 1), with the same message where the handler chose it.
RunPod's local runner does not iterate generator handlers (it logs the generator object), so for
those only a clean run is checked here; their items are compared by ``test_runpod_parity``.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from falmigrate.convert import convert, write_output
from falmigrate.verify import load_cases, run_side

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "runpod"
NAMES = sorted(p.name for p in FIXTURES.iterdir() if (p / "cases.json").is_file())
REQUIRED_KINDS = {"generator", "async", "schema", "module_init", "error_return"}


def run_local(entry: Path, job: dict) -> subprocess.CompletedProcess:
    command = [sys.executable, entry.name, "--test_input", json.dumps(job), "--rp_log_level", "INFO"]
    env = {**os.environ, "RUNPOD_LOG_LEVEL": "INFO"}
    return subprocess.run(command, cwd=entry.parent, env=env, capture_output=True, text=True, timeout=120,
                          check=False)


def test_fixtures_cover_the_required_kinds() -> None:
    kinds = set()
    for name in NAMES:
        converted = convert(FIXTURES / name / "input", "runpod")
        runpod = converted.spec.details
        kinds.add("generator" if runpod.kind in ("generator", "async_generator") else runpod.kind)
        kinds |= {"schema"} if runpod.schema_validated else set()
        kinds |= {"module_init"} if runpod.init else set()
        kinds |= {"error_return"} if any(f.rule == "FM307" for f in converted.spec.findings) else set()
    assert REQUIRED_KINDS <= kinds, kinds


@pytest.mark.parametrize("name", NAMES)
def test_runpod_test_input_agrees_with_the_fal_app(name: str, tmp_path: Path) -> None:
    source = FIXTURES / name / "input"
    converted = convert(source, "runpod")
    out = tmp_path / "out"
    write_output(converted, out)
    spec = converted.spec
    entry = source / spec.source.entry_file
    cases = load_cases(FIXTURES / name / "cases.json")
    test_input = json.loads((source / "test_input.json").read_text())
    cases.append({"name": "test_input.json", "endpoint": "/", "method": "POST", "input": test_input["input"]})
    fal_answers = run_side("fal", out.resolve(), spec, cases)
    streaming = spec.details.kind in ("generator", "async_generator")
    for case, answer in zip(cases, fal_answers, strict=True):
        job = {"input": case["input"]}
        failed = isinstance(answer, dict) and str(answer.get("error", "")).startswith("HTTP 4")
        proc = run_local(entry, job)
        log = proc.stdout + proc.stderr
        if failed:
            assert proc.returncode == 1 and "failed with error" in log, (case["name"], log[-2000:])
            detail = answer.get("body", {}).get("detail") if isinstance(answer.get("body"), dict) else None
            if answer["error"] == "HTTP 400":  # the handler's own {"error": ...}: same message on both sides
                assert str(detail) in log, (case["name"], detail, log[-2000:])
        else:
            assert proc.returncode == 0, (case["name"], answer, log[-2000:])
            assert "completed successfully" in log
            if not streaming:
                assert job_result(log) == {"output": answer}, (case["name"], log[-2000:])


def job_result(log: str) -> object:
    lines = [line.partition("Job result: ")[2] for line in log.splitlines() if "Job result: " in line]
    assert len(lines) == 1, log[-2000:]
    return ast.literal_eval(lines[0])
