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
from tests.helpers.golden import fixture_request

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "fixtures" / "modal"
NAMES = sorted(p.name for p in FIXTURES.iterdir() if (p / "cases.json").is_file())
# Cases for the fal apps other than the primary one (spec.more_apps).
EXTRA_CASES = {
    "concurrent": [{"name": "ping", "app": "IoBoundApp", "endpoint": "/", "method": "POST",
                    "input": {"n": 41}}],
    "wsgi_batched": [{"name": "square", "app": "WsgiBatchedApp", "endpoint": "/", "method": "POST",
                      "input": {"xs": 7}}],
}


# Per fixture: a change to the user's code that some case must catch, made where the output runs it:
# fal_app.py for entry-point apps, the project's own module (copied into the output) for image-only ones.
MUTATIONS = {
    "asgi_app": ("pair.a + pair.b", "pair.a - pair.b"),
    "class_enter_methods": ("sum(len(w) for w in words)", "0"),
    "concurrent": ('f"{self.prefix}:{key}"', 'f"{self.prefix}-{key}"'),
    "fastapi_endpoint": ('"length": len(item.name)', '"length": 0'),
    "from_dockerfile": ('json.load(fh)["greeting"]', 'json.load(fh)["greeting"].upper()'),
    "from_registry": ("2 if i == j else 0", "3 if i == j else 0"),
    "gpu_volumes_secrets": ('"seed": seed', '"seed": seed + 1'),
    "image_chain": ("return helpers.scale(x, factor)", "return helpers.scale(x, factor) + 1"),
    "web_server": ('{"result": ops[self.path]}', '{"result": 0}'),
    "wsgi_batched": ('"keys": sorted(data)', '"keys": []', "app.py"),  # the WSGI app is served image-only
    "fstring_tags": ('" ".join(reversed(words))', '" ".join(words)'),
    "env_defaults": ("round(b / 255, 4)", "round(b / 256, 4)"),
    "reassigned_chain": ('"slug": slugify(text)', '"slug": text'),
    "helper_image": ("return len(words(text))", "return len(words(text)) + 1"),
    "package_app": ('"title": title(text)', '"title": text'),
    "multi_app_repo": ('"translated": True', '"translated": False'),
}


def http_cases(name: str) -> list[dict]:
    """The fixture's plain HTTP cases (``sse``/``websocket`` ones are for the in-image probe)."""
    return [c for c in load_cases(FIXTURES / name / "cases.json") if c.get("kind", "http") == "http"]


def test_every_fixture_has_a_mutation() -> None:
    assert sorted(MUTATIONS) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_a_changed_app_fails_the_diff(name: str, tmp_path: Path) -> None:
    """The behaviour diff of every fixture can fail: the same check catches a one-line change."""
    src = FIXTURES / name / "input"
    out = tmp_path / "out"
    result = convert(src, "modal", request=fixture_request(FIXTURES / name))
    write_output(result, out)
    # a package entry's rewritten module
    rewritten = [name for name in result.files if name.endswith("_fal.py")]
    old, new, *where = MUTATIONS[name]
    app = out / (where[0] if where else rewritten[0] if rewritten else "fal_app.py"
                 if "fal_app.py" in result.files
                 else result.spec.source.entry_file)
    code = app.read_text()
    assert code.count(old) == 1, f"mutation target {old!r} not in {name}'s {app.name}"
    app.write_text(code.replace(old, new))
    report = verify(src, out, http_cases(name), platform="modal")
    assert not report["ok"]
    assert any(not row["equal"] for row in report["cases"])


@pytest.mark.parametrize("name", NAMES)
def test_modal_and_fal_agree(name: str, tmp_path: Path) -> None:
    src = FIXTURES / name / "input"
    out = tmp_path / "out"
    write_output(convert(src, "modal", request=fixture_request(FIXTURES / name)), out)
    cases = http_cases(name) + EXTRA_CASES.get(name, [])
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
