"""Builds a ``ParsedDockerfile`` from a file's instruction spans, scoping ARG/ENV like the builder.

ARGs before the first FROM only reach FROM lines and stages that declare them again; a stage built
``FROM`` an earlier stage inherits its ENV, WORKDIR, USER and EXPOSE, not its ARGs. CMD/ENTRYPOINT
are read in exec or shell form, EXPOSE ports and the apt/pip installs of RUN lines are collected.
What the builder would refuse is a ``SourceError`` with file:line: an unknown instruction, one
without arguments, an instruction before the first FROM other than ARG, an unreadable FROM, ARG
defaults in a loop, and (unless ``check_references=False``) a ``COPY --from`` that names no stage
and does not look like an image.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from falmigrate.dockerfile.model import (
    Command,
    CopyFrom,
    Instruction,
    Mount,
    ParsedDockerfile,
    Stage,
    split_flags,
)
from falmigrate.dockerfile.shell import installs, run_script
from falmigrate.dockerfile.source import SourceText, Span, scan
from falmigrate.dockerfile.variables import ArgDecl, check_arg_cycles, pairs, substitute
from falmigrate.errors import SourceError

KNOWN = frozenset({
    "FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
    "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
})
_SHELL_EXPANDED = frozenset({"RUN", "CMD", "ENTRYPOINT"})  # the shell expands these, with the image's ENV
_FLAGGED = frozenset({"COPY", "ADD", "RUN", "HEALTHCHECK", "FROM"})


def command_of(value: str, line: int) -> Command:
    text = value.strip()
    if text.startswith("["):
        try:
            argv = json.loads(text)
        except ValueError:
            argv = None
        if isinstance(argv, list) and all(isinstance(a, str) for a in argv):
            return Command("exec", argv, " ".join(argv), line)
    return Command("shell", ["/bin/sh", "-c", text], text, line)


def looks_like_image(ref: str) -> bool:
    """A ``--from`` value that is an image reference rather than a (missing) stage name; an empty value
    or one with a variable left in it is only known at build time and counts as an image."""
    return not ref or "$" in ref or any(c in ref for c in "/:@")


def _ports(value: str, line: int, path: str) -> list[int]:
    out = []
    for word in value.split():
        port = word.split("/")[0].split("-")[0]
        if not port.isdigit():
            raise SourceError(f"EXPOSE {word!r} is not a port number", file=path, line=line)
        out.append(int(port))
    return out


def _mounts(flags: list[tuple[str, str]]) -> tuple[Mount, ...]:
    out = []
    for key, value in flags:
        if key != "mount":
            continue
        options = {}
        for part in filter(None, value.split(",")):
            key, _, option = part.partition("=")
            options[key] = option
        out.append(Mount(type=options.pop("type", "bind"), options=options))
    return tuple(out)


class _Reader:
    def __init__(self, source: SourceText, path: str) -> None:
        self.source = source
        self.path = path
        self.model = ParsedDockerfile(path=path, stages=[], global_args={}, text="".join(source.lines),
                                      directives=dict(source.directives))
        self._apply: dict[str, Callable[[Stage, Instruction], None]] = {
            "ARG": self._arg, "ENV": self._env, "WORKDIR": self._workdir, "USER": self._user,
            "EXPOSE": self._expose, "CMD": self._cmd, "ENTRYPOINT": self._entrypoint,
            "HEALTHCHECK": self._healthcheck, "RUN": self._run,
        }

    def read(self) -> ParsedDockerfile:
        for span in self.source.spans:
            self._span(span)
        if not self.model.stages:
            raise SourceError("the Dockerfile has no FROM instruction", file=self.path, line=1,
                              hint="a Dockerfile must have a FROM line")
        check_arg_cycles(self.model.global_arg_decls, self.path)
        for stage in self.model.stages:
            check_arg_cycles(stage.arg_decls, self.path)
        return self.model

    def _span(self, span: Span) -> None:
        kind, line = span.keyword, span.first_line
        if kind not in KNOWN:
            raise SourceError(f"unknown Dockerfile instruction {kind!r}", file=self.path, line=line,
                              hint="fix the Dockerfile so `docker build` accepts it")
        if not span.args.strip() and not span.heredocs:
            raise SourceError(f"{kind} needs arguments", file=self.path, line=line)
        stages = self.model.stages
        if kind == "FROM":
            self._from(span)
        elif not stages:
            if kind != "ARG":
                raise SourceError(f"{kind} before the first FROM", file=self.path, line=line,
                                  hint="a Dockerfile must start with FROM (only ARG may precede it)")
            self._global_arg(span)
        else:
            stage = stages[-1]
            ins = self._instruction(span, stage)
            stage.instructions.append(ins)
            if apply := self._apply.get(kind):
                apply(stage, ins)
            self._references(stage, ins)

    def _instruction(self, span: Span, stage: Stage | None,
                     scope: dict[str, str] | None = None) -> Instruction:
        if scope is None:
            scope = {**stage.args, **stage.env} if stage else {}
        kind, raw = span.keyword, span.args
        value = raw if kind in _SHELL_EXPANDED else substitute(raw, scope)
        flag_list = split_flags(value)[0] if kind in _FLAGGED else []
        return Instruction(
            instruction=kind, raw=raw, value=value, line=span.first_line, last_line=span.last_line,
            source=self.source.text_of(span), flags=dict(flag_list), mounts=_mounts(flag_list),
            heredocs=span.heredocs, stage=stage.index if stage else None, expanded=substitute(raw, scope),
            workdir=stage.workdir if stage else None)

    def _global_arg(self, span: Span) -> None:
        ins = self._instruction(span, None, self.model.global_args)
        self.model.preamble.append(ins)
        for name, default in pairs(ins.raw, ins.line, self.path):
            value = substitute(default, self.model.global_args) if default is not None else ""
            self.model.global_args[name] = value
            self.model.global_arg_decls.append(ArgDecl(name, default, value, ins.line))

    def _from(self, span: Span) -> None:
        stages = self.model.stages
        ins = self._instruction(span, None, self.model.global_args)
        words = split_flags(ins.raw)[1].split()
        if len(words) not in (1, 3) or (len(words) == 3 and words[1].upper() != "AS"):
            raise SourceError(f"cannot read this FROM line: FROM {ins.raw}", file=self.path, line=ins.line,
                              hint="write it as FROM [--platform=…] IMAGE [AS NAME]")
        base = substitute(words[0], self.model.global_args)
        stage = Stage(index=len(stages), name=words[2] if len(words) == 3 else None, base=base, line=ins.line,
                      base_as_written=words[0])
        parent = self.model.stage_named(base)
        if parent is not None:
            stage.parent = parent.index
            stage.env, stage.workdir, stage.user = dict(parent.env), parent.workdir, parent.user
            stage.expose = list(parent.expose)
        stage.instructions.append(replace(ins, stage=stage.index))
        stages.append(stage)

    def _references(self, stage: Stage, ins: Instruction) -> None:
        refs = [ins.flags["from"]] if ins.instruction in ("COPY", "ADD") and "from" in ins.flags else []
        refs += [m.options["from"] for m in ins.mounts if m.options.get("from")]
        for ref in refs:
            named = self.model.stage_named(ref, before=stage.index)
            index = named.index if named else (int(ref) if ref.isdigit() and int(ref) < stage.index else None)
            self.model.copy_from.append(CopyFrom(ref=ref, line=ins.line, stage=index,
                                                 image=index is None and looks_like_image(ref)))

    def _arg(self, stage: Stage, ins: Instruction) -> None:
        for name, default in pairs(ins.raw, ins.line, self.path):
            scope = {**stage.args, **stage.env}
            value = (substitute(default, scope) if default is not None
                     else self.model.global_args.get(name, ""))
            stage.args[name] = value
            stage.arg_decls.append(ArgDecl(name, default, value, ins.line))

    def _env(self, stage: Stage, ins: Instruction) -> None:
        for name, value in pairs(ins.raw, ins.line, self.path):
            stage.env[name] = substitute(value or "", {**stage.args, **stage.env})

    def _workdir(self, stage: Stage, ins: Instruction) -> None:
        value = ins.value.strip()
        stage.workdir = value if value.startswith("/") else f"{(stage.workdir or '/').rstrip('/')}/{value}"

    def _user(self, stage: Stage, ins: Instruction) -> None:
        stage.user = ins.value.strip()

    def _expose(self, stage: Stage, ins: Instruction) -> None:
        stage.expose += _ports(ins.value, ins.line, self.path)

    def _cmd(self, stage: Stage, ins: Instruction) -> None:
        stage.cmd = command_of(ins.raw, ins.line)

    def _entrypoint(self, stage: Stage, ins: Instruction) -> None:
        stage.entrypoint = command_of(ins.raw, ins.line)

    def _healthcheck(self, stage: Stage, ins: Instruction) -> None:
        rest = ins.arguments
        if rest.upper().startswith("CMD"):
            stage.healthcheck = command_of(rest[3:], ins.line)

    def _run(self, stage: Stage, ins: Instruction) -> None:
        apt, pip, files = installs(substitute(run_script(ins), {**stage.args, **stage.env}))
        stage.apt_packages += apt
        stage.pip_packages += pip
        stage.pip_requirement_files += files


def parse_text(text: str, path: str = "Dockerfile", *, check_references: bool = True) -> ParsedDockerfile:
    """Parse Dockerfile text; ``path`` (relative) is used in error locations."""
    model = _Reader(scan(text, path), path).read()
    if check_references:
        for ref in model.copy_from:
            if not ref.resolved:
                raise SourceError(f"--from={ref.ref} names no stage defined before this line", file=path,
                                  line=ref.line,
                                  hint=f"add the stage (FROM … AS {ref.ref}) before it, or write "
                                       "the image with its tag (name:tag)")
    return model


def parse_dockerfile(path: Path, root: Path | None = None, *,
                     check_references: bool = True) -> ParsedDockerfile:
    """Read and parse ``path``; locations are relative to ``root`` (default: the file's folder)."""
    root = root or path.parent
    rel = str(path.relative_to(root)) if path.is_relative_to(root) else path.name
    try:
        text = path.read_bytes().decode("utf-8")  # not read_text: CRLF line endings are kept as they are
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read {rel}: {exc}", file=rel) from exc
    return parse_text(text, rel, check_references=check_references)
