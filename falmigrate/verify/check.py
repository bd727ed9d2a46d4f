"""Checks every generated app must pass: it compiles, ``ruff check --select F,E9`` is clean, it imports
under the real ``fal`` package (in a subprocess, so a broken app cannot poison the caller), and it
defines at least one ``fal.App`` subclass. All problems are collected and raised together.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from falmigrate.errors import CheckFailed

APP_FILE = "fal_app.py"
_IMPORT_PROBE = """
import json, sys
from falmigrate.verify.falside import app_classes, load_module
module = load_module(sys.argv[1])
print("FALMIGRATE_APPS=" + json.dumps([c.__name__ for c in app_classes(module)]))
"""


def _compile(path: Path) -> list[str]:
    try:
        compile(path.read_text(encoding="utf-8"), str(path), "exec")
    except SyntaxError as exc:
        return [f"{path.name}:{exc.lineno}: does not compile: {exc.msg}"]
    return []


def _ruff(path: Path) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--select", "F,E9", "--no-cache", "--output-format",
         "concise", "--isolated", str(path)],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode == 0:
        return []
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    return [f"ruff: {line}" for line in lines if not line.startswith(("Found ", "[*]"))] or ["ruff failed"]


def _imports(path: Path, timeout: float) -> list[str]:
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _IMPORT_PROBE, str(path)], cwd=path.parent,
            capture_output=True, text=True, timeout=timeout, check=False,
        )
    except subprocess.TimeoutExpired:
        return [f"importing {path.name} took longer than {timeout:.0f}s"]
    apps = None
    for line in proc.stdout.splitlines():
        if line.startswith("FALMIGRATE_APPS="):
            apps = json.loads(line.partition("=")[2])
    if proc.returncode != 0 or apps is None:
        tail = "\n".join(proc.stderr.strip().splitlines()[-8:])
        return [f"{path.name} does not import under fal:\n{tail}"]
    if not apps:
        return [f"{path.name} defines no fal.App subclass"]
    return []


def check_generated_app(out_dir: Path, *, timeout: float = 120.0) -> None:
    """Raise ``CheckFailed`` listing every problem of ``out_dir/fal_app.py``; return None when clean."""
    path = Path(out_dir) / APP_FILE
    if not path.is_file():
        raise CheckFailed(f"no {APP_FILE} in {out_dir}")
    problems = _compile(path)
    problems += _ruff(path)
    if not problems:  # an app that does not compile cannot import either
        problems += _imports(path, timeout)
    if problems:
        raise CheckFailed(f"generated app check failed for {path}:\n"
                          + "\n".join(f"  - {p}" for p in problems),
                          file=path)
