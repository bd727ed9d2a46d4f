"""Stand-in fal side for these tests: load OUT/fal_app.py, run it offline through its ASGI app
(fastapi TestClient: the lifespan runs setup(), which starts the user's server), send the cases.

Run as ``python -m tests.importers.docker.falside OUT MODE CASES_JSON RESULT_JSON`` with the
environment from ``falmigrate.verify.runners.docker.fal_side_env``.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import sys
from pathlib import Path


def main(out: str, mode: str, cases_path: str, result_path: str) -> None:
    """``mode`` "native": every case is POSTed (fal endpoints answer POST), else sent as written."""
    import fal
    from fastapi.testclient import TestClient

    from falmigrate.verify.runners.docker import request

    sys.path.insert(0, out)
    module_spec = importlib.util.spec_from_file_location("fal_app", Path(out) / "fal_app.py")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    apps = [v for v in vars(module).values() if inspect.isclass(v) and issubclass(v, fal.App) and v is not fal.App]
    app = apps[0](_allow_init=True)
    cases = json.loads(Path(cases_path).read_text())
    if mode == "native":
        cases = [{**case, "method": "POST"} for case in cases]
    with TestClient(app._build_app()) as client:
        results = [request(client, case) for case in cases]
    Path(result_path).write_text(json.dumps(results))


if __name__ == "__main__":
    main(*sys.argv[1:5])
