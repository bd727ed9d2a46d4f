"""``wait_until``: the one way tests wait for something to happen (a file, a log line, a process to go).

Tests never sleep for a fixed time hoping the thing is done by then (a loaded machine outruns any
guess); they poll a condition with a generous deadline and fail with what they were waiting for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], *, timeout: float, what: str, interval: float = 0.05) -> T:
    """Call ``predicate`` until it returns something truthy and return that; AssertionError naming
    ``what`` (and the last value) when ``timeout`` seconds pass first. ``interval`` is the poll period."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last value: {value!r})")
        time.sleep(interval)
