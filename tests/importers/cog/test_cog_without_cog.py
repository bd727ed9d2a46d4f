"""cog is not installed in the fal image unless kept code needs it: every converted fixture's predictor app
imports and answers its cases with the cog package made unimportable (the test venv has cog, so the other
offline checks cannot see this). Trainer apps (cases naming an ``app``) call the user's training module,
for which the image installs cog; they are not part of this check."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from falmigrate.convert import convert, write_output
from tests.helpers.golden import fixture_request
from tests.importers.cog.test_cog_parity import FAILING

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "cog"
NAMES = sorted(p.name for p in FIXTURES.iterdir() if (p / "cases.json").is_file())

_PROBE = """
import json, sys
sys.modules["cog"] = None  # `import cog` (and `from cog import …`) now raises ImportError
from falmigrate.verify import falside
falside.use_in_memory_files()
module = falside.load_module(sys.argv[1])
cases = [c for c in json.load(open(sys.argv[2])) if "app" not in c]
with falside.client(falside.pick_app(module)) as client:
    codes = [client.post(c.get("endpoint", "/"), json=c["input"]).status_code for c in cases]
print("CODES=" + json.dumps([[c["name"], code] for c, code in zip(cases, codes)]))
"""


@pytest.mark.parametrize("name", NAMES)
def test_converted_app_runs_without_the_cog_package(name: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_output(convert(FIXTURES / name / "input", "cog", request=fixture_request(FIXTURES / name)), out)
    cases = FIXTURES / name / "cases.json"
    proc = subprocess.run([sys.executable, "-c", _PROBE, str(out / "fal_app.py"), str(cases)], cwd=out,
                          capture_output=True, text=True, timeout=120, check=False)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("CODES=")), None)
    assert line is not None, proc.stderr[-2000:]
    codes = dict(json.loads(line[6:]))
    # 500 only where the user's code fails under cog too (e.g. a ragged grid): never an import problem
    assert all(code in (200, 422) or (code == 500 and (name, case) in FAILING)
               for case, code in codes.items()), codes
    assert 200 in codes.values(), codes
