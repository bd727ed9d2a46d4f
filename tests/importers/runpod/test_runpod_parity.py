"""Behaviour parity per fixture through ``falmigrate verify``: the worker run by the runpod SDK's job
path (``verify/runners/runpod.py``) vs the converted fal app offline, each side in its own subprocess."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from falmigrate.convert import write_output
from falmigrate.verify import load_cases, verify
from tests.importers.runpod.fixture_env import FIXTURES, convert_fixture, fixture_env

NAMES = sorted(p.name for p in FIXTURES.iterdir() if (p / "cases.json").is_file())
# Cases where the worker itself fails the job (an {"error": ...} return): both sides must fail.
FAILING = {("validator_schema", "too_many"), ("validator_schema", "bad_mode"),
           ("validator_schema", "bad_tag"),
           ("validator_schema", "missing_text"), ("error_return", "zero"), ("main_guard_init", "missing"),
           ("arg_pinned_torch", "missing_text"), ("multistage_weights", "bad_top_k"),
           ("start_sh_server", "empty"),
           ("venv_on_path", "bad_part"), ("venv_on_path", "bad_version"), ("multi_worker", "unknown_style")}


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    outs = {}
    for name in NAMES:
        out = tmp_path_factory.mktemp(name) / "out"
        write_output(convert_fixture(FIXTURES / name), out)
        outs[name] = out
    return outs


@pytest.mark.parametrize("name", NAMES)
def test_fixture_cases_agree(name: str, converted: dict[str, Path], tmp_path: Path) -> None:
    cases = load_cases(FIXTURES / name / "cases.json")
    with fixture_env(FIXTURES / name, tmp_path):
        report = verify(FIXTURES / name / "input", converted[name], cases, platform="runpod")
    assert report["ok"], json.dumps(report["cases"], indent=2)
    for row in report["cases"]:
        failed = isinstance(row["source"], dict) and "error" in row["source"]
        assert failed == ((name, row["name"]) in FAILING), row
        if not failed:
            assert row["source"] == row["fal"]


def test_default_cases_come_from_test_input_json(converted: dict[str, Path]) -> None:
    report = verify(FIXTURES / "hub_dockerfile" / "input", converted["hub_dockerfile"], platform="runpod")
    assert report["ok"] and report["passed"] >= 4  # defaults + test_input.json + 2 tests.json tests
    assert report["cases"][1]["source"] == {"greeting": "hello", "words": 3, "shout": True}


def test_a_changed_app_is_caught(converted: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    for path in converted["error_return"].iterdir():
        (out / path.name).write_text(path.read_text())
    app = out / "fal_app.py"
    app.write_text(app.read_text().replace("numerator / denominator", "numerator * denominator"))
    cases = load_cases(FIXTURES / "error_return" / "cases.json")
    report = verify(FIXTURES / "error_return" / "input", out, cases, platform="runpod")
    assert not report["ok"] and report["failed"] == 1
