"""Golden outputs of every Modal fixture; every generated app passes the generated-app checks; servers
are image-only (their launcher is the one in falmigrate/apptemplates, the Dockerfile's CMD runs it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from falmigrate.convert import convert, write_output
from falmigrate.errors import SourceError
from falmigrate.importers.base import ImportRequest
from falmigrate.importers.modal.server import LAUNCHER_FILE
from falmigrate.render import launcher_source
from falmigrate.verify.check import check_generated_app
from tests.helpers.golden import assert_golden, fixture_cases, fixture_request

CASES = fixture_cases("modal")


def test_at_least_eight_fixtures() -> None:
    assert len(CASES) >= 8


@pytest.mark.parametrize("case_dir", CASES, ids=lambda p: p.name)
def test_golden_and_checks(case_dir: Path, tmp_path: Path) -> None:
    result = convert(case_dir / "input", "modal", request=fixture_request(case_dir))
    assert result.spec.source.platform == "modal"
    assert_golden(case_dir, result.files)
    apps = result.spec.served_apps()
    assert ("fal_app.py" in result.files) == any(app.route == "entry_point" for app in apps)
    for name, text in result.files.items():
        assert "_add_extra_routes" not in text and "_allow_init" not in text, name
    servers = [app.server for app in apps if app.route == "image_only"]
    if servers:
        launcher = result.files[LAUNCHER_FILE]
        assert launcher.split("\n", 1)[1] == launcher_source("modal_serve")  # the template, copied whole
        assert f"CMD {json.dumps(servers[0].command)}" in result.files["Dockerfile"]
    out = tmp_path / "out"
    write_output(result, out)
    if "fal_app.py" in result.files:
        check_generated_app(out)


def test_convert_is_deterministic() -> None:
    case = next(c for c in CASES if c.name == "gpu_volumes_secrets")
    assert convert(case / "input", "modal").files == convert(case / "input", "auto").files


def test_several_app_files_need_an_entry(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.name == "multi_app_repo")
    with pytest.raises(SourceError) as info:
        convert(case / "input", "modal")
    assert "apps/batch.py, apps/punycode.py, apps/translate.py" in info.value.message
    assert "--entry" in (info.value.hint or "")
    named = convert(case / "input", "modal", request=ImportRequest(entry="apps/punycode.py"))
    assert named.spec.source.entry_file == "apps/punycode.py" and named.spec.name == "toy-punycode"
