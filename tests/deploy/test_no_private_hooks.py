"""No generated file uses fal's private API: every fixture's output is free of `_add_extra_routes`,
`_allow_init` and `_build_app` (our own checks reach those only through falmigrate/falsdk.py)."""

from __future__ import annotations

import pytest

from falmigrate.convert import convert
from tests.helpers.golden import fixture_cases

PRIVATE = ("_add_extra_routes", "_allow_init", "_build_app")
CASES = [case for platform in ("cog", "modal", "runpod", "docker") for case in fixture_cases(platform)]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.name}" for c in CASES])
def test_generated_files_use_no_private_fal_api(case):
    for native in (False, True) if case.parent.name == "docker" else (False,):
        files = convert(case / "input", case.parent.name, native=native).files
        used = {(name, hook) for name, text in files.items() for hook in PRIVATE if hook in text}
        assert not used, f"{case.name} (native={native}): {sorted(used)}"


def test_templates_and_app_code_modules_use_no_private_fal_api():
    from tests.helpers.golden import REPO

    sources = [*REPO.joinpath("templates").glob("*.j2"), *REPO.joinpath("falmigrate", "apptemplates").glob("*.py")]
    assert sources
    for path in sources:
        assert not [hook for hook in PRIVATE if hook in path.read_text()], path
