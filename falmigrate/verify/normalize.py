"""One comparable shape for both sides of a behaviour diff.

Files (paths, ``data:`` URLs, fal File objects or their JSON form, bytes) become
``{"file_sha256": hex}``; pydantic models become dicts; tuples, sets, generators and iterators become
lists; floats are rounded (1e-6) so float formatting noise is not a behaviour change.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import inspect
import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

FLOAT_DIGITS = 6
_FILE_KEYS = {"content_type", "file_name", "file_size", "file_data", "width", "height"}
# RFC 2397: data:[<type>/<subtype>][;attribute=value]*[;base64],<data>. Strict on purpose: text that
# merely starts with "data:" (an SSE line `data: {...}`, a log message) must stay text.
_TOKEN = r"[A-Za-z0-9!#$&^_.+-]+"
_DATA_URL = re.compile(
    rf"^data:(?:{_TOKEN}/{_TOKEN})?(?:;{_TOKEN}=(?:{_TOKEN}|%[0-9A-Fa-f]{{2}}|\"[^\"]*\")+)*(?P<base64>;base64)?,"
    r"(?P<payload>[^\s]*)$",
    re.IGNORECASE,
)


def _sha(data: bytes) -> dict[str, str]:
    return {"file_sha256": hashlib.sha256(data).hexdigest()}


def data_url_bytes(url: str) -> bytes | None:
    """The bytes a well-formed ``data:`` URL carries, or None when ``url`` is not one."""
    match = _DATA_URL.match(url)
    if match is None:
        return None
    payload = match.group("payload")
    if match.group("base64"):
        try:
            return base64.b64decode(unquote_to_bytes(payload), validate=True)
        except (binascii.Error, ValueError):
            return None
    return unquote_to_bytes(payload)


def _url_value(url: str) -> Any:
    data = data_url_bytes(url) if url[:5].lower() == "data:" else None
    if data is not None:
        return _sha(data)
    if url.startswith("file://"):
        path = Path(url[len("file://"):])
        if path.is_file():
            return _sha(path.read_bytes())
    return url


def _looks_like_file(value: Mapping) -> bool:
    return isinstance(value.get("url"), str) and bool(_FILE_KEYS & set(value))


_NOT_SCALAR = object()


def normalize(value: Any) -> Any:
    """The comparable form of ``value`` (JSON-compatible)."""
    scalar = _normalize_scalar(value)
    if scalar is not _NOT_SCALAR:
        return scalar
    if hasattr(value, "model_dump") and callable(value.model_dump):
        return normalize(value.model_dump())
    if isinstance(value, Mapping):
        if _looks_like_file(value):
            return _url_value(value["url"])
        return {str(k): normalize(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (set, frozenset)):
        return sorted((normalize(v) for v in value), key=repr)
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy arrays and scalars
        return normalize(value.tolist())
    if inspect.isgenerator(value) or isinstance(value, Iterable):
        return [normalize(v) for v in value]
    return str(value)


def _normalize_scalar(value: Any) -> Any:
    """``normalize`` of a number, string, bytes or path; ``_NOT_SCALAR`` for anything else."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isnan(value) or math.isinf(value) else round(value, FLOAT_DIGITS)
    if isinstance(value, str):
        return _url_value(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _sha(bytes(value))
    if isinstance(value, os.PathLike):
        path = Path(os.fspath(value))
        return _sha(path.read_bytes()) if path.is_file() else str(path)
    return _NOT_SCALAR


def unwrap_output(value: Any, field: str = "output") -> Any:
    """The fal side's response model with the single field ``output`` → that field's value."""
    if isinstance(value, dict) and list(value) == [field]:
        return value[field]
    return value


def response_value(response: Any, **error_fields: Any) -> Any:
    """What a case's HTTP answer is worth comparing: a 200's body (a lone ``output`` field unwrapped),
    else ``{"error": "HTTP <status>", **error_fields, "body": body}``; non-JSON bodies as text."""
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if response.status_code == 200:
        return unwrap_output(body)
    return {"error": f"HTTP {response.status_code}", **error_fields, "body": body}
