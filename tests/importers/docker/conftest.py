"""Shared bits for the Docker-server importer tests: fixture case dirs and a project writer."""

from __future__ import annotations

from pathlib import Path

import pytest


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
