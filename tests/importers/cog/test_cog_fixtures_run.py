"""Each fixture is a real cog project: the installed cog loads it (its own loader), setup() runs (class
predictors), predict()/run() — or the predictor function — answers its first case with the Input defaults
resolved for the rest — outside falmigrate's code paths."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "cog"

_PROBE = r"""
import inspect, json, sys, yaml, asyncio
from cog import FieldInfo
from cog.predictor import load_predictor_from_ref
cases_file = sys.argv[1] if len(sys.argv) > 1 else None
sys.argv = ["predict.py"]  # cog imports the predictor without command-line arguments
config = yaml.safe_load(open("cog.yaml"))
ref = config.get("run") if isinstance(config.get("run"), str) else config["predict"]
predictor = load_predictor_from_ref(ref)
if inspect.isfunction(predictor):
    method = predictor
else:
    takes_weights = "weights" in inspect.signature(predictor.setup).parameters
    setup = predictor.setup(None) if takes_weights else predictor.setup()
    if inspect.iscoroutine(setup):
        asyncio.run(setup)
    runs = hasattr(type(predictor), "run") and "run" in vars(type(predictor))
    method = getattr(predictor, "run" if runs else "predict")
first = json.load(open(cases_file))[0]["input"] if cases_file else {}
kwargs = {}
for name, param in inspect.signature(method).parameters.items():
    default = param.default.default if isinstance(param.default, FieldInfo) else param.default
    kwargs[name] = first.get(name, default)
value = method(**kwargs)
if inspect.iscoroutine(value):
    value = asyncio.run(value)
if inspect.isgenerator(value):
    value = list(value)
print("RESULT=" + json.dumps(value, default=str))
"""


def test_every_fixture_runs_under_cog() -> None:
    ran = []
    for case in sorted(p for p in FIXTURES.iterdir() if (p / "input" / "cog.yaml").is_file()):
        if case.name == "runner_run":  # its only file input has no default: covered by the parity cases
            continue
        cases = case / "cases.json"
        proc = subprocess.run([sys.executable, "-c", _PROBE, *([str(cases)] if cases.is_file() else [])],
                              cwd=case / "input", capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 0, f"{case.name}: {proc.stderr[-2000:]}"
        result = [line for line in proc.stdout.splitlines() if line.startswith("RESULT=")]
        assert result and json.loads(result[0][7:]) is not None, case.name
        ran.append(case.name)
    assert len(ran) >= 8
