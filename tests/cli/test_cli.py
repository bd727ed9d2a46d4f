"""CLI: convert / inspect / verify exit codes, --check/--diff/--json, --version, the schema."""

from __future__ import annotations

import json

import jsonschema
import pytest
from typer.testing import CliRunner

from falmigrate import __version__
from falmigrate.cli.app import app
from falmigrate.cli.convert import default_out
from falmigrate.errors import EXIT_CODES
from falmigrate.render import render_files
from falmigrate.spec import AppSpec
from tests.helpers.golden import REPO, fixture_platform
from tests.helpers.specs import echo_spec, full_spec, write_project

FIXTURE = REPO / "fixtures" / "modal" / "concurrent" / "input"


def invoke(*args: str, env: dict | None = None):
    return CliRunner().invoke(app, [str(a) for a in args], env=env, catch_exceptions=False)


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"falmigrate {__version__}"


def test_convert_writes_then_refuses_then_force(tmp_path):
    out = tmp_path / "out"
    result = invoke("convert", FIXTURE, "--out", out)
    assert result.exit_code == 0, result.output
    assert {"pyproject.toml", "Dockerfile", "MIGRATION.md", "report.json"} <= {p.name for p in out.iterdir()}
    again = invoke("convert", FIXTURE, "--out", out)
    assert again.exit_code == 3 and "--force" in again.stderr
    assert invoke("convert", FIXTURE, "--out", out, "--force").exit_code == 0


def test_convert_check_and_diff(tmp_path):
    out = tmp_path / "out"
    assert invoke("convert", FIXTURE, "--out", out, "--check").exit_code == 1  # nothing there yet
    assert not out.exists()
    invoke("convert", FIXTURE, "--out", out)
    assert invoke("convert", FIXTURE, "--out", out, "--check").exit_code == 0
    (out / "Dockerfile").write_text((out / "Dockerfile").read_text() + "RUN echo local edit\n")
    check = invoke("convert", FIXTURE, "--out", out, "--check")
    assert check.exit_code == 1 and "Dockerfile" in check.stderr
    diff = invoke("convert", FIXTURE, "--out", out, "--diff")
    assert diff.exit_code == 0 and "-RUN echo local edit" in diff.stdout and "+++ b/Dockerfile" in diff.stdout
    assert "RUN echo local edit" in (out / "Dockerfile").read_text()  # --diff writes nothing
    data = json.loads(invoke("convert", FIXTURE, "--out", out, "--check", "--json").stdout)
    assert data["ok"] is False and data["changed"] == ["Dockerfile"]


def test_convert_json_summary(tmp_path):
    result = invoke("convert", FIXTURE, "--out", tmp_path / "o", "--json")
    data = json.loads(result.stdout)
    assert result.exit_code == 0 and data["ok"] and data["platform"] == "modal" and data["written"]
    assert data["files"] == [".dockerignore", "Dockerfile", "MIGRATION.md", "fal_app.py", "pyproject.toml",
                             "report.json"]
    assert data["apps"] == [{"name": "io-bound", "route": "entry_point", "class": "Fetcher"},
                            {"name": "io-bound-app", "route": "entry_point", "class": "IoBoundApp"}]


def test_default_out_is_sibling(tmp_path):
    assert default_out(tmp_path / "proj") == tmp_path / "proj-fal"


@pytest.mark.parametrize("args", [
    ("convert", "/nonexistent/src"),
    ("convert", str(FIXTURE), "--from", "heroku"),
    ("inspect", "/nonexistent/src"),
    ("inspect", str(FIXTURE), "--from", "heroku"),
    ("inspect",),
    ("convert", str(FIXTURE), "--image-ref", "not-a-digest"),
    ("convert", str(FIXTURE), "--name", "My Model"),
    ("convert", str(FIXTURE), "--name", "app.py"),
    ("convert", str(FIXTURE), "--fal-version", "banana"),
    ("convert", str(FIXTURE), "--fal-version", "1.20.0"),
    ("convert", str(FIXTURE), "--entry", "no_such_app.py"),
    ("convert", str(FIXTURE), "--entry", "app.py", "--from", "cog"),
    ("convert", str(FIXTURE), "--dockerfile", "docker/Dockerfile"),
])
def test_bad_input_is_one_line_exit_2(args, tmp_path):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert len([line for line in result.stderr.splitlines() if line.startswith("error:")]) == 1


def test_bad_name_or_fal_version_writes_nothing(tmp_path):
    for args in (("--name", "Bad Name"), ("--fal-version", "0.1")):
        assert invoke("convert", FIXTURE, "--out", tmp_path / "out", *args).exit_code == 2
    assert list(tmp_path.iterdir()) == []


def test_name_and_fal_version_reach_pyproject_and_dockerfile(tmp_path):
    import tomllib

    out = tmp_path / "out"
    assert invoke("convert", FIXTURE, "--out", out, "--name", "prod-echo", "--fal-version",
                  "1.90.2").exit_code == 0
    apps = tomllib.loads((out / "pyproject.toml").read_text())["tool"]["fal"]["apps"]
    assert list(apps) == ["prod-echo", "prod-echo-io-bound-app"]
    assert "RUN python3 -m pip install fal==1.90.2\n" in (out / "Dockerfile").read_text()


