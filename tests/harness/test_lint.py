"""ruff holds the line on the whole repository: ``[tool.ruff]`` in pyproject.toml says what it checks
(ruff's defaults, line length, complexity; ``fixtures/`` excluded); this runs it exactly as a developer
would, from the repo root."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers.golden import REPO


def test_ruff_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=REPO,
                            capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, f"ruff found problems:\n{result.stdout}{result.stderr}"
