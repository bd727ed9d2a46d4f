"""Behaviour diff per fixture: the Modal app run locally the Modal way vs the generated fal app offline.

Each side runs in its own subprocess (``tests/importers/modal/sides.py``); one run per fixture handles
all of its cases. Cases come from the fixture's cases.json plus the extra-app cases below.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from falmigrate.codemods.modal import rewrite
from falmigrate.importers.modal import ModalImporter

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "fixtures" / "modal"
NAMES = sorted(p.name for p in FIXTURES.iterdir() if (p / "cases.json").is_file())
# Cases for the fal apps other than the primary one (spec.extra["apps"]).
EXTRA_CASES = {
    "concurrent": [{"name": "ping", "app": "IoBoundApp", "endpoint": "/", "method": "POST", "input": {"n": 41}}],
    "wsgi_batched": [{"name": "square", "app": "WsgiBatchedApp", "endpoint": "/", "method": "POST", "input": {"xs": 7}}],
}


def _side(args: list[str], cwd: Path, *extra_path: Path) -> None:
    paths = [str(REPO), *map(str, extra_path), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    proc = subprocess.run([sys.executable, "-m", "tests.importers.modal.sides", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.parametrize("name", NAMES)
def test_modal_and_fal_agree(name: str, tmp_path: Path) -> None:
    root = FIXTURES / name / "input"
    spec = ModalImporter().load(root)
    out = tmp_path / "out"
    out.mkdir()
    (out / "fal_app.py").write_text(rewrite(spec, root).code)
    (out / "Dockerfile").write_text("FROM python:3.11-slim\n")  # read by ContainerImage at import
    cases = json.loads((FIXTURES / name / "cases.json").read_text()) + EXTRA_CASES.get(name, [])
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    (tmp_path / "spec.json").write_text(spec.to_json())
    files = [str(tmp_path / f) for f in ("spec.json", "cases.json")]
    _side(["source", str(root), *files, str(tmp_path / "source.json")], root)
    # In the image the project is copied next to fal_app.py: its own modules are importable.
    _side(["fal", str(out), *files, str(tmp_path / "fal.json")], out, root)
    source = json.loads((tmp_path / "source.json").read_text())
    fal = json.loads((tmp_path / "fal.json").read_text())
    assert len(source) == len(cases)
    assert not any(isinstance(v, dict) and "error" in v for v in source), source
    assert fal == source
