"""The template fal_app.py from a hand-built spec passes the generated-app checks and answers offline."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest

from falmigrate.errors import CheckFailed
from falmigrate.render import render_files
from falmigrate.spec import Endpoint, InputField, TypeRef
from falmigrate.verify import falside
from falmigrate.verify.check import check_generated_app
from tests.helpers.specs import echo_spec, full_spec, write_project

_names = itertools.count()


@pytest.fixture(autouse=True)
def _fresh_user_modules(monkeypatch):
    """Each test's app imports its own predict.py/handler.py: forget the previous test's module."""
    for name in ("predict", "handler"):
        monkeypatch.delitem(sys.modules, name, raising=False)


def _write(out: Path, files: dict[str, str]) -> Path:
    write_project(out)
    for name, text in files.items():
        (out / name).write_text(text)
    return out


def _load(out: Path):
    return falside.load_module(out / "fal_app.py", name=f"fal_app_test_{next(_names)}")


def test_generated_app_passes_checks_and_answers(tmp_path):
    out = _write(tmp_path / "out", render_files(echo_spec(), None))
    check_generated_app(out)
    module = _load(out)
    assert [c.__name__ for c in falside.app_classes(module)] == ["EchoApp"]
    with falside.client(falside.pick_app(module)) as client:
        ok = client.post("/", json={"text": "ab", "n": 3})
        assert ok.status_code == 200 and ok.json() == {"output": "ababab!"}
        assert client.post("/", json={"text": "x"}).json() == {"output": "xx!"}
        assert client.post("/", json={"text": "ab", "n": 10}).status_code == 422  # le=5
        assert client.post("/", json={"text": ""}).status_code == 422  # min_length=1
        assert client.post("/", json={"n": 1}).status_code == 422  # text required


def test_full_spec_app_passes_checks(tmp_path):
    out = _write(tmp_path / "out", render_files(full_spec(), None))
    check_generated_app(out)


def test_async_model_output_and_function_entry(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "handler.py").write_text(
        "async def run(a, b=1):\n    return {'total': a + b, 'parts': [a, b]}\n")
    output = TypeRef(kind="model", name="Result", fields=[
        InputField(name="total", type=TypeRef(kind="int")),
        InputField(name="parts", type=TypeRef(kind="list", item=TypeRef(kind="int")))])
    spec = echo_spec(
        source=echo_spec().source.model_copy(update={"entry_file": "handler.py", "entry_symbol": None}),
        lifecycle=echo_spec().lifecycle.model_copy(update={"setup": None}),
        endpoints=[Endpoint(path="/sum", handler="run", is_async=True, output=output, inputs=[
            InputField(name="a", type=TypeRef(kind="int")),
            InputField(name="b", type=TypeRef(kind="int"), required=False, default=1)])])
    files = render_files(spec, None)
    assert "class Result(BaseModel):" in files["fal_app.py"]
    assert "async def run(self, request: RunInput) -> Result:" in files["fal_app.py"]
    out = tmp_path / "out"
    for name, text in files.items():
        (out / name).write_text(text)
    check_generated_app(out)
    with falside.client(falside.pick_app(_load(out))) as client:
        assert client.post("/sum", json={"a": 2, "b": 5}).json() == {"total": 7, "parts": [2, 5]}
        assert client.post("/sum", json={"a": "x"}).status_code == 422


def test_check_reports_every_problem(tmp_path):
    (tmp_path / "fal_app.py").write_text("import os\nimport fal\n\nx = undefined_name\n")
    with pytest.raises(CheckFailed) as info:
        check_generated_app(tmp_path)
    text = str(info.value)
    assert "F401" in text and "F821" in text


def test_check_syntax_error_and_no_app(tmp_path):
    (tmp_path / "fal_app.py").write_text("def broken(:\n")
    with pytest.raises(CheckFailed, match="does not compile"):
        check_generated_app(tmp_path)
    (tmp_path / "fal_app.py").write_text("import fal\n\nVALUE = fal.__name__\n")
    with pytest.raises(CheckFailed, match="no fal.App subclass"):
        check_generated_app(tmp_path)
    (tmp_path / "fal_app.py").write_text("import fal\n\nraise RuntimeError('boom at "
                                         "import ' + fal.__name__)\n")
    with pytest.raises(CheckFailed, match="boom at import"):
        check_generated_app(tmp_path)


def test_check_missing_file(tmp_path):
    with pytest.raises(CheckFailed, match="no fal_app.py"):
        check_generated_app(tmp_path)


def test_setup_with_weights_argument(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "predict.py").write_text(
        "class Predictor:\n    def setup(self, weights=\"unset\"):\n        self.w = weights\n\n"
        "    def predict(self, text, n=2):\n        return f\"{text}:{self.w}\"\n")
    spec = echo_spec(lifecycle=echo_spec().lifecycle.model_copy(update={"setup_takes_weights": True}))
    for name, text in render_files(spec, None).items():
        (out / name).write_text(text)
    with falside.client(falside.pick_app(_load(out))) as client:
        assert client.post("/", json={"text": "a"}).json() == {"output": "a:None"}
