"""Behaviour parity per fixture through ``falmigrate verify``: the predictor run by the real cog package
(``verify/runners/cog.py``) vs the converted fal app offline, each side in its own subprocess."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from falmigrate.convert import convert, write_output
from falmigrate.importers.cog import CogImporter
from falmigrate.verify import load_cases, verify
from tests.helpers.golden import fixture_request

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "cog"
NAMES = sorted(p.name for p in FIXTURES.iterdir() if (p / "cases.json").is_file())
# Cases refused before predict runs (cog's input checks / fal's 422): both sides must fail.
FAILING = {("choices", "bad_choice"), ("choices", "too_many_steps"), ("choices", "bad_tag"),
           ("runner_run", "missing_document"), ("image_output", "bad_color"),
           ("secret_mounts", "train_too_many_steps"), ("run_curl", "bad_separator"),
           ("run_curl", "empty_title"),
           ("multi_model", "ragged"), ("multi_model", "scale_too_big"), ("function_train", "bad_style"),
           ("function_train", "train_missing_examples"), ("gpu_devel", "not_numbers"),
           ("gpu_devel", "precision_too_high"), ("future_annotations", "too_many_sentences"),
           ("future_annotations", "empty")}
# One deliberate change per fixture's generated app (old -> new, exactly one occurrence): a request default,
# a dropped constraint, a body line, a setup detail. verify must report each: the source side reads
# defaults and constraints with cog's own inspector, not with the importer, so they cannot hide.
MUTATIONS = {
    "async_concurrency": ("Field(default='abcab'", "Field(default='abcaa'"),
    "basemodel_output": ('{len(words)} words', '{len(words)} word'),
    "choices": ("ge=1, le=10)", "ge=1)"),
    "image_output": ("else (255, 255, 255)", "else (255, 255, 254)"),
    "runner_run": ("if not keep_empty:", "if keep_empty:"),
    "secret_mounts": ('else "anonymous"', 'else "anon"'),
    "setup_weights": ("self.vocab[index % len(self.vocab)]", "self.vocab[(index + 1) % len(self.vocab)]"),
    "streaming": ("state * 31 + 7", "state * 31 + 8"),
    "text_io": ("Field(default='hello cog world'", "Field(default='hello fal world'"),
    # the default comes from SLUG_MAX_LENGTH, which cog.yaml's environment sets: 80 is the code's fallback
    "run_curl": ("Field(default=64,", "Field(default=80,"),
    "multi_model": ('if mode == "smooth":', 'if mode != "smooth":'),
    "function_train": ("Field(default='textstyle-shout'", "Field(default='textstyle-whisper'"),
    "gpu_devel": ("Field(default=4, ge=0, le=8)", "Field(default=3, ge=0, le=8)"),
    "future_annotations": ("max_sentences: int = Field(default=2, ge=1, le=5)",
                           "max_sentences: int = Field(default=2, ge=1, le=6)"),
}


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    outs = {}
    for name in NAMES:
        out = tmp_path_factory.mktemp(name) / "out"
        write_output(convert(FIXTURES / name / "input", "cog", request=fixture_request(FIXTURES / name)), out)
        outs[name] = out
    return outs


def test_every_fixture_has_cases() -> None:
    assert len(NAMES) >= 9


@pytest.mark.parametrize("name", NAMES)
def test_fixture_cases_agree(name: str, converted: dict[str, Path]) -> None:
    cases = load_cases(FIXTURES / name / "cases.json")
    report = verify(FIXTURES / name / "input", converted[name], cases, platform="cog")
    assert report["ok"], json.dumps(report["cases"], indent=2)
    for row in report["cases"]:
        failed = isinstance(row["source"], dict) and "error" in row["source"]
        assert failed == ((name, row["name"]) in FAILING), row


def test_default_cases_come_from_input_defaults(converted: dict[str, Path]) -> None:
    report = verify(FIXTURES / "streaming" / "input", converted["streaming"], platform="cog")
    assert report["ok"] and report["passed"] == 1
    assert report["cases"][0]["source"] == [" lazy", " over", " lazy", " brown", " lazy"]


def test_a_changed_app_is_caught(converted: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    for path in converted["text_io"].iterdir():
        (out / path.name).write_bytes(path.read_bytes())
    app = out / "fal_app.py"
    app.write_text(app.read_text().replace("self.model.generate(text, shout)",
                                           "self.model.generate(text, True)"))
    report = verify(FIXTURES / "text_io" / "input", out, load_cases(FIXTURES / "text_io" / "cases.json"),
                    platform="cog")
    assert not report["ok"] and report["failed"] == 1


def test_stream_endpoint_sends_server_sent_events(converted: dict[str, Path]) -> None:
    """/stream answers text/event-stream with one JSON event per token, offline through fal's ASGI app."""
    import subprocess
    import sys

    probe = (
        "import json, sys\n"
        "from falmigrate.verify import falside\n"
        "module = falside.load_module(sys.argv[1])\n"
        "with falside.client(falside.pick_app(module)) as c:\n"
        "    r = c.post('/stream', json={'max_tokens': 3})\n"
        "    print(r.headers['content-type'])\n"
        "    print(json.dumps([json.loads(line[6:]) for line in r.text.splitlines() if "
        "line.startswith('data: ')]))\n"
    )
    out = converted["streaming"]
    proc = subprocess.run([sys.executable, "-c", probe, str(out / "fal_app.py")], cwd=out,
                          capture_output=True, text=True, timeout=120, check=True)
    lines = proc.stdout.strip().splitlines()
    assert lines[-2].startswith("text/event-stream")
    assert json.loads(lines[-1]) == [" lazy", " over", " lazy"]


