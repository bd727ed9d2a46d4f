"""Bad Modal input through the real CLI: a non-zero exit, ``file:line`` in the message, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from falmigrate.errors import SourceError

BAD_INPUTS = {
    "syntax_error": (b'import modal\napp = modal.App("x")\n\n@app.function()\ndef broken(:\n    pass\n',
                     "app.py:5:12: cannot parse Python"),
    "nothing_served": (b'import modal\n\napp = modal.App("empty")\n',
                       "app.py:3: the Modal App has no @app.cls class and no @app.function"),
    "not_utf8": (b'import modal\napp = modal.App("x")\n\xff\xfe\n', "app.py:3: app.py is not UTF-8 text"),
    "no_app": (b"import modal\n\nx = 1\n", "app.py: no modal.App(...) found"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_exits_non_zero_with_file_and_line(case: str, tmp_path: Path) -> None:
    source, expected = BAD_INPUTS[case]
    src = tmp_path / "src"
    src.mkdir()
    (src / "app.py").write_bytes(source)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "falmigrate", "convert", str(src), "-o", str(out), "--from",
                           "modal"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == SourceError.exit_code, proc.stdout + proc.stderr
    assert f"error: {expected}" in proc.stderr
    assert "hint:" in proc.stderr
    assert not out.exists()
