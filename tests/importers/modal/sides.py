"""Both sides of the Modal behaviour diff, each run in its own subprocess by test_modal_parity.

    python -m tests.importers.modal.sides source SRC SPEC_JSON CASES_JSON RESULT_JSON
    python -m tests.importers.modal.sides fal OUT SPEC_JSON CASES_JSON RESULT_JSON

The source side is ``falmigrate.verify.runners.modal.run_source`` (Modal's own local path). The fal
side loads OUT/fal_app.py, instantiates the case's app class (``case["app"]``, default the primary),
and POSTs each case offline through fastapi's TestClient (the lifespan runs setup()).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path


def source(root: str, spec_path: str, cases_path: str, result_path: str) -> None:
    from falmigrate.spec import AppSpec
    from falmigrate.verify.runners.modal import run_source

    os.chdir(root)
    spec = AppSpec.from_json(Path(spec_path).read_text())
    results = run_source(Path(root), spec, json.loads(Path(cases_path).read_text()))
    Path(result_path).write_text(json.dumps(results, default=str))


def fal_side(out: str, spec_path: str, cases_path: str, result_path: str) -> None:
    from fastapi.testclient import TestClient

    from falmigrate.spec import AppSpec

    os.chdir(out)
    sys.path.insert(0, out)
    spec = AppSpec.from_json(Path(spec_path).read_text())
    module_spec = importlib.util.spec_from_file_location("fal_app", Path(out) / "fal_app.py")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    cases = json.loads(Path(cases_path).read_text())
    results = []
    for app_name in dict.fromkeys(case.get("app", spec.class_name) for case in cases):
        app = getattr(module, app_name)(_allow_init=True)
        with TestClient(app._build_app()) as client:
            for case in cases:
                if case.get("app", spec.class_name) != app_name:
                    continue
                response = client.post(case["endpoint"], json=case["input"])
                value = response.json()
                if response.status_code != 200:
                    value = {"status": response.status_code, "body": value}
                elif isinstance(value, dict) and list(value) == ["output"]:
                    value = value["output"]  # method outputs are wrapped in {"output": ...}
                results.append((cases.index(case), value))
    Path(result_path).write_text(json.dumps([v for _, v in sorted(results, key=lambda r: r[0])]))


if __name__ == "__main__":
    side, *args = sys.argv[1:]
    (source if side == "source" else fal_side)(*args)
