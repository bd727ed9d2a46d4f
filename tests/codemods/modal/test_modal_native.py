"""``convert --native``: Modal web apps rewritten as fal apps (entry-point route) without private fal hooks.

fal endpoints answer POST only: the catch-all endpoint forwards each request to the in-process app,
and a GET route is reached with POST and its query parameters as a JSON object (the forwarder retries
as GET when the app answers 405). Compared with the source app run the Modal way.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from falmigrate.convert import convert, write_output
from falmigrate.verify import run_side
from falmigrate.verify.check import check_generated_app
from falmigrate.verify.normalize import normalize
from falmigrate.verify.worker import run_fal

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "modal"
SOURCE_CASES = {
    "asgi_app": [{"name": "add", "endpoint": "/add", "method": "POST", "input": {"a": 1.5, "b": 2}},
                 {"name": "ping", "endpoint": "/ping", "method": "GET", "input": {"name": "fal"}}],
    "wsgi_batched": [{"name": "echo", "endpoint": "/any/path", "method": "POST", "input": {"b": 1, "a": 2}}],
    "web_server": [{"name": "reverse", "endpoint": "/reverse", "method": "POST",
                    "input": {"text": "native"}}],
}


@pytest.mark.parametrize("name", sorted(SOURCE_CASES))
def test_native_web_apps_answer_like_the_source(name: str, tmp_path: Path) -> None:
    src = FIXTURES / name / "input"
    result = convert(src, "modal", native=True)
    assert all(app.route == "entry_point" for app in result.spec.served_apps())
    code = result.files["fal_app.py"]
    assert ('@fal.endpoint("/{path:path}")' in code and "_add_extra_routes" not in code
            and "_allow_init" not in code)
    assert "falmigrate_modal_serve.py" not in result.files  # no launcher: fal's runner serves the app
    out = write_output(result, tmp_path / "out")
    check_generated_app(out)
    source_cases = SOURCE_CASES[name]
    source = run_side("source", src, result.spec, source_cases)
    fal_cases = [{**case, "method": "POST"} for case in source_cases]  # fal endpoints take POST
    old = os.getcwd()
    try:
        fal = [normalize(value) for value in run_fal(out, result.spec, fal_cases)]
    finally:
        os.chdir(old)
    assert fal == source
