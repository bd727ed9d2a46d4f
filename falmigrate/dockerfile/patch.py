"""Applies ``DockerfileEdit``s to a user's Dockerfile, leaving every other byte as it was.

Each edit is anchored to the first line of an instruction (``append`` adds to the end of the file,
which is the final stage). Only whole instruction spans are replaced, deleted or inserted around;
comments, blank lines, continuation style, ARG order and line endings elsewhere stay untouched. Edits
are checked before anything is applied: the anchor must start an instruction, the new lines must be
whole instructions, and no two edits may touch an instruction that one of them replaces or deletes.
After applying, the result must read as the same instructions plus the new ones, so an inserted line
can never change how the rest of the file is read (an unclosed heredoc, a dangling continuation).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from falmigrate.dockerfile.reader import KNOWN
from falmigrate.dockerfile.source import SourceText, Span, scan
from falmigrate.errors import SourceError
from falmigrate.spec import DockerfileEdit

_HINT = "the edits no longer match the Dockerfile: read the file again and recompute them"
_NEEDS_LINES = frozenset({"insert_before", "insert_after", "replace", "append"})


def physical_lines(lines: Sequence[str]) -> list[str]:
    """An edit's lines as physical lines without line endings (an item may hold several lines)."""
    return [part.rstrip("\r") for item in lines for part in item.split("\n")]


def _count_instructions(lines: list[str], edit: DockerfileEdit, path: str) -> int:
    """How many instructions ``lines`` hold; they must be whole, known instructions."""
    try:
        spans = scan("\n".join(lines) + "\n", path).spans
    except SourceError as exc:
        raise SourceError(f"the lines of an edit are not whole instructions: {exc.message}", file=path,
                          line=edit.line, hint=f"edit: {edit.reason}") from exc
    unknown = [span.keyword for span in spans if span.keyword not in KNOWN]
    if unknown or not spans:
        raise SourceError(f"the lines of an edit are not Dockerfile instructions: {lines[:1]}", file=path,
                          line=edit.line, hint=f"edit: {edit.reason}")
    return len(spans)


def _check_edit(edit: DockerfileEdit, starts: dict[int, Span], path: str) -> None:
    if edit.action == "append":
        if edit.line is not None:
            raise SourceError("an append edit takes no line (it adds to the end of the file)", file=path,
                              line=edit.line, hint=_HINT)
    elif edit.line is None or edit.line not in starts:
        raise SourceError(f"{edit.action} edit: line {edit.line} does not start an instruction", file=path,
                          line=edit.line, hint=_HINT)
    if (edit.action in _NEEDS_LINES) != bool(edit.lines):
        wanted = "needs lines" if edit.action in _NEEDS_LINES else "takes no lines"
        raise SourceError(f"a {edit.action} edit {wanted}", file=path, line=edit.line, hint=_HINT)


def _check_overlaps(edits: Sequence[DockerfileEdit], path: str) -> None:
    by_line: dict[int, list[DockerfileEdit]] = defaultdict(list)
    for edit in edits:
        if edit.line is not None:
            by_line[edit.line].append(edit)
    for line, group in sorted(by_line.items()):
        destructive = [e for e in group if e.action in ("replace", "delete")]
        if destructive and len(group) > 1:
            actions = ", ".join(e.action for e in group)
            raise SourceError(f"overlapping edits on the instruction at line {line} ({actions})", file=path,
                              line=line, hint="merge them into one replace edit")


def _newline(source: SourceText) -> str:
    first = source.lines[0] if source.lines else "\n"
    return "\r\n" if first.endswith("\r\n") else "\n"


class _Writer:
    def __init__(self, newline: str) -> None:
        self.newline = newline
        self.parts: list[str] = []

    def text(self, text: str) -> None:
        self.parts.append(text)

    def lines(self, lines: list[str]) -> None:
        if self.parts and not self.parts[-1].endswith("\n"):
            self.parts.append(self.newline)
        self.parts.extend(line + self.newline for line in lines)

    def result(self) -> str:
        return "".join(self.parts)


def _write(source: SourceText, edits: Sequence[DockerfileEdit], newline: str) -> str:
    grouped: dict[int, list[DockerfileEdit]] = defaultdict(list)
    for edit in edits:
        if edit.line is not None:
            grouped[edit.line].append(edit)
    spans = {span.first_line: span for span in source.spans}
    out = _Writer(newline)
    index = 1
    while index <= len(source.lines):
        span = spans.get(index)
        if span is None:
            out.text(source.lines[index - 1])
            index += 1
            continue
        group = grouped.get(index, [])
        for edit in (e for e in group if e.action == "insert_before"):
            out.lines(physical_lines(edit.lines))
        replaced = next((e for e in group if e.action in ("replace", "delete")), None)
        if replaced is None:
            out.text(source.text_of(span))
        elif replaced.action == "replace":
            out.lines(physical_lines(replaced.lines))
        for edit in (e for e in group if e.action == "insert_after"):
            out.lines(physical_lines(edit.lines))
        index = span.last_line + 1
    for edit in (e for e in edits if e.action == "append"):
        out.lines(physical_lines(edit.lines))
    return out.result()


def apply_edits(text: str, edits: Sequence[DockerfileEdit], path: str = "Dockerfile") -> str:
    """``text`` with ``edits`` applied (in list order where several add lines at the same place)."""
    if not edits:
        return text
    source = scan(text, path)
    starts = {span.first_line: span for span in source.spans}
    expected = len(source.spans)
    for edit in edits:
        _check_edit(edit, starts, path)
        if edit.action in ("replace", "delete"):
            expected -= 1
        if edit.lines:
            expected += _count_instructions(physical_lines(edit.lines), edit, path)
    _check_overlaps(edits, path)
    result = _write(source, edits, _newline(source))
    if len(scan(result, path).spans) != expected:
        raise SourceError("the edits change how the rest of the Dockerfile reads", file=path,
                          hint="an edit's lines must be complete instructions (closed "
                               "heredocs, no trailing \\)")
    return result
