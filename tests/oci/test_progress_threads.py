"""progress.ThreadPool: jobs run in a copy of the submitter's context, so their log lines, bars and
events reach the sink the caller installed (a plain ThreadPoolExecutor's workers see the silent default)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from falmigrate import progress


class Recorder:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []
        self.events: list[tuple[str, str]] = []

    def start(self, key: int, description: str, total: int | None) -> None:
        self.lines.append(("start", description))

    def advance(self, key: int, amount: int) -> None:
        pass

    def finish(self, key: int) -> None:
        pass

    def log(self, message: str) -> None:
        self.lines.append((threading.current_thread().name, message))

    def event(self, kind: str, detail: str) -> None:
        self.events.append((kind, detail))


def _work(n: int) -> int:
    progress.log(f"line {n}")
    progress.event("job", str(n))
    with progress.task(f"task {n}"):
        pass
    return n


def test_worker_lines_reach_the_callers_sink() -> None:
    sink = Recorder()
    with progress.use_sink(sink), progress.ThreadPool(max_workers=2, thread_name_prefix="w") as pool:
        assert list(pool.map(_work, range(6))) == list(range(6))
    assert sorted(msg for _, msg in sink.lines if msg.startswith("line")) == [f"line {n}" for n in range(6)]
    assert all(thread.startswith("w") for thread, msg in sink.lines if msg.startswith("line"))
    assert sorted(sink.events) == [("job", str(n)) for n in range(6)]
    assert sum(1 for kind, _ in sink.lines if kind == "start") == 6


def test_a_plain_executor_loses_them() -> None:
    """What the pool fixes: without the copied context a worker reports to the default sink."""
    sink = Recorder()
    with progress.use_sink(sink), ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(_work, range(3)))
    assert sink.lines == [] and sink.events == []


def test_events_go_only_to_sinks_that_take_them() -> None:
    class Plain:
        def start(self, *a) -> None: ...
        def advance(self, *a) -> None: ...
        def finish(self, *a) -> None: ...
        def log(self, message: str) -> None: ...

    with progress.use_sink(Plain()):
        assert not progress.wants_events()
        progress.event("job", "ignored")  # no error
    with progress.use_sink(Recorder()):
        assert progress.wants_events()
