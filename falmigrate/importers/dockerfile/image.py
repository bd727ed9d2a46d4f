"""A user's Docker build re-read into ImageSpec sections a generated Dockerfile can reproduce.

Used by importers that still regenerate a worker's image from its Dockerfile (RunPod, Modal's
``from_dockerfile``); the Docker importer keeps the user's file instead (``userimage``).

RUN lines that only install apt/pip packages become ``system_packages``/``python_requirements``
(the generated Dockerfile installs them on a plain Debian + python3 base); any other RUN line is kept
verbatim as a run step (with its ``--mount=type=secret`` ids). ENV, WORKDIR and COPYs to other places
than the code directory are kept. Build stages the final stage copies from are kept as text
(``stage_texts``) together with their ``COPY --from`` lines (``ImageSpec.dockerfile_extra``). RUN
lines that come after the Dockerfile copied the code go to ``dockerfile_extra`` behind a
``COPY . <workdir>`` of their own, since they need the project's files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from falmigrate.dockerfile import Instruction, ParsedDockerfile, Stage, installs
from falmigrate.spec import Copy, Finding, ImageSpec, Location, RunStep, SecretMount

_PURE = re.compile(
    r"^\s*(?:apt-get|apt)\s+(?:-\S+\s+)*(?:update|install|clean|autoremove)\b.*$"
    r"|^\s*rm\s+-rf\s+/var/lib/apt/lists/?\*?\s*$"
    r"|^\s*(?:pip3?|python3?\s+-m\s+pip)\s+install\b.*$"
    r"|^\s*$"
)
_PY_TAG = re.compile(r"(?:^|/)python:(\d+\.\d+)")
_CUDA_TAG = re.compile(r"cuda:?(\d+\.\d+(?:\.\d+)?)")


def _is_code(src: str) -> bool:
    """A COPY source that brings the project's code (not a lone requirements/config file)."""
    name = src.rstrip("/").rsplit("/", 1)[-1]
    return src in (".", "./") or src.endswith("/") or "." not in name


def _workdir(stage: Stage) -> str:
    return stage.workdir or "/"


def _dest(stage_workdir: str, dest: str) -> str:
    if dest.startswith("/"):
        return dest
    return f"{stage_workdir.rstrip('/')}/{dest}".replace("/./", "/").rstrip("/.") or "/"


def _copy_parts(ins: Instruction) -> tuple[list[str], str]:
    _, words = ins.flags, ins.value.split()
    words = [w for w in words if not w.startswith("--")]
    if ins.value.lstrip().startswith("["):
        import json

        try:
            words = json.loads(ins.value[ins.value.index("["):])
        except ValueError:
            pass
    return words[:-1], (words[-1] if words else ".")


def _secrets(ins: Instruction) -> list[SecretMount]:
    out = []
    for key, value in [(k, v) for k, v in ins.flags.items() if k == "mount"]:
        opts = dict(p.split("=", 1) for p in value.split(",") if "=" in p)
        if opts.get("type") == "secret" and opts.get("id"):
            out.append(SecretMount(id=opts["id"], target=opts.get("target") or opts.get("dst")))
        del key
    return out


def _run_command(ins: Instruction) -> str:
    text = ins.value
    while text.lstrip().startswith("--"):
        text = text.lstrip().partition(" ")[2]
    return text.strip()


