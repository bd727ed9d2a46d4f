"""A Dockerfile read into stages with ARG/ENV substituted, the way the Docker builder scopes them.

``dockerfile-parse`` splits the file into instructions (continuations, comments); this module adds
what it does not do: per-stage ARG/ENV scoping and ``$VAR``/``${VAR:-default}`` substitution, stage
inheritance (``FROM build AS final``), exec vs shell form of CMD/ENTRYPOINT/HEALTHCHECK, EXPOSE ports,
and the apt/pip installs of RUN lines. Reused by every importer that meets a Dockerfile (Docker
servers, RunPod workers): ``parse_dockerfile(path, root)`` → ``ParsedDockerfile``.
"""

from __future__ import annotations

import io
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from dockerfile_parse import DockerfileParser

from falmigrate.errors import SourceError

KNOWN = {
    "FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
    "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
}
_VAR = re.compile(r"\\\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_APT = re.compile(r"\b(?:apt-get|apt)\s+(?:-\S+\s+)*install\b(.*)")
_PIP = re.compile(r"\b(?:pip3?|python3?\s+-m\s+pip|uv\s+pip)\s+install\b(.*)")
_PIP_VALUE_FLAGS = {"-i", "--index-url", "--extra-index-url", "-c", "--constraint", "--target", "-t", "--prefix",
                    "-f", "--find-links", "--root"}


@dataclass(frozen=True)
class Command:
    """CMD/ENTRYPOINT/HEALTHCHECK CMD: ``argv`` as Docker would run it (shell form → sh -c)."""

    form: str  # "exec" | "shell"
    argv: list[str]
    text: str  # the shell string (shell form) or the joined argv (exec form), substituted
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
class Instruction:
    instruction: str
    raw: str  # value as written
    value: str  # value with ARG/ENV substituted (RUN/CMD/ENTRYPOINT keep $VARs for the shell)
    line: int  # 1-based
    flags: dict[str, str] = field(default_factory=dict)  # --from=..., --chown=..., --mount=...


@dataclass
class Stage:
    index: int
    name: str | None
    base: str  # as written, substituted
    line: int
    parent: int | None = None  # index of the stage this FROM builds on
    instructions: list[Instruction] = field(default_factory=list)
    args: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    workdir: str | None = None
    user: str | None = None
    expose: list[int] = field(default_factory=list)
    cmd: Command | None = None
    entrypoint: Command | None = None
    healthcheck: Command | None = None
    apt_packages: list[str] = field(default_factory=list)
    pip_packages: list[str] = field(default_factory=list)
    pip_requirement_files: list[str] = field(default_factory=list)


@dataclass
class ParsedDockerfile:
    path: str  # relative to the project root
    stages: list[Stage]
    global_args: dict[str, str]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def chain(self, stage: Stage | None = None) -> list[Stage]:
        """``stage`` and the stages it builds on, root first."""
        out = [stage or self.final]
        while out[0].parent is not None:
            out.insert(0, self.stages[out[0].parent])
        return out

    def external_base(self, stage: Stage | None = None) -> str:
        return self.chain(stage)[0].base

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

    return _VAR.sub(repl, text)


def _pairs(value: str, line: int, path: str) -> list[tuple[str, str]]:
    """``K=V K2="v 2"`` or the legacy ``K V`` form of ENV/ARG/LABEL."""
    try:
        words = shlex.split(value, posix=True)
    except ValueError as exc:
        raise SourceError(f"cannot parse {value!r}: {exc}", file=path, line=line) from exc
    if words and "=" not in words[0]:
        return [(words[0], " ".join(words[1:]))] if len(words) > 1 else [(words[0], "")]
    return [tuple(w.split("=", 1)) if "=" in w else (w, "") for w in words]  # type: ignore[misc]


def _flags(value: str) -> tuple[dict[str, str], str]:
    flags: dict[str, str] = {}
    rest = value.lstrip()
    while rest.startswith("--"):
        word, _, rest = rest.partition(" ")
        key, _, val = word[2:].partition("=")
        flags[key] = val
        rest = rest.lstrip()
    return flags, rest


def _command(value: str, line: int) -> Command:
    text = value.strip()
    if text.startswith("["):
        try:
            argv = json.loads(text)
        except ValueError:
            argv = None
        if isinstance(argv, list) and all(isinstance(a, str) for a in argv):
            return Command("exec", argv, " ".join(argv), line)
    return Command("shell", ["/bin/sh", "-c", text], text, line)


def installs(run: str) -> tuple[list[str], list[str], list[str]]:
    """(apt packages, pip packages, pip ``-r`` files) a RUN line installs."""
    apt: list[str] = []
    pip: list[str] = []
    files: list[str] = []
    for segment in re.split(r"&&|;|\|\|", run.replace("\\\n", " ")):
        if m := _APT.search(segment):
            apt += [w for w in m.group(1).split() if not w.startswith("-")]
        elif m := _PIP.search(segment):
            words = m.group(1).split()
            i = 0
            while i < len(words):
                w = words[i]
                if w in ("-r", "--requirement") and i + 1 < len(words):
                    files.append(words[i + 1])
                    i += 1
                elif w.startswith("-r") and len(w) > 2:
                    files.append(w[2:])
                elif w.startswith("-"):
                    if w in _PIP_VALUE_FLAGS:
                        i += 1
                elif w != ".":
                    pip.append(w.strip("'\""))
                i += 1
    return apt, pip, files


def _ports(value: str, line: int, path: str) -> list[int]:
    out = []
    for word in value.split():
        port = word.split("/")[0]
        if not port.isdigit():
            raise SourceError(f"EXPOSE {word!r} is not a port number", file=path, line=line)
        out.append(int(port))
    return out


def _new_stage(ins: Instruction, stages: list[Stage], global_args: dict[str, str], path: str) -> Stage:
    words = substitute(ins.raw, global_args).split()
    words = [w for w in words if not w.startswith("--platform")]
    if not words:
        raise SourceError("FROM without an image", file=path, line=ins.line)
    name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
    stage = Stage(index=len(stages), name=name, base=words[0], line=ins.line)
    by_name = {s.name: s for s in stages if s.name}
    parent = by_name.get(words[0])
    if parent is not None:
        stage.parent = parent.index
        stage.env, stage.workdir, stage.user = dict(parent.env), parent.workdir, parent.user
        stage.expose = list(parent.expose)
    return stage


def _apply(stage: Stage, ins: Instruction, global_args: dict[str, str], path: str) -> Instruction:
    scope = {**stage.args, **stage.env}
    kind, raw = ins.instruction, ins.raw
    if kind in ("RUN", "CMD", "ENTRYPOINT"):
        value = raw  # the shell expands these at run time, with the image's ENV
    else:
        value = substitute(raw, scope)
    flags, rest = _flags(value) if kind in ("COPY", "ADD", "RUN", "HEALTHCHECK") else ({}, value)
    ins = Instruction(kind, raw, value, ins.line, flags)
    if kind == "ARG":
        for key, default in _pairs(raw, ins.line, path):
            stage.args[key] = substitute(default, scope) if default else global_args.get(key, "")
    elif kind == "ENV":
        for key, val in _pairs(raw, ins.line, path):
            stage.env[key] = substitute(val, {**stage.args, **stage.env})
    elif kind == "WORKDIR":
        stage.workdir = value if value.startswith("/") else f"{(stage.workdir or '/').rstrip('/')}/{value}"
    elif kind == "USER":
        stage.user = value
    elif kind == "EXPOSE":
        stage.expose += _ports(value, ins.line, path)
    elif kind in ("CMD", "ENTRYPOINT"):
        command = _command(raw, ins.line)
        setattr(stage, kind.lower(), command)
    elif kind == "HEALTHCHECK":
        if rest.upper().startswith("CMD"):
            stage.healthcheck = _command(rest[3:], ins.line)
    elif kind == "RUN":
        apt, pip, files = installs(substitute(rest, scope))
        stage.apt_packages += apt
        stage.pip_packages += pip
        stage.pip_requirement_files += files
    return ins


def parse_text(text: str, path: str = "Dockerfile") -> ParsedDockerfile:
    """Parse Dockerfile text; ``path`` (relative) is used in error locations."""
    parser = DockerfileParser(fileobj=io.BytesIO(text.encode("utf-8")), env_replace=False)
    try:
        structure = parser.structure
    except Exception as exc:  # dockerfile-parse raises bare errors on malformed input
        raise SourceError(f"cannot parse the Dockerfile: {exc}", file=path) from exc
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for item in structure:
        kind = item["instruction"].upper()
        line = item["startline"] + 1
        if kind == "COMMENT":
            continue
        if kind not in KNOWN:
            raise SourceError(f"unknown Dockerfile instruction {item['instruction']!r}", file=path, line=line,
                              hint="fix the Dockerfile so `docker build` accepts it")
        ins = Instruction(kind, item["value"], item["value"], line)
        if kind == "FROM":
            stages.append(_new_stage(ins, stages, global_args, path))
            stages[-1].instructions.append(ins)
            continue
        if not stages:
            if kind != "ARG":
                raise SourceError(f"{kind} before the first FROM", file=path, line=line,
                                  hint="a Dockerfile must start with FROM (only ARG may precede it)")
            for key, default in _pairs(ins.raw, line, path):
                global_args[key] = substitute(default, global_args)
            continue
        stages[-1].instructions.append(_apply(stages[-1], ins, global_args, path))
    if not stages:
        raise SourceError("the Dockerfile has no FROM instruction", file=path, line=1)
    return ParsedDockerfile(path=path, stages=stages, global_args=global_args)


def parse_dockerfile(path: Path, root: Path | None = None) -> ParsedDockerfile:
    """Read and parse ``path``; locations are relative to ``root`` (default: the file's folder)."""
    root = root or path.parent
    rel = str(path.relative_to(root)) if path.is_relative_to(root) else path.name
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read {rel}: {exc}", file=rel) from exc
    return parse_text(text, rel)