def test_every_fixture_has_a_mutation() -> None:
    assert sorted(MUTATIONS) == NAMES


# Every case must be able to fail, not only some case of each fixture. WRAP_OUTPUTS changes every
# answer the app gives (it rebinds the helper that builds response values); the cases cog refuses need
# a change that makes fal accept them instead.
WRAP_OUTPUTS = [("", ("\n\n_falmigrate_kept = _falmigrate_value\n\n\n"  # "" = append to the module
                      "def _falmigrate_value(value):\n    return ['changed', _falmigrate_kept(value)]\n"))]
ACCEPT_REFUSED = {
    "choices": [[("Literal['plain', 'fancy', 'loud']", "str")],
                [("pattern='^[a-z]+$'", "pattern='^[a-zA-Z]+$'")]],
    "image_output": [[("Literal['red', 'green', 'blue']", "str"),
                      ("color = request.color",
                       "color = request.color if request.color in COLORS else 'red'")]],
    "runner_run": [[("document: str = Field(...,",
                     "document: str = Field(default='data:text/plain;base64,eAo=',")]],
    "secret_mounts": [[("Field(default=1, ge=1, le=100)", "Field(default=1, ge=1)")]],
    "run_curl": [[("Literal['-', '_']", "str")], [("min_length=1", "min_length=0")]],
    "multi_model": [[("scale: int = Field(default=2, ge=1, le=4)", "scale: int = Field(default=2, ge=1)"),
                     ("grid = request.grid", "grid = request.grid if '\\n3' not in request.grid else '1'")]],
    "function_train": [[("Literal['shout', 'whisper', 'title', 'spongebob']", "str")],
                       [("examples: str = Field(...,",
                         "examples: str = Field(default='data:text/plain;base64,eAo=',")]],
    "gpu_devel": [[("precision: int = Field(default=4, ge=0, le=8)",
                    "precision: int = Field(default=4, ge=0)"),
                   ("matrix = request.matrix", "matrix = request.matrix.replace('a,b', '1')")]],
    "future_annotations": [[("Field(default=2, ge=1, le=5)", "Field(default=2, ge=1)"),
                            ("min_length=1)", "min_length=0)")]],
}


