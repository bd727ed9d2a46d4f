"""The physical layer of a Dockerfile: which lines make up which instruction.

``dockerfile-parse`` splits a file into instructions (continuation lines, comment lines inside them,
the ``# escape=`` directive). It knows neither BuildKit heredocs (``RUN <<EOF`` … ``EOF``) nor the empty
lines Docker tolerates inside a continuation, and it drops an instruction whose last line continues
past the end of the file (Docker keeps it). This module hides those body and empty lines from it, attaches the
heredoc bodies back to their instruction and reads the parser directives at the top, so the spans
it returns are exact: patching a file replaces whole spans and leaves every other byte alone.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field

from dockerfile_parse import DockerfileParser

from falmigrate.errors import SourceError

HEREDOC_INSTRUCTIONS = frozenset({"RUN", "COPY", "ADD"})
# BuildKit recognises a heredoc in a word that starts with ``<<`` (not ``<<<``, a here-string)
_HEREDOC = re.compile(r"(?:^|(?<=\s))<<(?!<)(-?)(\"|'|)([A-Za-z_][A-Za-z0-9_]*)\2")
_DIRECTIVE = re.compile(r"^#\s*([A-Za-z][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")
_KNOWN_DIRECTIVES = frozenset({"syntax", "escape", "check"})


@dataclass(frozen=True)
class Heredoc:
    """A BuildKit heredoc: the body lines between the instruction and the marker line."""

    marker: str
    strip_tabs: bool  # ``<<-EOF``: leading tabs removed from the body
    quoted: bool  # ``<<'EOF'``/``<<"EOF"``: the body is not expanded
    first_line: int  # 1-based: the first body line (== last_line when the body is empty)
    last_line: int  # 1-based: the marker line that closes it
    body: str  # the body as written, without the marker line


@dataclass(frozen=True)
class Span:
    """One instruction as it sits in the file."""

    keyword: str  # upper-case
    first_line: int  # 1-based
    last_line: int  # 1-based, continuation lines and heredoc bodies included
    args: str  # the arguments as written, continuation lines joined, comment lines dropped
    heredocs: tuple[Heredoc, ...] = ()


@dataclass(frozen=True)
class SourceText:
    lines: tuple[str, ...]  # the physical lines, each with its own line ending
    spans: tuple[Span, ...]
    directives: dict[str, str] = field(default_factory=dict)
    escape: str = "\\"

    def text_of(self, span: Span) -> str:
        """The exact text of ``span`` (every byte, line endings included)."""
        return "".join(self.lines[span.first_line - 1:span.last_line])


def split_lines(text: str) -> list[str]:
    """Physical lines with their endings, split on LF only (as the Docker builder and dockerfile-parse
    do: a lone CR or a form feed is part of its line)."""
    parts = text.split("\n")
    out = [part + "\n" for part in parts[:-1]]
    return out + ([parts[-1]] if parts[-1] else [])


def read_directives(lines: list[str]) -> dict[str, str]:
    """Parser directives (``# syntax=…``, ``# escape=…``, ``# check=…``) at the top of the file."""
    directives: dict[str, str] = {}
    for line in lines:
        match = _DIRECTIVE.match(line.lstrip("\ufeff").strip())
        if (not match or match.group(1).lower() not in _KNOWN_DIRECTIVES
                or match.group(1).lower() in directives):
            break
        directives[match.group(1).lower()] = match.group(2)
    return directives


def _is_blank(line: str) -> bool:
    return not line.strip()


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _mask_blank_continuations(lines: list[str], escape: str) -> list[str]:
    """Empty lines inside a continuation become comment lines: Docker skips both there, while
    dockerfile-parse would end the instruction at the empty line."""
    masked = list(lines)
    continued = False
    for index, line in enumerate(lines):
        if _is_blank(line):
            if continued:
                masked[index] = "#\n"
        elif not _is_comment(line):
            continued = line.rstrip().endswith(escape)
    return masked


def _structure(lines: list[str]) -> list[dict]:
    parser = DockerfileParser(fileobj=io.BytesIO("".join(lines).encode("utf-8")), env_replace=False)
    try:
        return parser.structure
    except Exception as exc:  # dockerfile-parse raises bare errors on input it cannot split
        raise SourceError(f"cannot parse the Dockerfile: {exc}") from exc


def _heredoc_bodies(item: dict, lines: list[str], path: str) -> tuple[Heredoc, ...]:
    """The heredocs an instruction opens; their bodies follow the instruction's last line in order."""
    found = []
    line_index = item["endline"] + 1
    for match in _HEREDOC.finditer(item["value"]):
        strip_tabs, quote, marker = match.group(1) == "-", match.group(2), match.group(3)
        start = line_index
        while line_index < len(lines):
            candidate = lines[line_index].rstrip("\r\n")
            if (candidate.lstrip("\t") if strip_tabs else candidate) == marker:
                break
            line_index += 1
        else:
            raise SourceError(f"the heredoc <<{marker} is never closed by a line `{marker}`", file=path,
                              line=item["startline"] + 1,
                              hint=f"end the heredoc with a line holding only {marker}")
        body = "".join(lines[start:line_index])
        found.append(Heredoc(marker=marker, strip_tabs=strip_tabs, quoted=bool(quote), first_line=start + 1,
                             last_line=line_index + 1, body=body))
        line_index += 1
    return tuple(found)


def _items_with_heredocs(masked: list[str], lines: list[str],
                         path: str) -> tuple[list[dict], dict[int, tuple[Heredoc, ...]]]:
    """dockerfile-parse's items once every heredoc body is hidden from it (one body at a time: the lines
    of a body are only known once the instruction that opens it is known). Bodies are read from the
    original ``lines``."""
    heredocs: dict[int, tuple[Heredoc, ...]] = {}
    while True:
        items = _structure(masked)
        pending = next((item for item in items if item["instruction"] in HEREDOC_INSTRUCTIONS
                        and item["startline"] not in heredocs and _HEREDOC.search(item["value"])), None)
        if pending is None:
            return items, heredocs
        bodies = _heredoc_bodies(pending, lines, path)
        heredocs[pending["startline"]] = bodies
        for heredoc in bodies:
            for index in range(heredoc.first_line - 1, heredoc.last_line):
                masked[index] = "\n"


def scan(text: str, path: str = "Dockerfile") -> SourceText:
    """Split ``text`` into instruction spans; ``path`` is used in error locations."""
    lines = split_lines(text)
    directives = read_directives(lines)
    escape = directives.get("escape", "\\")
    if escape not in ("\\", "`"):
        raise SourceError(f"unknown escape character {escape!r}", file=path, line=1, hint="use \\ or `")
    masked = _mask_blank_continuations(lines, escape)
    if masked and masked[0].startswith("\ufeff"):
        masked[0] = masked[0][1:]
    # Docker ends an instruction still continued at the end of the file there; dockerfile-parse drops
    # it, unless an empty line follows (it is clamped away below)
    if masked and not masked[-1].endswith("\n"):
        masked[-1] += "\n"
    masked.append("\n")
    try:
        items, heredocs = _items_with_heredocs(masked, lines, path)
    except SourceError as exc:
        exc.file = exc.file or path
        raise
    spans = []
    for item in items:
        if item["instruction"] == "COMMENT":
            continue
        bodies = heredocs.get(item["startline"], ())
        last = min(max([item["endline"] + 1, *(h.last_line for h in bodies)]), len(lines))
        spans.append(Span(keyword=item["instruction"].upper(), first_line=item["startline"] + 1,
                          last_line=last, args=item["value"], heredocs=bodies))
    return SourceText(lines=tuple(lines), spans=tuple(spans), directives=directives, escape=escape)
