"""normalize(): files → sha256, models → dicts, iterables → lists, floats rounded."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from pydantic import BaseModel

from falmigrate.verify.normalize import normalize, unwrap_output

DATA = b"hello file"
SHA = {"file_sha256": hashlib.sha256(DATA).hexdigest()}


class Out(BaseModel):
    score: float
    tags: tuple[str, ...]


def test_files_in_every_form_hash_the_same(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(DATA)
    url = "data:application/octet-stream;base64," + base64.b64encode(DATA).decode()
    assert normalize(path) == SHA
    assert normalize(url) == SHA
    assert normalize(DATA) == SHA
    assert normalize({"url": url, "content_type": "text/plain", "file_name": "f.bin"}) == SHA
    assert normalize("data:text/plain,hello%20file") == SHA
    assert normalize(f"file://{path}") == SHA


def test_fal_file_object(tmp_path):
    from fal.toolkit import File

    from falmigrate.verify import falside

    falside.use_in_memory_files()
    path = tmp_path / "f.txt"
    path.write_bytes(DATA)
    assert normalize(File.from_path(str(path))) == SHA


def test_models_iterables_and_floats():
    assert normalize(Out(score=0.1 + 0.2, tags=("a", "b"))) == {"score": 0.3, "tags": ["a", "b"]}
    assert normalize(x * 2 for x in range(3)) == [0, 2, 4]
    assert normalize({"b": (1, 2), "a": {3}}) == {"a": [3], "b": [1, 2]}
    assert normalize("plain") == "plain" and normalize(None) is None and normalize(True) is True
    assert normalize({"url": "https://example.com/x"}) == {"url": "https://example.com/x"}


def test_unwrap_output():
    assert unwrap_output({"output": [1]}) == [1]
    assert unwrap_output({"output": 1, "other": 2}) == {"output": 1, "other": 2}
    assert unwrap_output("x") == "x"


def test_missing_path_stays_a_path():
    assert normalize(Path("/nonexistent/file")) == "/nonexistent/file"
