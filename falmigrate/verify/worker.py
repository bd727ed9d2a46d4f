"""Subprocess entry of ``falmigrate verify``: run one side's cases and write the results as JSON.

    python -m falmigrate.verify.worker source SRC SPEC_JSON CASES_JSON RESULT_JSON
    python -m falmigrate.verify.worker fal    OUT SPEC_JSON CASES_JSON RESULT_JSON
    python -m falmigrate.verify.worker image  /   SPEC_JSON CASES_JSON RESULT_JSON

The parent starts it with cwd = that directory. ``image`` runs inside a built image the way fal's
runner does: ``fal_app`` is imported by name from the working directory ``/`` (the image's .pth file
makes it importable), nothing is added to ``sys.path``. The result file holds ``{"ok": true, "results":
[...]}`` (normalized values, one per case) or ``{"ok": false, "error": "..."}`` when the side could not start.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from falmigrate.spec import AppSpec
from falmigrate.verify.normalize import normalize, response_value

ENTRY_MODULE = "fal_app"  # the module pyproject's python_entry_point names


def _fal_value(response: Any) -> Any:
    kind = "refused" if response.status_code == 422 else "failed"  # 422: the request model refused the input
    return response_value(response, kind=kind)


def run_fal(out: Path, spec: AppSpec, cases: list[dict[str, Any]]) -> list[Any]:
    from falmigrate.verify import falside

    routes = {app.class_name: app.route for app in spec.served_apps()}
    served = [i for i, case in enumerate(cases)
              if routes.get(case.get("app") or spec.class_name) == "image_only"]
    results: dict[int, Any] = {}
    if served:  # image-only apps: the output's own server, run the way its image runs it
        values = _image_only(out, spec, [cases[i] for i in served])
        results.update(zip(served, values))
    rest = [i for i in range(len(cases)) if i not in results]
    if rest:
        falside.use_in_memory_files()
        values = _run_cases(falside.load_module(out / "fal_app.py"), [cases[i] for i in rest])
        results.update(zip(rest, values))
    return [results[i] for i in range(len(cases))]


def _image_only(out: Path, spec: AppSpec, cases: list[dict[str, Any]]) -> list[Any]:
    """The output's own server answers: the platform runner's way when it has one (a Modal launcher),
    else the output Dockerfile's command run as the image runs it (``verify.imageonly``)."""
    from falmigrate.verify import imageonly, runners

    if hasattr(runners.runner_module(spec.source.platform), "run_output"):
        return runners.run_output(spec.source.platform, out, spec, cases)
    return imageonly.run(out, spec, cases)


def run_image(spec: AppSpec, cases: list[dict[str, Any]]) -> list[Any]:
    from falmigrate.verify import falside

    falside.use_in_memory_files()
    return _run_cases(falside.import_entry_module(ENTRY_MODULE), cases)


def _run_cases(module: Any, cases: list[dict[str, Any]]) -> list[Any]:
    from falmigrate.verify import falside

    results: dict[int, Any] = {}
    groups: dict[str | None, list[int]] = {}
    for index, case in enumerate(cases):
        groups.setdefault(case.get("app"), []).append(index)
    for app_name, indexes in groups.items():
        with falside.client(falside.pick_app(module, app_name or None)) as client:
            for index in indexes:
                # fal endpoints answer POST only: a case the source answers with another method is sent the
                # way a client calls the endpoint now, its input (query parameters included) as the JSON body
                case = cases[index]
                response = client.request("POST", case.get("endpoint", "/"), json=case.get("input", {}))
                results[index] = _fal_value(response)
    return [results[i] for i in range(len(cases))]


def run_source(src: Path, spec: AppSpec, cases: list[dict[str, Any]]) -> list[Any]:
    from falmigrate.verify import runners

    return runners.run_source(spec.source.platform, src, spec, cases)


def main(argv: list[str]) -> int:
    side, directory, spec_path, cases_path, result_path = argv
    root = Path(directory).resolve()
    os.chdir(root)
    if side != "image" and str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        spec = AppSpec.from_json(Path(spec_path).read_text(encoding="utf-8"))
        cases = json.loads(Path(cases_path).read_text(encoding="utf-8"))
        if side == "image":
            values = run_image(spec, cases)
        else:
            values = (run_fal if side == "fal" else run_source)(root, spec, cases)
        payload = {"ok": True, "results": [normalize(v) for v in values]}
    except BaseException as exc:  # noqa: BLE001 - reported to the parent as "this side could not run"
        payload = {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                   "traceback": traceback.format_exc(limit=8)}
    Path(result_path).write_text(json.dumps(payload, default=str, sort_keys=True), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