def _mutated_report(name: str, converted: dict[str, Path], tmp_path: Path,
                    edits: list[tuple[str, str]]) -> dict:
    out = tmp_path / f"out{len(list(tmp_path.iterdir()))}"
    shutil.copytree(converted[name], out)
    app = out / "fal_app.py"
    text = app.read_text()
    for old, new in edits:
        if not old:
            text += new
            continue
        assert text.count(old) >= 1, f"{name}: mutation target {old!r} not found"
        text = text.replace(old, new, 1)
    app.write_text(text)
    return verify(FIXTURES / name / "input", out, load_cases(FIXTURES / name / "cases.json"), platform="cog")


@pytest.mark.parametrize("name", NAMES)
def test_every_case_can_fail(name: str, converted: dict[str, Path], tmp_path: Path) -> None:
    """Each deliberate change to the generated app is reported by verify, and together they make every
    case of the fixture fail once: no case passes whatever the app does."""
    failed: set[str] = set()
    for edits in [[MUTATIONS[name]], WRAP_OUTPUTS, *ACCEPT_REFUSED.get(name, [])]:
        report = _mutated_report(name, converted, tmp_path, edits)
        assert not report["ok"], f"{name}: {edits} not caught\n" + json.dumps(report["cases"], indent=2)
        failed |= {row["name"] for row in report["cases"] if not row["equal"]}
    assert failed == {case["name"] for case in load_cases(FIXTURES / name / "cases.json")}


def test_verify_cli_exit_codes(converted: dict[str, Path], tmp_path: Path) -> None:
    """`falmigrate verify SRC OUT --cases` exits 0 when the outputs agree and 1 when one differs."""
    from typer.testing import CliRunner

    from falmigrate.cli.app import app as cli_app

    src, cases = FIXTURES / "choices" / "input", FIXTURES / "choices" / "cases.json"
    agree = CliRunner().invoke(cli_app,
                               ["verify", str(src), str(converted["choices"]), "--cases", str(cases)])
    assert agree.exit_code == 0, agree.output
    out = tmp_path / "out"
    shutil.copytree(converted["choices"], out)
    app = out / "fal_app.py"
    app.write_text(app.read_text().replace(*MUTATIONS["choices"]))
    differ = CliRunner().invoke(cli_app, ["verify", str(src), str(out), "--cases", str(cases)])
    assert differ.exit_code == 1, differ.output
    assert "too_many_steps" in differ.output


def test_default_case_lets_each_side_apply_its_own_defaults(converted: dict[str, Path],
                                                            tmp_path: Path) -> None:
    """Without --cases, cog projects run one case with an empty input: a default changed in the
    generated request model is caught (sending the importer's defaults to both sides would hide it)."""
    from falmigrate.verify import runners

    spec = CogImporter().load(FIXTURES / "text_io" / "input")
    assert runners.default_cases("cog", spec) == [
        {"name": "predict-defaults", "endpoint": "/", "method": "POST", "input": {}}]
    out = tmp_path / "out"
    shutil.copytree(converted["text_io"], out)
    app = out / "fal_app.py"
    app.write_text(app.read_text().replace(*MUTATIONS["text_io"]))
    report = verify(FIXTURES / "text_io" / "input", out, platform="cog")
    assert not report["ok"] and report["failed"] == 1


def test_a_refusal_against_a_crash_is_a_difference(converted: dict[str, Path], tmp_path: Path) -> None:
    """cog refuses a missing required input (its input check); if the fal app accepted it and then crashed,
    both sides "failed", but not in the same way: verify reports it."""
    from falmigrate.verify import compare

    rows = compare([{"name": "a"}, {"name": "b"}, {"name": "c"}],
                   [{"error": "x", "kind": "refused"}, {"error": "x", "kind": "refused"}, {"error": "x"}],
                   [{"error": "HTTP 422", "kind": "refused"}, {"error": "HTTP 500", "kind": "failed"},
                    {"error": "HTTP 500", "kind": "failed"}])["cases"]
    assert [r["equal"] for r in rows] == [True, False, True]  # no kind on one side: any failure agrees
    report = _mutated_report("runner_run", converted, tmp_path, [
        ("document: str = Field(...,", "document: str | None = Field(default=None,")])
    row = next(r for r in report["cases"] if r["name"] == "missing_document")
    assert not row["equal"] and row["source"]["kind"] == "refused" and row["fal"]["kind"] == "failed"
