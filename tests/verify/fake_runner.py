"""A throwaway source runner for verify's own tests (the real ones are the importer areas').

Like a cog runner, stripped down: import ``predict.py`` from the root, instantiate ``Predictor``,
call ``setup()`` once, then ``predict(**input)`` per case; an exception becomes ``{"error": ...}``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any


def run_source(root: Path, spec: Any, cases: list[dict[str, Any]]) -> list[Any]:
    sys.path.insert(0, str(root))
    predictor = importlib.import_module("predict").Predictor()
    predictor.setup()
    results = []
    for case in cases:
        try:
            results.append(predictor.predict(**case["input"]))
        except Exception as exc:  # noqa: BLE001 - a failing case is a result, not a crash
            results.append({"error": str(exc)})
    return results
