"""The build log as we relay it: redacted, step-aware, with a bounded tail for error reports.

Both build paths (the SDK's classic builder and the BuildKit CLI) feed lines here. Each line is
masked by the secret redactor *before* it is shown, kept or put into an error, so a secret value
cannot leak through the log, an exception message or the ``--json`` report.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Callable

from falmigrate import progress
from falmigrate.errors import BuildFailed

TAIL_LINES = 30
_PARSE_LINE = re.compile(r"\bline (\d+)\b")


class BuildLog:
    def __init__(self, redact: Callable[[str], str], dockerfile_name: str, task: progress.Task | None = None,
                 tail_lines: int = TAIL_LINES) -> None:
        self._redact = redact
        self._task = task
        self.dockerfile_name = dockerfile_name
        self.tail: collections.deque[str] = collections.deque(maxlen=tail_lines)
        self.step: str | None = None
        self.steps_seen = 0
        self.line_count = 0

    def line(self, text: str) -> None:
        text = self._redact(text.rstrip("\r\n"))
        if not text.strip():
            return
        self.tail.append(text)
        self.line_count += 1
        progress.log(text)

    def text(self, chunk: str) -> None:
        for piece in chunk.splitlines():
            self.line(piece)

    def start_step(self, description: str) -> None:
        self.step = self._redact(description.strip())
        self.steps_seen += 1
        if self._task is not None:
            self._task.advance(1)

    def failed(self, message: str) -> BuildFailed:
        """BuildFailed for the current step; Dockerfile parse errors carry the file:line."""
        message = self._redact(message.strip())
        line = None
        if "parse error" in message or "unknown instruction" in message or "Dockerfile" in message:
            found = _PARSE_LINE.search(message)
            line = int(found.group(1)) if found else None
        where = f" at {self.step}" if self.step and line is None else ""
        return BuildFailed(
            f"build failed{where}: {message}",
            step=self.step if line is None else None,
            log_tail=list(self.tail),
            file=self.dockerfile_name if line is not None else None,
            line=line,
            hint="fix the failing step (log tail below) and run the build again",
        )
