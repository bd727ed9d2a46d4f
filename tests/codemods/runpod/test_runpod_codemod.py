"""RunPod → fal codemod: before/after, no-op, applying twice = once, output parses and passes ruff F/E9."""

from __future__ import annotations

import keyword
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import libcst as cst
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from falmigrate.codemods.runpod import WorkerOptions, rewrite, transform_source
from falmigrate.importers.runpod import RunpodImporter
from tests.helpers.golden import fixture_request

DATA = Path(__file__).parent / "data"
FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "runpod"
FIXTURE_NAMES = sorted(p.name for p in FIXTURES.iterdir() if (p / "input").is_dir())
CASES = ["worker", "nested"]


def converted(name: str) -> str:
    source = (DATA / f"{name}_before.py.txt").read_text()
    return transform_source(source, f"{name}.py", WorkerOptions(class_name="Demo")).code


def fixture_code(name: str) -> str:
    root = FIXTURES / name / "input"
    return rewrite(RunpodImporter().load(root, fixture_request(FIXTURES / name)), root).code


@pytest.mark.parametrize("name", CASES)
def test_before_after(name: str) -> None:
    expected = DATA / f"{name}_after.py.txt"
    if os.environ.get("FALMIGRATE_UPDATE_GOLDEN") == "1":
        expected.write_text(converted(name))
    assert converted(name) == expected.read_text()


def test_module_without_start_is_a_no_op() -> None:
    source = '"""Not a worker."""\n\nimport runpod  # kept\n\n\ndef handler(job):\n    return job\n'
    result = transform_source(source)
    assert result.code == source and not result.findings


@pytest.mark.parametrize("name", CASES)
def test_twice_is_once(name: str) -> None:
    once = converted(name)
    assert transform_source(once, f"{name}.py", WorkerOptions(class_name="Demo")).code == once


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_output_parses_and_passes_ruff(name: str, tmp_path: Path) -> None:
    code = fixture_code(name)
    cst.parse_module(code)
    compile(code, "fal_app.py", "exec")
    (tmp_path / "fal_app.py").write_text(code)
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "F,E9", "--no-cache", "-q",
                           str(tmp_path / "fal_app.py")], capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "runpod.serverless.start(" not in code
    assert transform_source(code, "handler.py").code == code  # a converted app is left alone


def test_comments_and_user_code_are_kept() -> None:
    code = converted("worker")
    assert "# Load the \"model\" once per worker." in code
    assert "started = time.time()  # kept verbatim, with this comment" in code
    assert "_falmigrate_progress(job, f\"step {step}\")  # report progress" in code
    assert "# TODO(falmigrate FM305)" in code
    assert 'return {"error": checked["errors"]}' in code  # the handler itself is unchanged


def test_init_is_moved_with_globals_and_called_from_setup() -> None:
    code = converted("worker")
    module = cst.parse_module(code)
    init = next(s for s in module.body
                if isinstance(s, cst.FunctionDef) and s.name.value == "_falmigrate_init")
    assert "global started, MODEL, NAME" in module.code_for_node(init)
    assert "SCHEMA = {" in code.split("def _falmigrate_init")[0]  # literal constants stay at module level
    assert "def setup(self) -> None:\n        _falmigrate_init()" in code


def test_start_under_main_guard_and_unused_imports_go() -> None:
    code = converted("worker")
    assert "import runpod as rp" not in code and "progress_update" not in code.split("def handler")[0]
    assert "from runpod.serverless.utils.rp_validator import validate" in code  # still used
    assert "__main__" not in code  # the guard's other statements are the worker's startup: moved
    init = code.split("def _falmigrate_init")[1].split("def handler")[0]
    assert "    parser = argparse.ArgumentParser()" in init


def test_nested_start_becomes_a_todo_with_a_finding() -> None:
    source = (DATA / "nested_before.py.txt").read_text()
    result = transform_source(source, "nested.py", WorkerOptions(class_name="Demo"))
    assert "# TODO(falmigrate FM300)" in result.code
    assert [f.rule for f in result.findings] == ["FM300"]
    assert '@fal.endpoint("/stream")' in result.code and "_falmigrate_aevents(handler(job))" in result.code


def test_main_guard_with_only_start_is_removed() -> None:
    source = textwrap.dedent("""\
        import runpod


        def handler(job):
            return 1


        if __name__ == "__main__":
            runpod.serverless.start({"handler": handler})
    """)
    code = transform_source(source).code
    assert "__main__" not in code and "import runpod" not in code


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_the_class_holds_no_deploy_settings_and_builds_no_image(name: str) -> None:
    root = FIXTURES / name / "input"
    spec = RunpodImporter().load(root, fixture_request(FIXTURES / name))
    if spec.server is not None:  # a load-balancing worker: the image's own server, nothing rewritten
        return
    app = rewrite(spec, root).code.split("# --- fal app")[1]
    for attribute in ("image", "machine_type", "max_multiplexing", "secrets", "keep_alive", "num_gpus",
                      "min_concurrency", "max_concurrency", "request_timeout"):
        assert f"\n    {attribute} = " not in app
    assert "ContainerImage" not in app and "_add_extra_routes" not in app and "_allow_init" not in app
    assert "runpod.serverless.start(" not in app


KEYS = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(lambda k: not keyword.iskeyword(k))
DEFAULTS = st.one_of(st.integers(-5, 5), st.booleans(), st.text("abc ", max_size=4),
                     st.floats(-2, 2, allow_nan=False).map(lambda f: round(f, 2)), st.none())


@settings(max_examples=25, deadline=None)
@given(reads=st.dictionaries(KEYS, DEFAULTS, min_size=1, max_size=5), is_async=st.booleans(),
       guarded=st.booleans())
def test_generated_workers_convert_cleanly(reads: dict, is_async: bool, guarded: bool) -> None:
    lines = [f"    v_{i} = job_input.get({k!r}, {v!r})" for i, (k, v) in enumerate(reads.items())]
    start = 'runpod.serverless.start({"handler": handler})'
    source = ("import runpod\n\nCACHE = dict(a=1)\n\n\n"
              f"{'async ' if is_async else ''}def handler(job):\n    job_input = job['input']\n"
              + "\n".join(lines) + "\n    return {'n': len(CACHE)}\n\n\n"
              + (f'if __name__ == "__main__":\n    {start}\n' if guarded else f"{start}\n"))
    from falmigrate.importers.runpod.handler import analyse_handler
    from falmigrate.importers.runpod.reader import read_worker
    from falmigrate.importers.runpod.schema import read_fields

    mod = read_worker(source)
    fields = read_fields(mod, analyse_handler(mod, mod.functions["handler"]).reads)
    assert [f.name for f in fields] == list(reads)
    code = transform_source(source, options=WorkerOptions(fields=fields)).code
    compile(code, "fal_app.py", "exec")
    assert "global CACHE" in code and "runpod" not in code.split("# --- fal app")[0]
    assert transform_source(code).code == code
