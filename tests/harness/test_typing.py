"""mypy holds the line on falmigrate/spec and falmigrate/oci: ``[tool.mypy]`` in pyproject.toml says
what it checks and how strictly; this runs it exactly as a developer would, from the repo root."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers.golden import REPO


def test_mypy_is_clean() -> None:
    # the cache (.mypy_cache, gitignored) makes a repeat run take about a second instead of ~15
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=REPO, capture_output=True, text=True,
                            timeout=240, check=False)
    assert result.returncode == 0, f"mypy found problems:\n{result.stdout}{result.stderr}"
