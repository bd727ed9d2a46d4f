"""A Dockerfile as data: instructions with their exact source spans, stages, ARG/ENV scopes.

One reader for every part of falmigrate that meets a Dockerfile (the Docker, RunPod and Modal
importers, the build's base swap, the patcher and the preflight): ``reader.parse_text`` /
``reader.parse_dockerfile`` build a ``ParsedDockerfile``. Each ``Instruction`` keeps its text as
written (``source``: continuation lines, comment lines and heredoc bodies included) next to an
expanded view (``value``/``expanded``) that is for analysis only and is never written back.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from falmigrate.dockerfile.source import Heredoc
from falmigrate.dockerfile.variables import ArgDecl

_FLAG = re.compile(r"--([A-Za-z][A-Za-z0-9-]*)(?:=(\S*))?(?:\s+|$)")


@dataclass(frozen=True)
class Command:
    """CMD/ENTRYPOINT/HEALTHCHECK CMD: ``argv`` as Docker would run it (shell form → sh -c)."""

    form: str  # "exec" | "shell"
    argv: list[str]
    text: str  # the shell string (shell form) or the joined argv (exec form), as written
    line: int

    @property
    def words(self) -> list[str]:
        """The command split into words (shell form split like a shell would, best effort)."""
        if self.form == "exec":
            return list(self.argv)
        try:
            return shlex.split(self.text, comments=True)
        except ValueError:
            return self.text.split()


@dataclass(frozen=True)
class Mount:
    """A ``RUN --mount=…`` flag: ``type`` (bind, cache, secret, ssh, tmpfs) and its other options."""

    type: str
    options: dict[str, str]

    @property
    def id(self) -> str | None:
        return self.options.get("id")

    @property
    def target(self) -> str | None:
        return self.options.get("target") or self.options.get("dst") or self.options.get("destination")


@dataclass(frozen=True)
class Instruction:
    """One instruction. ``line``..``last_line`` is its whole span in the file."""

    instruction: str  # the keyword, upper-case
    raw: str  # the arguments as written (continuation lines joined, comment lines dropped)
    value: str  # ``raw`` with ARG/ENV substituted; RUN/CMD/ENTRYPOINT keep their $VARs for the shell
    line: int  # 1-based first line
    last_line: int = 0  # 1-based last line (continuations and heredoc bodies included); 0 = ``line``
    source: str = ""  # the exact text of the span, line endings included
    flags: dict[str, str] = field(default_factory=dict)  # --from=..., --chown=..., --mount=... (last wins)
    mounts: tuple[Mount, ...] = ()  # every RUN --mount, in order
    heredocs: tuple[Heredoc, ...] = ()
    stage: int | None = None  # index of the stage; None for an ARG before the first FROM
    expanded: str = ""  # ``raw`` with the ARG/ENV in scope substituted, whatever the instruction
    workdir: str | None = None  # the working directory the instruction runs in (None: the base image's)

    @property
    def end_line(self) -> int:
        return self.last_line or self.line

    @property
    def arguments(self) -> str:
        """``value`` without the leading ``--flags``."""
        return strip_flags(self.value)


@dataclass(frozen=True)
class CopyFrom:
    """A ``COPY --from=REF``/``RUN --mount=from=REF`` reference and what it resolves to."""

    ref: str  # as the builder sees it (ARGs substituted)
    line: int
    stage: int | None  # the index of the stage it names, None for an outside image or nothing
    image: bool  # it looks like an image reference (a registry path, a tag or a digest)

    @property
    def resolved(self) -> bool:
        return self.stage is not None or self.image


@dataclass
class Stage:
    """One build stage. ARG/ENV/WORKDIR/USER are the values at the end of the stage."""

    index: int
    name: str | None
    base: str  # the FROM image with the pre-FROM ARGs substituted (or a stage name)
    line: int
    parent: int | None = None  # index of the stage this FROM builds on
    base_as_written: str = ""
    instructions: list[Instruction] = field(default_factory=list)  # its FROM first
    args: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    arg_decls: list[ArgDecl] = field(default_factory=list)
    workdir: str | None = None
    user: str | None = None
    expose: list[int] = field(default_factory=list)
    cmd: Command | None = None
    entrypoint: Command | None = None
    healthcheck: Command | None = None
    apt_packages: list[str] = field(default_factory=list)
    pip_packages: list[str] = field(default_factory=list)
    pip_requirement_files: list[str] = field(default_factory=list)

    @property
    def last_line(self) -> int:
        return self.instructions[-1].end_line


@dataclass
class ParsedDockerfile:
    path: str  # relative to the project root
    stages: list[Stage]
    global_args: dict[str, str]  # the ARGs before the first FROM, defaults expanded
    text: str = ""
    directives: dict[str, str] = field(default_factory=dict)  # ``# syntax=``, ``# escape=``, ``# check=``
    global_arg_decls: list[ArgDecl] = field(default_factory=list)
    preamble: list[Instruction] = field(default_factory=list)  # the ARG instructions before the first FROM
    copy_from: list[CopyFrom] = field(default_factory=list)

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    @property
    def instructions(self) -> list[Instruction]:
        """Every instruction of the file, in order."""
        return [*self.preamble, *(ins for stage in self.stages for ins in stage.instructions)]

    def instruction_at(self, line: int) -> Instruction | None:
        """The instruction that starts at ``line``."""
        return next((ins for ins in self.instructions if ins.line == line), None)

    def stage_named(self, name: str, before: int | None = None) -> Stage | None:
        """The latest stage called ``name`` (case-insensitive), among those before index ``before``."""
        found = [s for s in self.stages[:before] if s.name and s.name.lower() == name.lower()]
        return found[-1] if found else None

    def chain(self, stage: Stage | None = None) -> list[Stage]:
        """``stage`` and the stages it builds on, root first."""
        out = [stage or self.final]
        while out[0].parent is not None:
            out.insert(0, self.stages[out[0].parent])
        return out

    def base_stage(self, stage: Stage | None = None) -> Stage:
        """The stage whose FROM names the outside image ``stage`` (default: the final one) is built on."""
        return self.chain(stage)[0]

    def external_base(self, stage: Stage | None = None) -> str:
        return self.base_stage(stage).base

    def secret_ids(self) -> list[str]:
        """The ids of the build secrets the RUN steps mount, in order of first use."""
        ids: list[str] = []
        for ins in self.instructions:
            for mount in ins.mounts:
                if mount.type == "secret" and mount.id and mount.id not in ids:
                    ids.append(mount.id)
        return ids

    def command(self) -> tuple[Command | None, Command | None]:
        """The final stage's effective (ENTRYPOINT, CMD), inherited along the stage chain."""
        entry = cmd = None
        for st in self.chain():
            if st.entrypoint is not None:
                entry, cmd = st.entrypoint, None  # Docker resets CMD when ENTRYPOINT is set
            if st.cmd is not None:
                cmd = st.cmd
        return entry, cmd

    def effective_argv(self) -> tuple[list[str], int] | None:
        """What ``docker run IMAGE`` executes, and the line that decides it."""
        entry, cmd = self.command()
        if entry is not None:
            if entry.form == "shell":
                return entry.argv, entry.line
            return entry.argv + (cmd.argv if cmd else []), entry.line
        if cmd is not None:
            return cmd.argv, cmd.line
        return None


def split_flags(value: str) -> tuple[list[tuple[str, str]], str]:
    """The leading ``--name=value`` flags of an instruction's arguments, and the rest."""
    flags: list[tuple[str, str]] = []
    rest = value.lstrip()
    while match := _FLAG.match(rest):
        flags.append((match.group(1), match.group(2) or ""))
        rest = rest[match.end():]
    return flags, rest


def strip_flags(value: str) -> str:
    return split_flags(value)[1]
