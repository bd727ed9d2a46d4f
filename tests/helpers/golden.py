"""Golden-file fixtures: ``fixtures/<platform>/<case>/{input,expected}``.

``fixture_cases(platform)`` lists the case directories (pytest params, ids = case names);
``fixture_request(case_dir)`` is what a case's ``request.json`` names on the command line (``--entry``,
``--dockerfile``, ``--context``, ``--route``; ``fixture_native`` its ``--native``) and
``fixture_platform(case_dir)`` the platform it converts from;
``assert_golden(case_dir, files)`` compares generated files with ``expected/`` and, when the
environment has ``FALMIGRATE_UPDATE_GOLDEN=1``, rewrites ``expected/`` instead (the only way goldens
change: an explicit flag, then a reviewed diff); ``assert_doc_current(doc, update_doc, tests)`` does the
same for a doc whose generated part ``update_doc`` rewrites.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from falmigrate.importers.base import ImportRequest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures"
UPDATE_ENV = "FALMIGRATE_UPDATE_GOLDEN"


def updating() -> bool:
    return os.environ.get(UPDATE_ENV, "") == "1"


def fixture_cases(platform: str) -> list[Path]:
    """Every ``fixtures/<platform>/<case>`` that has an ``input/`` directory, sorted by name."""
    base = FIXTURES / platform
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if p.is_dir() and (p / "input").is_dir())


FIXTURE_SETS = ("cog", "cog-compat", "modal", "runpod", "docker")  # fixtures/<set>/<case>


def fixture_platform(case_dir: Path) -> str:
    """The platform a case converts from: its set's name up to a dash (``cog-compat`` → ``cog``); a set
    with a suffix holds cases converted another way (its cases' ``request.json`` says how)."""
    return Path(case_dir).parent.name.split("-", 1)[0]


def fixture_options(case_dir: Path) -> dict:
    """A case's ``request.json``: the command-line options it is converted with (``{}`` without one)."""
    path = Path(case_dir) / "request.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def fixture_request(case_dir: Path) -> ImportRequest | None:
    """The ImportRequest of a case (``entry``, ``dockerfile``, ``context``, ``route`` of its
    ``request.json``), for repositories that hold several apps; None without one."""
    options = {k: v for k, v in fixture_options(case_dir).items() if k != "native"}
    return ImportRequest(**options) if options else None


def fixture_native(case_dir: Path) -> bool:
    """The case converts with ``--native`` (a server's routes rewritten as fal endpoints)."""
    return bool(fixture_options(case_dir).get("native", False))


def _expected_files(expected: Path) -> dict[str, str]:
    if not expected.is_dir():
        return {}
    return {
        p.relative_to(expected).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(expected.rglob("*")) if p.is_file()
    }


def _write_expected(expected: Path, files: dict[str, str]) -> None:
    tmp = expected.with_name(expected.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    for name in sorted(files):
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[name], encoding="utf-8")
    shutil.rmtree(expected, ignore_errors=True)
    tmp.rename(expected)


def assert_golden(case_dir: Path, files: dict[str, str]) -> None:
    """Fail with a unified diff per differing file (and the names of missing/extra files)."""
    expected_dir = Path(case_dir) / "expected"
    if updating():
        _write_expected(expected_dir, files)
        return
    expected = _expected_files(expected_dir)
    if not expected:
        raise AssertionError(f"no golden files in {expected_dir}; create them with {UPDATE_ENV}=1 and review")
    problems: list[str] = []
    for name in sorted(set(expected) | set(files)):
        if name not in files:
            problems.append(f"{name}: expected but not generated")
        elif name not in expected:
            problems.append(f"{name}: generated but not in expected/")
        elif files[name] != expected[name]:
            diff = difflib.unified_diff(
                expected[name].splitlines(keepends=True), files[name].splitlines(keepends=True),
                fromfile=f"expected/{name}", tofile=f"generated/{name}",
            )
            problems.append("".join(diff))
    if problems:
        raise AssertionError(
            f"golden mismatch for {Path(case_dir).name} (regenerate with {UPDATE_ENV}=1 if intended):\n"
            + "\n".join(problems)
        )


def assert_doc_current(doc: Path, update_doc: Callable[[str], str], tests: str) -> None:
    """``doc``'s generated part is what ``update_doc`` makes now; ``tests``: the test folder whose run
    regenerates it."""
    text = doc.read_text()
    if updating():
        doc.write_text(update_doc(text))
        text = doc.read_text()
    assert update_doc(text) == text, f"regenerate with {UPDATE_ENV}=1 pytest {tests}"
