"""Shared bits for the Docker-server importer tests: the fixture folder, fixture options, a project writer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from falmigrate.importers.base import ImportRequest

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "docker"


def options(case_dir: Path) -> dict:
    """``request.json`` of a fixture: ``native``, and ``entry``/``dockerfile``/``context`` for the import."""
    path = case_dir / "request.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def request_of(case_dir: Path) -> ImportRequest:
    found = options(case_dir)
    return ImportRequest(entry=found.get("entry"), dockerfile=found.get("dockerfile"),
                         context=found.get("context"))


@pytest.fixture
def project(tmp_path):
    """Write {relative path: text} into a fresh project dir and return it."""

    def write(files: dict[str, str]) -> Path:
        root = tmp_path / "proj"
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return root

    return write


@pytest.fixture
def fixture_copy(tmp_path):
    """A writable copy of a fixture's input (for mutation tests)."""

    def copy(case: str) -> Path:
        target = tmp_path / case
        shutil.copytree(FIXTURES / case / "input", target)
        return target

    return copy
