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


def image_spec(parsed: ParsedDockerfile, port: int) -> tuple[ImageSpec, list[Finding]]:
    chain = parsed.chain()
    final = parsed.final
    base = parsed.external_base()
    apt: list[str] = []
    pip: list[str] = []
    req_file: str | None = None
    steps: list[RunStep] = []
    copies: list[Copy] = []
    extra: list[str] = []
    findings: list[Finding] = []
    code_copied = False
    for stage in chain:
        workdir = _workdir(stage)
        for ins in stage.instructions:
            loc = Location(file=parsed.path, line=ins.line)
            if ins.instruction == "WORKDIR":
                workdir = ins.value if ins.value.startswith("/") else _dest(workdir, ins.value)
            if ins.instruction == "RUN":
                command = _run_command(ins)
                segments = re.split(r"&&|;", command)
                if code_copied:  # needs the project's files: the code is copied in first
                    if not any(line.startswith("COPY . ") for line in extra):
                        extra.append(f"COPY . {final.workdir or '/app'}")
                    extra.append(f"RUN {command}")
                elif all(_PURE.match(s) for s in segments):
                    a, p, files = installs(command)
                    apt += [x for x in a if x not in apt]
                    pip += [x for x in p if x not in pip and x != "pip"]
                    if files and req_file is None:
                        req_file = _dest(workdir, files[0]).removeprefix(final.workdir or "/app").lstrip("/")
                else:
                    steps.append(RunStep(command=command, secrets=_secrets(ins), location=loc))
            elif ins.instruction in ("COPY", "ADD"):
                srcs, dest = _copy_parts(ins)
                if "from" in ins.flags:
                    extra.append(f"COPY --from={ins.flags['from']} {' '.join(srcs)} {_dest(workdir, dest)}")
                    continue
                target = _dest(workdir, dest)
                if target.rstrip("/") == (final.workdir or "/app").rstrip("/") or not srcs:
                    code_copied = code_copied or any(_is_code(src) for src in srcs)
                    continue
                for src in srcs:
                    if src.startswith(("http://", "https://")):
                        findings.append(Finding(rule="FM407", severity="warning", location=loc,
                                                message=f"ADD of a URL ({src}) is not reproduced",
                                                remediation="download it in a RUN step"))
                        continue
                    copies.append(Copy(src=src.removeprefix("./"), dest=target))
    python = m.group(1) if (m := _PY_TAG.search(base)) else None
    cuda = m.group(1) if (m := _CUDA_TAG.search(base)) else None
    env = dict(sorted(final.env.items()))
    return ImageSpec(
        base=base, python=python, cuda=cuda, system_packages=apt, python_requirements=pip,
        requirements_file=req_file, run_steps=steps, env=env, workdir=final.workdir or "/app",
        copies=copies, exposed_port=port, dockerfile_extra=extra,
    ), findings


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
