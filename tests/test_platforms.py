"""The platform registry: every entry resolves to a real importer, codemod and verify runner, and the
importer lookup, codemod dispatch, verify runners, spec and CLI words all come from it."""

from __future__ import annotations

import dataclasses
import inspect
import typing

import pytest
from typer.testing import CliRunner

from falmigrate import codemods, importers, platforms
from falmigrate.cli.app import app
from falmigrate.errors import SourceError, UsageError, VerifyError
from falmigrate.spec import Platform, SourceInfo
from falmigrate.verify import runners
from tests.helpers.golden import FIXTURES
from tests.helpers.specs import echo_spec


@pytest.mark.parametrize("info", platforms.PLATFORMS, ids=lambda p: p.name)
def test_entry_resolves_to_an_importer_a_codemod_and_a_verify_runner(info):
    importer = platforms.resolve(info.importer)()
    assert importer.platform == info.name and callable(importer.detect) and callable(importer.load)
    assert importers.get_importer(info.name).__class__ is type(importer)
    assert info.codemod is not None
    rewrite = platforms.resolve(info.codemod)
    assert list(inspect.signature(rewrite).parameters)[:2] == ["spec", "root"]
    runner = runners.runner_module(info.name)
    assert runner.__name__ == info.verify_runner and callable(runner.run_source)
    assert info.skip_dirs >= {".git", "__pycache__"} and (FIXTURES.parent / info.guide).is_file()


@pytest.mark.parametrize("info", platforms.PLATFORMS, ids=lambda p: p.name)
def test_every_fixture_of_a_platform_is_detected_as_it(info):
    cases = sorted(p for p in (FIXTURES / info.name).glob("*/input") if p.is_dir())
    assert cases, f"no fixtures for {info.name}"
    for case in cases:
        assert importers.detect(case).platform == info.name, case


def test_the_spec_accepts_exactly_the_registered_platforms():
    assert typing.get_args(Platform) == platforms.NAMES
    SourceInfo(platform="runpod", root=".")
    with pytest.raises(ValueError, match="platform"):
        SourceInfo(platform="heroku", root=".")


def test_names_words_and_ranges():
    assert platforms.NAMES == ("cog", "modal", "runpod", "docker") == importers.PLATFORMS
    assert platforms.choices() == "auto | cog | modal | runpod | docker"
    assert platforms.display_list() == "cog, Modal, RunPod or Docker"
    assert str(platforms.get("runpod").rules) == "FM300–FM399"
    assert platforms.rule_range("shared") is platforms.SHARED_RULES
    assert platforms.find("heroku") is None
    with pytest.raises(KeyError):
        platforms.get("heroku")
    assert platforms.rule_number("FM042") == 42 and platforms.rule_number("FM42") is None


def test_an_unknown_platform_is_a_usage_error_listing_the_registered_ones():
    with pytest.raises(UsageError, match="auto, cog, modal, runpod, docker"):
        importers.get_importer("heroku")
    with pytest.raises(VerifyError, match="heroku"):
        runners.runner_module("heroku")


def test_an_unrecognised_project_names_every_platform_and_what_it_looks_for(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing to migrate\n")
    with pytest.raises(SourceError) as caught:
        importers.detect(tmp_path)
    assert f"as a {platforms.display_list()} project" in str(caught.value)
    for info in platforms.PLATFORMS:
        assert info.marker in caught.value.hint and f"--from {'|'.join(platforms.NAMES)}" in caught.value.hint


@pytest.mark.parametrize("command", ["convert", "inspect"])
def test_from_help_lists_the_registered_platforms(command):
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "240"})
    assert result.exit_code == 0 and platforms.from_help() in result.stdout


def _swap(monkeypatch, name: str, **changes) -> None:
    entry = dataclasses.replace(platforms.get(name), **changes)
    monkeypatch.setitem(platforms._BY_NAME, name, entry)


def test_a_broken_optional_importer_does_not_break_the_others(monkeypatch):
    _swap(monkeypatch, "cog", importer="falmigrate.importers.not_built_here:Gone")
    modal_case = FIXTURES / "modal" / "concurrent" / "input"
    assert importers.detect(modal_case).platform == "modal"
    with pytest.raises(UsageError, match="not available"):
        importers.get_importer("cog")
    _swap(monkeypatch, "cog", importer="falmigrate.importers.cog:NoSuchClass")
    with pytest.raises(AttributeError):  # a typo in the registry is a bug, not a missing component
        importers.get_importer("cog")


def _recording_rewrite(spec, root, **options):
    return codemods.RewriteResult(code=f"# rewritten {spec.name} {sorted(options)}\n")


def test_codemod_dispatch_reads_the_registry(monkeypatch, tmp_path):
    spec = echo_spec()
    _swap(monkeypatch, spec.source.platform, codemod=f"{__name__}:_recording_rewrite")
    assert codemods.rewrite(spec, tmp_path, native=False).code == f"# rewritten {spec.name} ['native']\n"
    _swap(monkeypatch, spec.source.platform, codemod=None)
    assert codemods.rewrite(spec, tmp_path) is None


def test_verify_runner_reads_the_registry_and_the_override_wins(monkeypatch):
    _swap(monkeypatch, "runpod", verify_runner="falmigrate.verify.runners.modal")
    assert runners.runner_module("runpod").__name__ == "falmigrate.verify.runners.modal"
    monkeypatch.setenv(runners.OVERRIDE_ENV, "runpod=falmigrate.verify.runners.cog")
    assert runners.runner_module("runpod").__name__ == "falmigrate.verify.runners.cog"
    _swap(monkeypatch, "runpod", verify_runner="falmigrate.verify.runners.not_built_here")
    monkeypatch.delenv(runners.OVERRIDE_ENV)
    with pytest.raises(VerifyError, match="no verify runner for runpod"):
        runners.runner_module("runpod")


APP_FILES = {
    "modal": ('import modal\n\napp = modal.App("x")\n\n\n@app.function()\n'
              'def f(x: int) -> int:\n    return x\n'),
    "runpod": 'import runpod\n\n\ndef handler(job):\n    return job["input"]\n\n\n'
              'runpod.serverless.start({"handler": handler})\n',
}


@pytest.mark.parametrize("name", sorted(APP_FILES))
def test_importer_scans_skip_the_registered_directories(name, tmp_path):
    importer = importers.get_importer(name)
    seen = tmp_path / "seen" / "src"
    seen.mkdir(parents=True)
    (seen / "app.py").write_text(APP_FILES[name])
    assert importer.detect(seen.parent) > 0  # one level down is found...
    for skipped in sorted(platforms.get(name).skip_dirs):
        root = tmp_path / f"skip-{skipped}"
        (root / skipped).mkdir(parents=True)
        (root / skipped / "app.py").write_text(APP_FILES[name])
        assert importer.detect(root) == 0, skipped  # ...but not inside a skipped directory
