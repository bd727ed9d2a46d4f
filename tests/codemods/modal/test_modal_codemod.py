"""Modal → fal codemod: before/after, no-op, applying twice = once, output parses and passes ruff F."""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys
import textwrap
from pathlib import Path

import libcst as cst
import pytest

from falmigrate.codemods.modal import rewrite, transform_source
from falmigrate.importers.modal import ModalImporter

DATA = Path(__file__).parent / "data"
FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "modal"
FIXTURE_NAMES = sorted(p.name for p in FIXTURES.iterdir() if (p / "input").is_dir())


def demo() -> str:
    source = (DATA / "demo_before.py.txt").read_text()
    return transform_source(source, "demo_before.py", volumes={"/cache": "/data/cache"}).code


def fixture_code(name: str) -> str:
    root = FIXTURES / name / "input"
    return rewrite(ModalImporter().load(root), root).code


def test_before_after() -> None:
    expected = DATA / "demo_after.py.txt"
    if os.environ.get("FALMIGRATE_UPDATE_GOLDEN") == "1":
        expected.write_text(demo())
    assert demo() == expected.read_text()


def test_no_modal_is_a_no_op() -> None:
    source = "import os\n\n\ndef f(x):  # keep me\n    return os.sep + x\n"
    assert transform_source(source).code == source


@pytest.mark.parametrize("name", ["demo", *FIXTURE_NAMES])
def test_applying_twice_is_applying_once(name: str) -> None:
    once = demo() if name == "demo" else fixture_code(name)
    assert transform_source(once, "fal_app.py").code == once


def test_outputs_parse_and_pass_ruff(tmp_path: Path) -> None:
    outputs = {"demo": demo(), **{n: fixture_code(n) for n in FIXTURE_NAMES}}
    for name, code in outputs.items():
        compile(code, f"{name}.py", "exec")
        cst.parse_module(code)
        assert not re.search(r"^\s*(import modal|from modal|@app\.|@modal\.)", code, re.MULTILINE), name
        (tmp_path / f"{name}.py").write_text(code)
    ruff = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", "--select", "F,E9", str(tmp_path)],
                          capture_output=True, text=True, check=False)
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr


def test_class_rules() -> None:
    code = demo()
    assert "class Model(fal.App):" in code and "size: int = 2" in code
    assert "async def setup(self):\n        await self.load()" in code  # async enter → async setup
    assert "# load once" in code  # comments kept
    assert '"/data/cache/log.txt"' in code  # volume path rewritten
    assert "first = helper([n])" in code and "list(map(helper, [[1], [2]]))" in code
    assert "# TODO(falmigrate FM214)" in code and "# def main():" in code
    assert "other = None" in code  # a dropped assignment keeps its name bound


def test_lifecycle_names_and_exit(tmp_path: Path) -> None:
    source = textwrap.dedent("""
        import modal
        app = modal.App("life")

        @app.cls()
        class Svc:
            @modal.enter()
            def setup(self):
                self.ready = True

            @modal.exit()
            def close(self):
                self.ready = False

            @modal.fastapi_endpoint(method="POST")
            def status(self, body: dict) -> dict:
                return {"ready": self.ready, **body}
    """)
    code = transform_source(source).code
    assert code.count("def setup(self)") == 1  # the user's own setup is fal's setup
    assert "def teardown(self):\n        self.close()" in code
    assert "def status_endpoint(self, body: dict[str, Any]):\n        return self.status(body)" in code


def test_batched_and_generator_wrappers(tmp_path: Path) -> None:
    source = textwrap.dedent("""
        import modal
        app = modal.App("b")

        @app.function()
        @modal.batched(max_batch_size=4, wait_ms=10)
        def double(xs: list[int]) -> list[int]:
            return [2 * x for x in xs]

        @app.function()
        def count(n: int = 2):
            yield from range(n)
    """)
    code = transform_source(source).code
    assert "return DoubleOutput(output=(double(xs=[input.xs]))[0])" in code
    assert "    xs: int\n" in code  # one item per request
    assert "return CountOutput(output=list(count(n=input.n)))" in code
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\n")
    (tmp_path / "b.py").write_text(code)
    namespace = runpy.run_path(str(tmp_path / "b.py"))
    assert namespace["double"]([3]) == [6]
    assert namespace["BApp"].image is not None  # the generated Dockerfile next to fal_app.py


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_every_todo_marker_has_a_finding(name: str) -> None:
    root = FIXTURES / name / "input"
    spec = ModalImporter().load(root)
    result = rewrite(spec, root)
    markers = set(re.findall(r"TODO\(falmigrate (FM\d+)\)", result.code))
    markers |= set(re.findall(r"TODO\(falmigrate (FM\d+)\)", "\n".join(spec.image.dockerfile_extra)))
    assert name != "image_chain" or markers  # the Dockerfile TODO for run_function counts
    found = {f.rule for f in [*spec.findings, *result.findings]}
    assert markers <= found, markers - found


def test_knobs_without_equivalent_leave_todo_lines() -> None:
    code = fixture_code("gpu_volumes_secrets")
    for rule in ("FM205", "FM208", "FM210"):
        assert f"# TODO(falmigrate {rule})" in code
    assert 'machine_type = "GPU-H100"\n    num_gpus = 2' in code and 'secrets = ["HF_TOKEN"]' in code
    # the secret names its keys (required_keys), so `secrets` is complete: nothing left to do there
    assert "TODO(falmigrate FM207)" not in code
    assert 'data_mounts = ["/data/outputs", "/data/sd-weights"]' in code
