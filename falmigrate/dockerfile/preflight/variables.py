"""Preflight rules about variables: an ARG in single quotes that the shell will not expand (FM054),
an ``ENV PATH`` that drops ``$PATH`` (FM055), and a variable declared by ARG that is not in scope
where it is used, typically a pre-FROM ARG not declared again in the stage (FM058)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from falmigrate.dockerfile.model import Instruction, ParsedDockerfile, Stage
from falmigrate.dockerfile.preflight.rules import finding
from falmigrate.dockerfile.shell import run_script
from falmigrate.dockerfile.variables import pairs, references
from falmigrate.spec import Finding

_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_INSTALL = re.compile(r"\b(?:pip3?|uv|apt-get|apt|apk|conda|mamba|micromamba|yum|dnf)\b"
                      r"[^&;|\n]*\b(?:install|add|sync)\b")
_SEPARATOR = re.compile(r"&&|\|\||[;|\n]")


@dataclass(frozen=True)
class Reference:
    name: str
    position: int
    single_quoted: bool  # inside '…' (and not the script of a nested ``sh -c``)


def shell_references(script: str) -> list[Reference]:
    """Variable references of a shell script, with whether single quotes keep them from being expanded."""
    out: list[Reference] = []
    quote: str | None = None
    nested = False
    i = 0
    while i < len(script):
        ch = script[i]
        if ch == "\\" and quote != "'":
            i += 2
            continue
        if ch == "'" and quote in (None, "'"):
            nested = quote is None and script[:i].rstrip().endswith("-c")
            quote = None if quote == "'" else "'"
        elif ch == '"' and quote in (None, '"'):
            quote = None if quote == '"' else '"'
        elif ch == "$" and (m := _REF.match(script, i)):
            out.append(Reference(m.group(1) or m.group(2), i, quote == "'" and not nested))
        i += 1
    return out


def _in_install(script: str, position: int) -> bool:
    """Whether the simple command around ``position`` installs packages (an empty or literal value
    there fails the build)."""
    starts = [m.end() for m in _SEPARATOR.finditer(script, 0, position)]
    end = _SEPARATOR.search(script, position)
    return bool(_INSTALL.search(script[starts[-1] if starts else 0:end.start() if end else len(script)]))


def path_findings(model: ParsedDockerfile) -> list[Finding]:
    """FM055: ``ENV PATH=…`` without ``$PATH`` and without the system directories."""
    out = []
    for ins in model.instructions:
        if ins.instruction != "ENV":
            continue
        for name, value in pairs(ins.raw, ins.line, model.path):
            if name != "PATH" or value is None or "PATH" in references(value):
                continue
            if not {"/usr/bin", "/bin"} & set(value.split(":")):
                out.append(finding("FM055", model.path, ins.line,
                                   f"ENV PATH={value} replaces the image's PATH (no $PATH "
                                   "in it): sh, apt and pip are no longer found",
                                   remediation=f'write ENV PATH="{value.rstrip(":")}:$PATH"'))
    return out


class _Scope:
    """What a stage can expand at each instruction: its ARGs and ENVs so far and its parents' ENVs."""

    def __init__(self, model: ParsedDockerfile, stage: Stage) -> None:
        self.names = {name for parent in model.chain(stage)[:-1] for name in parent.env}
        self.stage_args: set[str] = set()
        self.declared_args = {d.name for d in model.global_arg_decls} | {
            d.name for st in model.stages for d in st.arg_decls}

    def declare(self, ins: Instruction, path: str) -> None:
        if ins.instruction in ("ARG", "ENV"):
            names = {name for name, _ in pairs(ins.raw, ins.line, path)}
            self.names |= names
            if ins.instruction == "ARG":
                self.stage_args |= names


def _quoted_arg(ins: Instruction, ref: Reference, script: str, path: str) -> Finding:
    install = _in_install(script, ref.position)
    return finding("FM054", path, ins.line,
                   f"${ref.name} is inside single quotes: the shell passes it on as the literal text "
                   f"${ref.name}, not the ARG's value", severity="error" if install else None,
                   remediation=f'use double quotes ("…${ref.name}…") so the shell expands it')


def _out_of_scope(ins: Instruction, ref: Reference, script: str, path: str) -> Finding:
    install = ins.instruction == "RUN" and _in_install(script, ref.position)
    return finding("FM058", path, ins.line,
                   f"${ref.name} is declared by ARG but not in this stage at this line, so it is empty here",
                   severity="error" if install else None,
                   remediation=f"declare it in the stage (a line `ARG {ref.name}` after "
                               "FROM) before using it")


def _stage_findings(model: ParsedDockerfile, stage: Stage) -> Iterator[Finding]:
    scope = _Scope(model, stage)
    reported: set[str] = set()
    for ins in stage.instructions[1:]:
        script = run_script(ins) if ins.instruction == "RUN" else ins.raw
        for ref in shell_references(script):
            if ref.single_quoted:  # Docker's own substitution skips single quotes too
                if ins.instruction == "RUN" and ref.name in scope.stage_args:
                    yield _quoted_arg(ins, ref, script, model.path)
            elif ref.name in scope.declared_args and ref.name not in scope.names and ref.name not in reported:
                reported.add(ref.name)
                yield _out_of_scope(ins, ref, script, model.path)
        scope.declare(ins, model.path)


def scope_findings(model: ParsedDockerfile) -> list[Finding]:
    """FM054 and FM058, stage by stage."""
    return [f for stage in model.stages for f in _stage_findings(model, stage)]
