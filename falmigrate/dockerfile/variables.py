"""ARG/ENV values the way the Docker builder reads them, for analysis only.

Knowing that ``torch==${TORCH_VERSION}`` means torch 2.3.1 (from an ARG default) lets the importers
and the preflight reason about a file; the text that is written out is never expanded. ARG
declarations whose defaults refer to each other in a loop (``ARG A=$B`` … ``ARG B=$A``) have no
meaningful value and are refused here, with the line of the first one.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from falmigrate.errors import SourceError

VAR = re.compile(r"\\\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class ArgDecl:
    """One name of an ARG instruction."""

    name: str
    default: str | None  # as written; None for ``ARG NAME`` (no default)
    value: str  # the default expanded with what was in scope at that line ("" when unknown)
    line: int


def substitute(text: str, env: dict[str, str]) -> str:
    """Docker's variable substitution: ``$V``, ``${V}``, ``${V:-word}``, ``${V:+word}``, ``\\$``."""

    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "\\$":
            return "$"
        name = m.group(1) or m.group(4)
        value = env.get(name)
        op, word = m.group(2), m.group(3)
        if op in (":-", "-"):
            return value if value else word
        if op in (":+", "+"):
            return word if value else ""
        return value or ""

    return VAR.sub(repl, text)


def references(text: str) -> list[str]:
    """The variable names ``text`` refers to, in order (``\\$`` escapes skipped)."""
    names = []
    for m in VAR.finditer(text):
        name = m.group(1) or m.group(4)
        if name:
            names.append(name)
    return names


def pairs(value: str, line: int, path: str) -> list[tuple[str, str | None]]:
    """``K=V K2="v 2"`` or the legacy ``K V`` form of ENV/ARG/LABEL; a name without ``=`` has no value."""
    try:
        words = shlex.split(value, posix=True)
    except ValueError as exc:
        raise SourceError(f"cannot parse {value!r}: {exc}", file=path, line=line) from exc
    if words and "=" not in words[0]:
        return [(words[0], " ".join(words[1:]))] if len(words) > 1 else [(words[0], None)]
    out: list[tuple[str, str | None]] = []
    for word in words:
        name, sep, default = word.partition("=")
        out.append((name, default if sep else None))
    return out


def check_arg_cycles(decls: list[ArgDecl], path: str) -> None:
    """Refuse ARG defaults that refer to each other in a loop (within one scope: before the first FROM,
    or one stage). A default that refers to its own name reads the earlier value and is allowed."""
    graph: dict[str, set[str]] = {}
    first_line: dict[str, int] = {}
    for decl in decls:
        first_line.setdefault(decl.name, decl.line)
        refs = set(references(decl.default or "")) - {decl.name}
        graph.setdefault(decl.name, set()).update(refs)
    for name in sorted(graph, key=lambda n: first_line[n]):
        cycle = _cycle_from(name, graph)
        if cycle:
            lines = ", ".join(f"{n} (line {first_line[n]})" for n in cycle[:-1])
            raise SourceError(f"ARG defaults refer to each other in a loop: {' -> '.join(cycle)}", file=path,
                              line=first_line[name], hint=f"give one of {lines} a plain default")


def _cycle_from(start: str, graph: dict[str, set[str]]) -> list[str] | None:
    """A path start -> … -> start through declared ARGs, if there is one (depth-first)."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, trail = stack.pop()
        for ref in sorted(graph.get(node, ())):
            if ref == start:
                return [*trail, start]
            if ref in graph and ref not in seen:
                seen.add(ref)
                stack.append((ref, [*trail, ref]))
    return None
