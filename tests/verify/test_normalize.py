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


def test_only_well_formed_data_urls_are_files():
    # SSE lines and other text that merely starts with "data:" stay text (they used to be decoded).
    for text in ('data: {"token": "a"}', "data: hello", "data:", "data:no-comma", "data:text/plain hello,x",
                 "data:image/png;base64,not base64!", "data:text/plain,two words"):
        assert normalize(text) == text
    assert normalize(["data: {\"i\": 1}", "data: {\"i\": 2}"]) == ["data: {\"i\": 1}", "data: {\"i\": 2}"]
    encoded = base64.b64encode(DATA).decode()
    assert normalize(f"DATA:text/plain;charset=utf-8;base64,{encoded}") == SHA
    assert normalize("data:,hello%20file") == SHA
    assert normalize("data:;base64,") == {"file_sha256": hashlib.sha256(b"").hexdigest()}
