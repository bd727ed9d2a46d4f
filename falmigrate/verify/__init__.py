"""``falmigrate verify``: run the same cases through the source app and the generated fal app, compare.

An image-only app's fal side is its output image's own server, started the way the image starts it
(``verify.imageonly``); an entry-point app's is the generated ``fal_app.py`` called in-process.

Each side runs in its own subprocess (``python -m falmigrate.verify.worker``; cwd = SRC for the source,
OUT for the fal side) so the two apps' imports cannot meet. Results are normalized
(``verify.normalize``) and compared per case. A side that cannot start raises ``VerifyError``; a
mismatch is reported in the returned report (``ok`` false) and the CLI exits 1.
"""

from __future__ import annotations

import difflib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from falmigrate import progress
from falmigrate.errors import UsageError, VerifyError
from falmigrate.spec import AppSpec, Endpoint
from falmigrate.verify import compat

DEFAULT_TIMEOUT = 600.0


def default_cases(spec: AppSpec) -> list[dict[str, Any]]:
    """One case per endpoint from its inputs' defaults (when every input has one) + its examples."""
    cases = []
    for endpoint in spec.endpoints:
        name = endpoint.handler.rsplit(".", 1)[-1]
        base = {"endpoint": endpoint.path, "method": endpoint.method or "POST"}
        defaults = _defaults(endpoint)
        if defaults is not None:
            cases.append({"name": f"{name}-defaults", **base, "input": defaults})
        for index, example in enumerate(endpoint.examples, start=1):
            cases.append({"name": f"{name}-example-{index}", **base, "input": dict(example)})
    return cases


def _defaults(endpoint: Endpoint) -> dict[str, Any] | None:
    values = {}
    for field in endpoint.inputs:
        if field.required:
            return None
        values[field.name] = field.default
    return values


def load_cases(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"cases file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"cases file is not JSON: {exc.msg}", file=path, line=exc.lineno) from None
    if not isinstance(data, list) or not all(isinstance(c, dict) and "input" in c for c in data):
        raise UsageError("a cases file is a JSON list of {\"name\", \"endpoint\", \"method\", \"input\"}",
                         file=path)
    return [{"name": c.get("name", f"case-{i}"), "endpoint": c.get("endpoint", "/"),
             "method": c.get("method", "POST"), **c} for i, c in enumerate(data, start=1)]


def load_spec(src: Path, out: Path, platform: str = "auto") -> AppSpec:
    """The spec the output was generated from (OUT/report.json), else the source read again."""
    report = Path(out) / "report.json"
    if report.is_file():
        try:
            return AppSpec.model_validate(json.loads(report.read_text(encoding="utf-8"))["spec"])
        except (KeyError, ValueError):
            pass
    from falmigrate import importers

    return importers.load(Path(src), platform)


def run_side(side: str, directory: Path, spec: AppSpec, cases: list[dict[str, Any]], *,
             env: dict[str, str] | None = None, timeout: float = DEFAULT_TIMEOUT) -> list[Any]:
    """Run one side in a worker subprocess; its normalized results, or VerifyError if it cannot run."""
    with tempfile.TemporaryDirectory(prefix="falmigrate-verify-") as tmp:
        spec_path, cases_path, result_path = (Path(tmp) / n
                                              for n in ("spec.json", "cases.json", "result.json"))
        spec_path.write_text(spec.to_json(), encoding="utf-8")
        cases_path.write_text(json.dumps(cases), encoding="utf-8")
        command = [sys.executable, "-m", "falmigrate.verify.worker", side, str(directory),
                   str(spec_path), str(cases_path), str(result_path)]
        try:
            proc = subprocess.run(command, cwd=directory, env={**os.environ, **(env or {})},
                                  capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise VerifyError(f"the {side} side did not finish within {timeout:.0f}s") from None
        if not result_path.is_file():
            tail = "\n".join(proc.stderr.strip().splitlines()[-10:])
            raise VerifyError(f"the {side} side crashed (exit {proc.returncode}):\n{tail}")
        payload = json.loads(result_path.read_text(encoding="utf-8"))
    if not payload.get("ok"):
        raise VerifyError(f"the {side} side could not run: {payload.get('error')}",
                          hint="see the traceback with --json" if payload.get("traceback") else None)
    return payload["results"]


def _is_error(value: Any) -> bool:
    return isinstance(value, dict) and "error" in value


def _diff(source: Any, fal: Any) -> str:
    left = json.dumps(source, indent=2, sort_keys=True).splitlines()
    right = json.dumps(fal, indent=2, sort_keys=True).splitlines()
    return "\n".join(difflib.unified_diff(left, right, fromfile="source", tofile="fal", lineterm=""))


def compare(cases: list[dict[str, Any]], source: list[Any], fal: list[Any]) -> dict[str, Any]:
    rows = []
    for case, left, right in zip(cases, source, fal, strict=True):
        both_failed = _is_error(left) and _is_error(right)
        # when both sides say how they failed ("refused": input checks / HTTP 422, "failed": the code
        # raised), a refusal on one side and a crash on the other is a difference
        kinds = {left.get("kind"), right.get("kind")} if both_failed else set()
        equal = left == right or (both_failed and (None in kinds or len(kinds) == 1))
        row = {"name": case.get("name"), "endpoint": case.get("endpoint", "/"), "equal": equal,
               "source": left, "fal": right}
        if both_failed and left != right:
            row["note"] = "both sides failed"
        if not equal:
            row["diff"] = _diff(left, right)
        rows.append(row)
    passed = sum(r["equal"] for r in rows)
    return {"ok": passed == len(rows), "passed": passed, "failed": len(rows) - passed, "cases": rows}


def verify(src: Path, out: Path, cases: list[dict[str, Any]] | None = None, *, platform: str = "auto",
           timeout: float = DEFAULT_TIMEOUT, image: compat.ImageOptions | None = None) -> dict[str, Any]:
    """Compare the source app and the generated fal app on ``cases`` (default: ``default_cases``).

    A cog app on the compatibility route has no fal_app.py: its image is built (``image``: how) and its
    own server answers the fal side (``verify.compat``)."""
    from falmigrate.verify import runners

    src, out = Path(src).resolve(), Path(out).resolve()
    for label, path in (("source", src), ("output", out)):
        if not path.is_dir():
            raise UsageError(f"{label} directory does not exist: {path}")
    has_app = (out / "fal_app.py").is_file()
    if not has_app and not (out / "report.json").is_file():
        raise UsageError(f"no fal_app.py in {out}", hint="pass the directory `falmigrate convert` wrote")
    spec = load_spec(src, out, platform)
    served = compat.applies(spec)  # cog's own server: its image is built and called
    if not served and spec.route == "entry_point" and not has_app:  # image-only apps have no Python file
        raise UsageError(f"no fal_app.py in {out}", hint="pass the directory `falmigrate convert` wrote")
    if cases is None:
        cases = runners.default_cases(spec.source.platform, spec) or default_cases(spec)
    if not cases:
        raise UsageError("no cases to run: no endpoint has defaults for every input or examples",
                         hint="pass --cases FILE")
    with progress.task(f"source side ({spec.source.platform})"):
        source = run_side("source", src, spec, cases, timeout=timeout)
    with progress.task("fal side"):
        if served:
            fal = compat.run_fal_side(out, spec, cases, image or compat.ImageOptions(), timeout=timeout)
        else:
            fal = run_side("fal", out, spec, cases, env=runners.fal_side_env(spec.source.platform, src, spec),
                           timeout=timeout)
    report = compare(cases, source, fal)
    report["platform"] = spec.source.platform
    return report
