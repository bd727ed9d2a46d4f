"""Bad cog projects through the CLI: one clear error with file:line and exit code 2 (nothing written,
an existing output left as it was), or — for an input type fal cannot express — a Finding with
file:line, exit 0 and a TODO marker in the generated app."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from falmigrate.cli.app import app as cli_app

GOOD = """\
from cog import BasePredictor, Input


class Predictor(BasePredictor):
    def predict(self, text: str = Input(default="hi")) -> str:
        return text
"""

CASES = {
    "invalid_yaml": ('build:\n  python_version: "3.11"\n  gpu: [true\npredict: "predict.py:Predictor"\n',
                     GOOD, "cog.yaml:", "not valid YAML"),
    "missing_file": ('build:\n  python_version: "3.11"\npredict: "missing.py:Predictor"\n',
                     GOOD, "cog.yaml:3", "the predictor file missing.py does not exist"),
    "missing_class": ('predict: "predict.py:Nope"\n', GOOD, "cog.yaml:1",
                      "defines no top-level class or function Nope"),
    "syntax_error": ('predict: "predict.py:Predictor"\n',
                     ("from cog import BasePredictor\n\nclass Predictor(BasePredictor):\n"
                      "    def predict(self:\n"),
                     "predict.py:4", "syntax error"),
    "no_predict_method": ('predict: "predict.py:Predictor"\n',
                          ("from cog import BasePredictor\n\n\nclass Predictor(BasePredictor):\n"
                           "    def setup(self):\n"
                           "        pass\n"), "predict.py:4", "neither run() nor predict()"),
    "wrong_shape": ('build:\n  system_packages: "git"\npredict: "predict.py:Predictor"\n', GOOD, "cog.yaml:2",
                    "must be a list"),
}


def _project(root: Path, yaml_text: str, predict: str) -> Path:
    root.mkdir(parents=True)
    (root / "cog.yaml").write_text(yaml_text)
    (root / "predict.py").write_text(predict)
    return root


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_exits_2_with_file_line_and_writes_nothing(case: str, tmp_path: Path) -> None:
    yaml_text, predict, where, message = CASES[case]
    src = _project(tmp_path / "proj", yaml_text, predict)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli_app, ["convert", str(src), "-o", str(out), "--from", "cog"])
    assert result.exit_code == 2, result.output
    assert where in result.output and message in result.output, result.output
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proj"]  # no temp dirs left behind


@pytest.mark.parametrize("case", ["syntax_error", "missing_class"])
def test_bad_input_leaves_an_existing_output_untouched(case: str, tmp_path: Path) -> None:
    """Even with --force, a conversion that fails replaces nothing of a previous output."""
    yaml_text, predict, _, _ = CASES[case]
    src = _project(tmp_path / "proj", yaml_text, predict)
    out = tmp_path / "out"
    out.mkdir()
    (out / "fal_app.py").write_text("# the user's previous output\n")
    result = CliRunner().invoke(cli_app, ["convert", str(src), "-o", str(out), "--from", "cog", "--force"])
    assert result.exit_code == 2, result.output
    assert [p.name for p in out.iterdir()] == ["fal_app.py"]
    assert (out / "fal_app.py").read_text() == "# the user's previous output\n"


def test_unsupported_type_is_a_finding_with_file_line(tmp_path: Path) -> None:
    predict = textwrap.dedent("""\
        from cog import BasePredictor, Input
        import numpy as np


        class Predictor(BasePredictor):
            def predict(self, arr: np.ndarray = Input(description="x"), n: int = 2) -> str:
                return str(arr) * n
        """)
    src = _project(tmp_path / "proj", 'predict: "predict.py:Predictor"\n', predict)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli_app, ["convert", str(src), "-o", str(out), "--from", "cog", "--json"])
    assert result.exit_code == 0, result.output
    summary, _ = json.JSONDecoder().raw_decode(result.output[result.output.index("{"):])
    assert summary["ok"] and summary["findings"] >= 1
    migration = (out / "MIGRATION.md").read_text()
    row = next(line for line in migration.splitlines() if line.startswith("| FM107"))
    assert "`predict.py:6:" in row and "np.ndarray" in row and "| error |" in row
    app = (out / "fal_app.py").read_text()
    assert "# TODO(falmigrate FM107): input `arr` has type np.ndarray" in app
    compile(app, "fal_app.py", "exec")
