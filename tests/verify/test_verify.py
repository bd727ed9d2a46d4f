"""verify(): both sides in subprocesses, pass / mismatch / a side that cannot start."""

from __future__ import annotations

import json

import pytest

from falmigrate.errors import UsageError, VerifyError
from falmigrate.render import render_files
from falmigrate.verify import compare, default_cases, load_cases, verify
from tests.helpers.golden import REPO
from tests.helpers.specs import PREDICT_PY, echo_spec, write_project


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("FALMIGRATE_VERIFY_RUNNERS", "cog=tests.verify.fake_runner")
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    src = write_project(tmp_path / "src")
    out = write_project(tmp_path / "out")
    for name, text in render_files(echo_spec(), None).items():
        (out / name).write_text(text)
    return src, out


def test_default_cases_from_examples_and_defaults():
    cases = default_cases(echo_spec())
    assert cases == [{"name": "predict-example-1", "endpoint": "/", "method": "POST",
                      "input": {"text": "ab", "n": 3}}]  # "text" has no default: no defaults case
    spec = echo_spec(endpoints=[echo_spec().endpoints[0].model_copy(update={
        "inputs": echo_spec().endpoints[0].inputs[1:], "examples": []})])
    assert default_cases(spec) == [{"name": "predict-defaults", "endpoint": "/", "method": "POST",
                                    "input": {"n": 2}}]


def test_same_behaviour_passes(project):
    src, out = project
    cases = [{"name": "one", "endpoint": "/", "input": {"text": "x", "n": 2}}]
    report = verify(src, out, cases)
    assert report["ok"] and report["passed"] == 1 and report["platform"] == "cog"
    assert report["cases"][0]["source"] == report["cases"][0]["fal"] == "xx!"
    assert verify(src, out)["passed"] == 1  # default cases (the example)


def test_different_behaviour_is_reported_with_diff(project):
    src, out = project
    (out / "predict.py").write_text(PREDICT_PY.replace('"!"', '"?"'))
    report = verify(src, out, [{"name": "one", "endpoint": "/", "input": {"text": "x"}},
                               {"name": "bad", "endpoint": "/", "input": {"text": "x", "n": 9}}])
    assert not report["ok"] and report["failed"] == 2
    first = report["cases"][0]
    assert first["source"] == "xx!" and first["fal"] == "xx?"
    assert '-"xx!"' in first["diff"] and '+"xx?"' in first["diff"]
    assert report["cases"][1]["fal"]["error"] == "HTTP 422"


def test_source_side_that_cannot_start(project):
    src, out = project
    (src / "predict.py").write_text("def broken(:\n")
    with pytest.raises(VerifyError, match="source side could not run"):
        verify(src, out, [{"name": "one", "endpoint": "/", "input": {"text": "x"}}])


def test_missing_runner_is_verify_error(project, monkeypatch):
    src, out = project
    monkeypatch.setenv("FALMIGRATE_VERIFY_RUNNERS", "cog=tests.verify.no_such_runner")
    with pytest.raises(VerifyError):
        verify(src, out, [{"name": "one", "endpoint": "/", "input": {"text": "x"}}])


def test_bad_arguments(project, tmp_path):
    src, out = project
    with pytest.raises(UsageError):
        verify(tmp_path / "nope", out)
    with pytest.raises(UsageError, match="no fal_app.py"):
        verify(src, src)
    bad = tmp_path / "cases.json"
    bad.write_text("{not json")
    with pytest.raises(UsageError, match="not JSON"):
        load_cases(bad)
    bad.write_text(json.dumps([{"name": "no input"}]))
    with pytest.raises(UsageError):
        load_cases(bad)


def test_compare_counts_both_failed_as_same():
    report = compare([{"name": "a"}, {"name": "b"}], [{"error": "x"}, 1], [{"error": "HTTP 500"}, 2])
    assert report["passed"] == 1 and report["failed"] == 1
    assert report["cases"][0]["note"] == "both sides failed"
