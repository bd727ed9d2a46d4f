"""No generated file uses fal's private API: every fixture's output is free of `_add_extra_routes`,
`_allow_init` and `_build_app` (our own checks reach those only through falmigrate/falsdk.py)."""

from __future__ import annotations

import pytest

from falmigrate.convert import convert
from falmigrate.errors import UsageError
from tests.helpers.golden import FIXTURE_SETS, fixture_cases, fixture_platform, fixture_request

PRIVATE = ("_add_extra_routes", "_allow_init", "_build_app")
CASES = [case for fixture_set in FIXTURE_SETS for case in fixture_cases(fixture_set)]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.name}" for c in CASES])
def test_generated_files_use_no_private_fal_api(case):
    for native in (False, True) if case.parent.name in ("docker", "modal") else (False,):
        try:
            files = convert(case / "input", fixture_platform(case), request=fixture_request(case),
                            native=native).files
        except UsageError as exc:  # --native refused (a server that is not FastAPI/Flask): nothing written
            assert native and "--native" in exc.message, exc.message
            continue
        used = {(name, hook) for name, text in files.items() for hook in PRIVATE if hook in text}
        assert not used, f"{case.name} (native={native}): {sorted(used)}"


def test_templates_and_app_code_modules_use_no_private_fal_api():
    from tests.helpers.golden import REPO

    sources = [*REPO.joinpath("templates").glob("*.j2"),
               *REPO.joinpath("falmigrate", "apptemplates").glob("*.py")]
    assert sources
    for path in sources:
        assert not [hook for hook in PRIVATE if hook in path.read_text()], path