def test_bad_input_json(tmp_path):
    result = invoke("convert", "/nonexistent/src", "--json")
    data = json.loads(result.stdout)
    assert result.exit_code == 2 and data["error"]["exit_code"] == 2 and data["ok"] is False


def test_inspect_schema_is_valid_json_schema_and_specs_validate():
    schema = json.loads(invoke("inspect", "--schema").stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    for spec in (echo_spec(), full_spec()):
        jsonschema.validate(json.loads(spec.to_json()), schema)
    wrapped = json.loads(invoke("inspect", "--schema", "--json").stdout)
    assert wrapped["schema"] == schema


def test_inspect_prints_spec_that_round_trips():
    result = invoke("inspect", FIXTURE)
    spec = AppSpec.model_validate(json.loads(result.stdout))
    assert spec.source.platform == "modal"
    assert AppSpec.from_json(spec.to_json()) == spec
    assert json.loads(invoke("inspect", FIXTURE, "--json").stdout)["spec"] == json.loads(result.stdout)


def test_spec_round_trip():
    for spec in (echo_spec(), full_spec()):
        assert AppSpec.from_json(spec.to_json()) == spec


def _verify_project(tmp_path, monkeypatch):
    monkeypatch.setenv("FALMIGRATE_VERIFY_RUNNERS", "cog=tests.verify.fake_runner")
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    src, out = write_project(tmp_path / "src"), write_project(tmp_path / "out")
    for name, text in render_files(echo_spec(), None).items():
        (out / name).write_text(text)
    return src, out


def test_verify_exit_codes(tmp_path, monkeypatch):
    src, out = _verify_project(tmp_path, monkeypatch)
    ok = invoke("verify", src, out)
    assert ok.exit_code == 0 and "pass  predict-example-1" in ok.stdout
    report = json.loads(invoke("verify", src, out, "--json").stdout)
    assert report["ok"] and report["passed"] == 1
    (out / "predict.py").write_text((out / "predict.py").read_text().replace('"!"', '"?"'))
    assert invoke("verify", src, out).exit_code == 1
    failed = invoke("verify", src, out, "--json")
    assert failed.exit_code == 1 and json.loads(failed.stdout)["failed"] == 1
    (src / "predict.py").write_text("def broken(:\n")
    assert invoke("verify", src, out).exit_code == 12
    cases = tmp_path / "cases.json"
    cases.write_text("[1, 2]")
    assert invoke("verify", src, out, "--cases", cases).exit_code == 2


def test_exit_code_table_is_documented():
    text = (REPO / "docs" / "cli.md").read_text()
    for code, meaning in EXIT_CODES.items():
        assert f"| {code} | {meaning} |" in text


@pytest.mark.parametrize("case", ["runpod/async_handler", "modal/concurrent"])
def test_convert_then_verify_a_bundled_fixture(case, tmp_path):
    """The whole loop on real fixtures: convert, then verify with the fixture's cases (both sides run)."""
    case_dir = REPO / "fixtures" / case
    out = tmp_path / "out"
    assert invoke("convert", case_dir / "input", "--out", out).exit_code == 0
    result = invoke("verify", case_dir / "input", out, "--cases", case_dir / "cases.json", "--json")
    report = json.loads(result.stdout)
    assert result.exit_code == 0, report
    assert report["ok"] and report["passed"] == len(json.loads((case_dir / "cases.json").read_text()))


@pytest.mark.parametrize("command", ["convert", "inspect", "verify", "rules"])
def test_every_option_is_documented(command):
    import typer.main

    text = (REPO / "docs" / "cli.md").read_text()
    section = text.split(f"\n## `{command}`\n", 1)[1].split("\n## ", 1)[0]
    click_command = typer.main.get_command(app).commands[command]
    for param in click_command.params:
        if param.name == "help":
            continue
        names = [o for o in getattr(param, "opts", []) if o.startswith("--")] or [param.name.upper()]
        assert f"`{names[0]}`" in section, f"{command}: {names[0]} missing from docs/cli.md"


ALL_FIXTURES = sorted(p.parent for p in (REPO / "fixtures").glob("*/*/input") if p.is_dir())


def _request_options(case) -> list[str]:
    """A case's request.json as the command-line options it stands for (``--entry``, ``--route``…)."""
    path = case / "request.json"
    options = json.loads(path.read_text()) if path.is_file() else {}
    flags = [f"--{key}" for key, value in sorted(options.items()) if value is True]
    return flags + [part for key, value in sorted(options.items()) if not isinstance(value, bool)
                    for part in (f"--{key}", str(value))]


@pytest.mark.parametrize("case", ALL_FIXTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_bundled_fixture_converts_to_the_four_files_and_checks_clean(case, tmp_path):
    out = tmp_path / "out"
    options = _request_options(case)
    result = invoke("convert", case / "input", "--out", out, "--json", *options)
    assert result.exit_code == 0, result.output
    assert {"pyproject.toml", "Dockerfile", "MIGRATION.md", "report.json"} <= {p.name for p in out.iterdir()}
    assert json.loads(result.stdout)["platform"] == fixture_platform(case)  # auto-detected
    assert invoke("convert", case / "input", "--out", out, "--check", *options).exit_code == 0
    (out / "MIGRATION.md").write_text("stale\n")
    assert invoke("convert", case / "input", "--out", out, "--check", *options).exit_code == 1
