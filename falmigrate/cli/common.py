"""The one place that maps errors to exit codes, emits JSON and draws progress.

Every command body runs inside ``run(...)``: library errors become a one-line message (or a JSON
object with ``--json``) and the error's exit code; anything unexpected is an internal error (70).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any, Self

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from falmigrate import progress
from falmigrate.errors import FalmigrateError

INTERNAL_ERROR = 70

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)


class RichSink:
    """Progress bars on stderr for people; byte counters show size and rate."""

    def __init__(self) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeElapsedColumn(),
            console=stderr,
            transient=True,
        )
        self._ids: dict[int, Any] = {}

    def __enter__(self) -> Self:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def start(self, key: int, description: str, total: int | None) -> None:
        self._ids[key] = self._progress.add_task(description, total=total)

    def advance(self, key: int, amount: int) -> None:
        if key in self._ids:
            self._progress.advance(self._ids[key], amount)

    def finish(self, key: int) -> None:
        task_id = self._ids.pop(key, None)
        if task_id is not None:
            self._progress.remove_task(task_id)

    def log(self, message: str) -> None:
        self._progress.console.print(message, markup=False, highlight=False)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


def run(body: Callable[[], Any], *, json_output: bool = False, show_progress: bool = True) -> Any:
    """Run a command body with progress and error mapping; returns the body's result."""
    started = time.monotonic()
    try:
        if json_output or not show_progress or not stderr.is_terminal:
            sink: Any = _LogOnlySink(quiet=json_output)
            with progress.use_sink(sink):
                return body()
        with RichSink() as sink, progress.use_sink(sink):
            return body()
    except FalmigrateError as exc:
        _report_error(exc, json_output)
        raise typer.Exit(exc.exit_code) from None
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        stderr.print("interrupted", markup=False)
        raise typer.Exit(130) from None
    except Exception as exc:  # noqa: BLE001 - the one place unknown errors become exit 70
        if json_output:
            emit_json({"ok": False,
                       "error": {"kind": "internal", "message": repr(exc), "exit_code": INTERNAL_ERROR}})
        stderr.print(f"internal error: {exc!r} (after {time.monotonic() - started:.1f}s); please report it",
                     markup=False)
        raise typer.Exit(INTERNAL_ERROR) from None


def _report_error(exc: FalmigrateError, json_output: bool) -> None:
    if json_output:
        emit_json({"ok": False, "error": exc.to_dict()})
    stderr.print(f"error: {exc}", markup=False, highlight=False)
    if exc.hint:
        stderr.print(f"hint: {exc.hint}", markup=False, highlight=False)
    log_tail = getattr(exc, "log_tail", None)
    if log_tail:
        stderr.print("last lines of the log:", markup=False)
        for line in log_tail:
            stderr.print(f"  {line}", markup=False, highlight=False)


class _LogOnlySink(progress.NullSink):
    """No bars (CI logs, --json); log lines still go to stderr unless quiet."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def log(self, message: str) -> None:
        if not self.quiet:
            stderr.print(message, markup=False, highlight=False)