@dataclass
class _Build:
    """What the final chain's instructions add up to, read one instruction at a time."""

    code_dir: str  # the final stage's WORKDIR, where the project's code goes
    apt: list[str] = field(default_factory=list)
    pip: list[str] = field(default_factory=list)
    req_file: str | None = None
    steps: list[RunStep] = field(default_factory=list)
    copies: list[Copy] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    code_copied: bool = False

    def run(self, ins: Instruction, workdir: str, loc: Location) -> None:
        command = _run_command(ins)
        segments = re.split(r"&&|;", command)
        if self.code_copied:  # needs the project's files: the code is copied in first
            if not any(line.startswith("COPY . ") for line in self.extra):
                self.extra.append(f"COPY . {self.code_dir}")
            self.extra.append(f"RUN {command}")
        elif all(_PURE.match(s) for s in segments):
            a, p, files = installs(command)
            self.apt += [x for x in a if x not in self.apt]
            self.pip += [x for x in p if x not in self.pip and x != "pip"]
            if files and self.req_file is None:
                self.req_file = _dest(workdir, files[0]).removeprefix(self.code_dir).lstrip("/")
        else:
            self.steps.append(RunStep(command=command, secrets=_secrets(ins), location=loc))

    def copy(self, ins: Instruction, workdir: str, loc: Location) -> None:
        srcs, dest = _copy_parts(ins)
        if "from" in ins.flags:
            self.extra.append(f"COPY --from={ins.flags['from']} {' '.join(srcs)} {_dest(workdir, dest)}")
            return
        target = _dest(workdir, dest)
        if target.rstrip("/") == self.code_dir.rstrip("/") or not srcs:
            self.code_copied = self.code_copied or any(_is_code(src) for src in srcs)
            return
        for src in srcs:
            if src.startswith(("http://", "https://")):
                self.findings.append(Finding(rule="FM407", severity="warning", location=loc,
                                             message=f"ADD of a URL ({src}) is not reproduced",
                                             remediation="download it in a RUN step"))
                continue
            self.copies.append(Copy(src=src.removeprefix("./"), dest=target))


def image_spec(parsed: ParsedDockerfile, port: int) -> tuple[ImageSpec, list[Finding]]:
    final = parsed.final
    base = parsed.external_base()
    build = _Build(code_dir=final.workdir or "/app")
    for stage in parsed.chain():
        workdir = _workdir(stage)
        for ins in stage.instructions:
            loc = Location(file=parsed.path, line=ins.line)
            if ins.instruction == "WORKDIR":
                workdir = ins.value if ins.value.startswith("/") else _dest(workdir, ins.value)
            if ins.instruction == "RUN":
                build.run(ins, workdir, loc)
            elif ins.instruction in ("COPY", "ADD"):
                build.copy(ins, workdir, loc)
    python = m.group(1) if (m := _PY_TAG.search(base)) else None
    cuda = m.group(1) if (m := _CUDA_TAG.search(base)) else None
    env = dict(sorted(final.env.items()))
    return ImageSpec(
        base=base, python=python, cuda=cuda, system_packages=build.apt, python_requirements=build.pip,
        requirements_file=build.req_file, run_steps=build.steps, env=env, workdir=final.workdir or "/app",
        copies=build.copies, exposed_port=port, dockerfile_extra=build.extra,
    ), build.findings


def stage_texts(parsed: ParsedDockerfile) -> list[str]:
    """Dockerfile text of the build stages the final chain copies from (transitively), in order."""
    by_name = {s.name: s.index for s in parsed.stages if s.name}
    chain = {s.index for s in parsed.chain()}
    needed: set[int] = set()
    todo = [s for s in parsed.stages if s.index in chain]
    while todo:
        stage = todo.pop()
        for ins in stage.instructions:
            ref = ins.flags.get("from") if ins.instruction in ("COPY", "ADD") else None
            if ref is None:
                continue
            index = by_name.get(ref, int(ref) if ref.isdigit() else None)
            if index is not None and index not in needed and index not in chain:
                needed.add(index)
                todo += parsed.chain(parsed.stages[index])
                needed |= {s.index for s in parsed.chain(parsed.stages[index])}
    texts = []
    for index in sorted(needed):
        stage = parsed.stages[index]
        head = f"FROM {stage.base}" + (f" AS {stage.name}" if stage.name else "")
        lines = [head] + [f"{ins.instruction} {ins.raw}" for ins in stage.instructions[1:]]
        texts.append("\n".join(lines))
    return texts
