"""Behaviour diff per fixture through ``falmigrate verify``: the Modal app run locally the Modal way
(``falmigrate/verify/runners/modal.py``) vs the converted fal app offline, each side in its worker
subprocess. Cases: the fixture's cases.json plus the cases for non-primary apps below."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from falmigrate.convert import convert, write_output
from falmigrate.verify import load_cases, verify

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "fixtures" / "modal"
NAMES = sorted(p.name for p in FIXTURES.iterdir() if (p / "cases.json").is_file())
# Cases for the fal apps other than the primary one (spec.extra["apps"]).
EXTRA_CASES = {
    "concurrent": [{"name": "ping", "app": "IoBoundApp", "endpoint": "/", "method": "POST", "input": {"n": 41}}],
    "wsgi_batched": [{"name": "square", "app": "WsgiBatchedApp", "endpoint": "/", "method": "POST", "input": {"xs": 7}}],
}


@pytest.mark.parametrize("name", NAMES)
def test_modal_and_fal_agree(name: str, tmp_path: Path) -> None:
    src = FIXTURES / name / "input"
    out = tmp_path / "out"
    write_output(convert(src, "modal"), out)
    cases = load_cases(FIXTURES / name / "cases.json") + EXTRA_CASES.get(name, [])
    report = verify(src, out, cases, platform="modal")
    assert report["ok"], json.dumps(report["cases"], indent=2)
    assert report["passed"] == len(cases)
    assert not any(isinstance(row["source"], dict) and "error" in row["source"] for row in report["cases"])


def test_verify_cli_reports_a_behaviour_change(tmp_path: Path) -> None:
    src = FIXTURES / "class_enter_methods" / "input"
    out = tmp_path / "out"
    write_output(convert(src, "modal"), out)
    app = out / "fal_app.py"
    app.write_text(app.read_text().replace('"chars": sum(len(w) for w in words)', '"chars": 0'))
    cmd = [sys.executable, "-m", "falmigrate", "verify", str(src), str(out), "--cases",
           str(FIXTURES / "class_enter_methods" / "cases.json"), "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert [row["name"] for row in report["cases"] if not row["equal"]] == ["count"]
