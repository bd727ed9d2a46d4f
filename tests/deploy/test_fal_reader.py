"""Every fixture's output deploys by name from a machine with only fal: fal's own reader accepts its
pyproject.toml and fal's deploy preparation imports nothing of the app (run offline, no server)."""

from __future__ import annotations

import pytest

from falmigrate.convert import convert, write_output
from tests.helpers.falonly import probe
from tests.helpers.golden import (
    FIXTURE_SETS,
    FIXTURES,
    fixture_cases,
    fixture_native,
    fixture_platform,
    fixture_request,
)

CASES = [case for fixture_set in FIXTURE_SETS for case in fixture_cases(fixture_set)]



@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.name}" for c in CASES])
def test_fal_reads_every_app_and_imports_none_of_it(case, tmp_path):
    result = convert(case / "input", fixture_platform(case), request=fixture_request(case),
                     native=fixture_native(case))
    out = write_output(result, tmp_path / "out")
    report = probe(out)
    assert report["imported_app_modules"] == []
    apps = {app.name: app for app in result.spec.served_apps()}
    assert sorted(report["apps"]) == sorted(apps)
    dockerfile = (out / "Dockerfile").read_text()
    for name, seen in report["apps"].items():
        app = apps[name]
        assert seen["name"] == name and seen["auth"] == "private" and seen["reset_scale"] is True
        assert seen["ref"] is None and seen["environment"]["kind"] == "container"
        assert seen["image"]["dockerfile_str"] == dockerfile
        assert seen["host"]["machine_type"] == app.hardware.machine_type
        if app.route == "entry_point":
            assert seen["python_entry_point"] == f"fal_app:{app.class_name}"
            assert seen["environment"]["python_version"] == result.spec.image.python
            assert "use_isolate" not in seen["image"] and seen["gateway"] == {}
        else:
            assert app.server is not None and seen["python_entry_point"] is None
            assert seen["image"]["use_isolate"] is False
            assert seen["gateway"] == {"exposed_port": app.server.port}
            assert seen["health_check"]["path"] == app.server.health.path
            assert seen["health_check"]["method"] == "GET"


def test_fixture_list_covers_every_platform():
    assert {c.parent.name for c in CASES} == set(FIXTURE_SETS)
    assert all((FIXTURES / c.parent.name / c.name / "input").is_dir() for c in CASES)
