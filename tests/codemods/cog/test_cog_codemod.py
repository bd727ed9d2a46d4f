"""The cog codemod: before/after, a no-op case, applying twice = once, output parses and passes ruff F."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from falmigrate.codemods.cog import rewrite
from falmigrate.importers.cog import CogImporter
from tests.helpers.golden import fixture_request

DATA = Path(__file__).resolve().parent / "data"
FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "cog"


def _rewrite(root: Path):
    return rewrite(CogImporter().load(root), root)


@pytest.fixture
def basic(tmp_path: Path) -> Path:
    """data/basic as a cog project (the .py.txt names keep the repository's linters off the samples)."""
    root = tmp_path / "basic"
    root.mkdir()
    shutil.copy(DATA / "basic" / "cog.yaml", root / "cog.yaml")
    shutil.copy(DATA / "basic" / "before.py.txt", root / "predict.py")
    return root


def _ruff_clean(code: str, tmp_path: Path) -> None:
    path = tmp_path / "fal_app.py"
    path.write_text(code)
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "F,E9", "--isolated",
                           "--no-cache", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout


def test_before_after(basic: Path) -> None:
    if os.environ.get("FALMIGRATE_UPDATE_GOLDEN") == "1":
        (DATA / "basic" / "after.py.txt").write_text(_rewrite(basic).code)
    assert _rewrite(basic).code == (DATA / "basic" / "after.py.txt").read_text()


def test_comments_docstrings_and_untouched_code_are_kept(basic: Path) -> None:
    code = _rewrite(basic).code
    for kept in ('"""Module docstring stays."""', "# a comment above the imports stays",
                 "def helper(x):  # an untouched helper, comment kept", '"""Class docstring stays."""',
                 "        # load things", '"""Predict docstring stays."""', "        # body comment stays",
                 '            return "inner returns are not wrapped"'):
        assert kept in code, kept
    assert "from cog" not in code and "import cog" not in code
    assert "from typing import List" not in code  # only the removed signature used it
    assert "unused = " not in code  # an input the body never reads is not bound (ruff F841)
    assert "return PredictOutput(output=_falmigrate_value([out]))" in code


@pytest.mark.parametrize("case", sorted(p.name for p in FIXTURES.iterdir() if (p / "input").is_dir()))
def test_output_parses_passes_ruff_and_twice_is_once(case: str, tmp_path: Path) -> None:
    spec = CogImporter().load(FIXTURES / case / "input", fixture_request(FIXTURES / case))
    source = FIXTURES / case / "input" / spec.source.root
    first = rewrite(spec, source)
    ast.parse(first.code)
    _ruff_clean(first.code, tmp_path)
    again = tmp_path / "again"
    shutil.copytree(source, again)
    (again / spec.details.file).write_text(first.code)
    assert rewrite(spec, again).code == first.code


def test_no_op_on_a_module_already_converted(basic: Path, tmp_path: Path) -> None:
    spec = CogImporter().load(basic)
    root = tmp_path / "p"
    shutil.copytree(basic, root)
    after = (DATA / "basic" / "after.py.txt").read_text()
    (root / "predict.py").write_text(after)
    result = rewrite(spec, root)
    assert result.code == after and not result.findings


def test_cog_apis_without_equivalent_get_todo_markers(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "cog.yaml").write_text('predict: "predict.py:Predictor"\ntrain: "train.py:train"\n')
    (root / "predict.py").write_text(textwrap.dedent("""
        from cog import BasePredictor, Input, current_scope


        class Predictor(BasePredictor):
            def setup(self, weights=None):
                self.weights = weights

            def predict(self, n: int = Input(default=1)) -> int:
                self.record_metric("n", n)
                current_scope().record_metric("m", 1)
                return n + 1
        """))
    result = _rewrite(root)
    code = result.code
    assert code.count("# TODO(falmigrate FM109)") == 2
    assert "# TODO(falmigrate FM104)" in code and "# TODO(falmigrate FM103)" in code
    assert "from cog" not in code and "def current_scope():" in code  # a no-op stand-in, marked
    assert "    def record_metric(self, key, value, mode=\"replace\"):" in code
    assert {f.rule for f in result.findings} == {"FM109"}
    assert [f.location.line for f in result.findings] == [10, 11]
    _ruff_clean(code, tmp_path)


def test_stream_async_and_file_object_inputs(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "cog.yaml").write_text('predict: "predict.py:Predictor"\n')
    (root / "predict.py").write_text(textwrap.dedent("""
        from cog import AsyncConcatenateIterator, BasePredictor, File, Input


        class Predictor(BasePredictor):
            async def predict(self, data: File = Input(description="bytes")) -> AsyncConcatenateIterator[str]:
                for chunk in data.read().split():
                    yield chunk.decode()
        """))
    code = _rewrite(root).code
    assert "data = _falmigrate_download(request.data, open_file=True)" in code
    assert "async def _predict_items(self, request: PredictInput) -> AsyncConcatenateIterator[str]:" in code
    assert "from collections.abc import AsyncIterator as AsyncConcatenateIterator" in code
    assert '@fal.endpoint("/stream")' in code and "_falmigrate_aevents" in code
    assert "async for item in self._predict_items(request)" in code
    _ruff_clean(code, tmp_path)


def test_user_decorators_are_kept_and_cog_concurrent_dropped(tmp_path: Path) -> None:
    """`@torch.inference_mode()` (and any other decorator of the user's) stays under `@fal.endpoint`;
    cog's `@concurrent(max=N)` goes (it became max_multiplexing)."""
    root = tmp_path / "p"
    root.mkdir()
    (root / "cog.yaml").write_text('predict: "predict.py:Predictor"\n')
    (root / "predict.py").write_text(textwrap.dedent("""
        import functools

        from cog import BasePredictor, Input, concurrent


        def traced(fn):
            @functools.wraps(fn)
            def inner(*args, **kwargs):
                return fn(*args, **kwargs)
            return inner


        class Predictor(BasePredictor):
            @concurrent(max=4)
            @traced
            async def predict(self, n: int = Input(default=1)) -> int:
                return n + 1
        """))
    spec = CogImporter().load(root)
    assert spec.scaling.max_multiplexing == 4
    code = rewrite(spec, root).code
    assert '    @fal.endpoint("/")\n    @traced\n    async def predict(self, request: PredictInput)' in code
    assert "concurrent" not in code
    _ruff_clean(code, tmp_path)


def test_stream_keeps_user_decorators_on_the_items_generator(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "cog.yaml").write_text('predict: "predict.py:Predictor"\n')
    (root / "predict.py").write_text(textwrap.dedent("""
        import contextlib

        from cog import BasePredictor, ConcatenateIterator


        class Predictor(BasePredictor):
            @contextlib.contextmanager
            def unused(self):
                yield

            @staticmethod
            def helper():
                return 1

            def predict(self, n: int = 2) -> ConcatenateIterator[str]:
                for i in range(n):
                    yield str(i)
        """))
    code = _rewrite(root).code
    assert "    @contextlib.contextmanager\n    def unused(self):" in code  # other methods untouched
    assert "    def _predict_items(self, request: PredictInput) -> ConcatenateIterator[str]:" in code
    _ruff_clean(code, tmp_path)


def test_setup_weights_not_read_gets_no_binding(tmp_path: Path) -> None:
    """cog-sdxl's setup(self, weights) that ignores weights: no unused `weights =` (ruff F841), TODO kept."""
    root = tmp_path / "p"
    root.mkdir()
    (root / "cog.yaml").write_text('predict: "predict.py:Predictor"\n')
    (root / "predict.py").write_text(textwrap.dedent('''
        from typing import Optional

        from cog import BasePredictor, Path


        class Predictor(BasePredictor):
            def setup(self, weights: Optional[Path] = None):
                """Load."""
                self.model = "m"

            def predict(self, n: int = 1) -> str:
                return self.model * n
        '''))
    code = _rewrite(root).code
    assert "weights =" not in code and "def setup(self):" in code
    assert '        """Load."""\n        # TODO(falmigrate FM103)' in code
    _ruff_clean(code, tmp_path)


def test_cog_stand_ins_let_the_app_run_without_cog(tmp_path: Path) -> None:
    """Metrics/version/warning names of cog become no-op stand-ins: the generated app imports and answers
    with the cog package made unimportable (it is not installed in the fal image)."""
    root = tmp_path / "p"
    root.mkdir()
    (root / "cog.yaml").write_text('predict: "predict.py:Predictor"\n')
    (root / "predict.py").write_text(textwrap.dedent("""
        import warnings

        from cog import (BasePredictor, ExperimentalFeatureWarning, Input, __version__, current_scope,
                         emit_metric)

        warnings.filterwarnings("ignore", category=ExperimentalFeatureWarning)


        class Predictor(BasePredictor):
            def predict(self, n: int = Input(default=2)) -> str:
                emit_metric("n", n)
                current_scope().record_metric("m", 1)
                self.record_metric("k", 2, mode="incr")
                return f"{n}:{bool(__version__)}"
        """))
    out = tmp_path / "out"
    from falmigrate.convert import convert, write_output

    write_output(convert(root, "cog"), out)
    code = (out / "fal_app.py").read_text()
    assert "from cog import" not in code and code.count("# TODO(falmigrate FM109)") == 5
    _ruff_clean(code, tmp_path)
    probe = ("import sys\nsys.modules['cog'] = None  # `import cog` now raises ImportError\n"
             "from falmigrate.verify import falside\n"
             "module = falside.load_module(sys.argv[1])\n"
             "with falside.client(falside.pick_app(module)) as c:\n"
             "    print('RESULT=' + c.post('/', json={'n': 3}).json()['output'])\n")
    proc = subprocess.run([sys.executable, "-c", probe, str(out / "fal_app.py")], cwd=out,
                          capture_output=True, text=True, timeout=120, check=False)
    assert "RESULT=3:True" in proc.stdout, proc.stderr[-2000:]
