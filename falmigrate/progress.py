"""Progress reporting without printing.

The library never prints. Long operations call ``task()``/``log()``/``event()`` here; the CLI installs
a sink (rich progress bars for people, nothing for ``--json``) through a context variable. Work handed
to threads goes through ``ThreadPool`` so each job runs in a copy of the submitting context: a worker's
``log()`` reaches the same sink as its caller's (a bare ``ThreadPoolExecutor`` worker would see the
default, silent sink).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol


class ProgressSink(Protocol):
    def start(self, key: int, description: str, total: int | None) -> None: ...
    def advance(self, key: int, amount: int) -> None: ...
    def finish(self, key: int) -> None: ...
    def log(self, message: str) -> None: ...


class NullSink:
    def start(self, key: int, description: str, total: int | None) -> None:
        pass

    def advance(self, key: int, amount: int) -> None:
        pass

    def finish(self, key: int) -> None:
        pass

    def log(self, message: str) -> None:
        pass


# NullSink has no state, so one shared default instance is safe.
_sink: contextvars.ContextVar[ProgressSink] = contextvars.ContextVar("falmigrate_progress",
                                                                    default=NullSink())  # noqa: B039
_counter = iter(range(1, 1 << 62))


class Task:
    """A handle on one progress bar; ``advance`` is cheap and thread-safe enough for counters."""

    def __init__(self, sink: ProgressSink, description: str, total: int | None) -> None:
        self._sink = sink
        self.key = next(_counter)
        sink.start(self.key, description, total)

    def advance(self, amount: int = 1) -> None:
        self._sink.advance(self.key, amount)


@contextlib.contextmanager
def task(description: str, total: int | None = None) -> Iterator[Task]:
    sink = _sink.get()
    handle = Task(sink, description, total)
    try:
        yield handle
    finally:
        sink.finish(handle.key)


def log(message: str) -> None:
    _sink.get().log(message)


def event(kind: str, detail: str) -> None:
    """A machine-readable step (e.g. ``("unpack.file", name)``) for sinks that want them: sinks without
    an ``event`` method (the CLI's bars and log lines) ignore it."""
    handler = getattr(_sink.get(), "event", None)
    if handler is not None:
        handler(kind, detail)


def wants_events() -> bool:
    """Whether the current sink records events (lets hot loops skip building their details)."""
    return getattr(_sink.get(), "event", None) is not None


@contextlib.contextmanager
def use_sink(sink: ProgressSink) -> Iterator[None]:
    token = _sink.set(sink)
    try:
        yield
    finally:
        _sink.reset(token)


class ThreadPool(ThreadPoolExecutor):
    """A ThreadPoolExecutor whose jobs run in a copy of the submitter's context (its progress sink).

    Each job gets its own copy: one ``Context`` cannot be entered by two threads at once."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        return super().submit(contextvars.copy_context().run, fn, *args, **kwargs)
