"""The worker's own Dockerfile, kept and patched: which file, its build context, where the worker's
code lands in the image, and the few edits the fal route needs.

Every stage, ARG, ENV, comment and the order stay as written (``ImageSpec.dockerfile``); the edits,
each a decision with file:line, are only: COPY/ADD sources prefixed with the build context when that is
a subfolder (the output folder is the context of the patched file), paths under RunPod's network volume
``/runpod-volume`` moved to fal's persistent ``/data``, and literal keys taken out (an ENV/ARG value
dropped, a RUN reading a BuildKit secret instead). fal's runtime (curl, ``pip install fal``, the
``.pth`` naming ``code_dirs``, ``COPY fal_app.py``) is appended to the final stage by the renderer.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath

from falmigrate.analysis.secrets import (
    LiteralSecret,
    is_placeholder,
    is_secret_name,
    key_match,
    literal_finding,
)
from falmigrate.dockerfile import Instruction, ParsedDockerfile, parse_dockerfile
from falmigrate.dockerfile.edits import edit_decision, rewrite_paths
from falmigrate.dockerfile.variables import pairs
from falmigrate.errors import SourceError
from falmigrate.importers.base import ImportRequest
from falmigrate.spec import Decision, DockerfileEdit, Finding, Location

DOCKERFILE_NAMES = ("Dockerfile", "dockerfile", "Containerfile")
VOLUME_PATHS = {"/runpod-volume": "/data"}
SECRET_REASON = "a literal key must not be baked into the image; fal passes it as a secret"
_SECRET_DIR = "/run/secrets"


@dataclass
class PatchedDockerfile:
    parsed: ParsedDockerfile
    context: str  # relative to the source root ("." = the root)
    edits: list[DockerfileEdit] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    build_secrets: list[str] = field(default_factory=list)
    runtime_secrets: list[str] = field(default_factory=list)  # secret-named ENV/ARG (names only)

    @property
    def path(self) -> str:
        return self.parsed.path


def _inside(root: Path, rel: str, option: str) -> Path:
    path = (root / rel).resolve()
    if not path.is_relative_to(root.resolve()):
        raise SourceError(f"{option} {rel} is outside the source directory", file=rel,
                          hint="convert the directory that holds the Dockerfile and its build context")
    return path


def locate(root: Path, entry_dir: str, request: ImportRequest) -> Path | None:
    """The worker's Dockerfile: ``--dockerfile``, else the nearest one from the
    worker's folder up to the root."""
    if request.dockerfile is not None:
        path = _inside(root, request.dockerfile, "--dockerfile")
        if not path.is_file():
            raise SourceError(f"--dockerfile {request.dockerfile}: no such file", file=request.dockerfile)
        return path
    folder = root / entry_dir
    while True:
        for name in DOCKERFILE_NAMES:
            if (folder / name).is_file():
                return folder / name
        if folder.resolve() == root.resolve():
            return None
        folder = folder.parent


def _copy_words(ins: Instruction) -> tuple[list[str], str] | None:
    """(sources, destination) of a COPY/ADD from the build context (None for ``--from`` copies)."""
    if ins.instruction not in ("COPY", "ADD") or "from" in ins.flags:
        return None
    text = ins.arguments.strip()
    if text.startswith("["):
        try:
            words = [str(w) for w in json.loads(text)]
        except ValueError:
            words = text.split()
    else:
        words = text.split()
    return (words[:-1], words[-1]) if len(words) >= 2 else None


def _clean(src: str) -> str:
    cleaned = posixpath.normpath(src.strip()).lstrip("/")
    return "" if cleaned in (".", "") else cleaned


def _sources_exist(root: Path, context: str, parsed: ParsedDockerfile) -> bool:
    found = [_copy_words(ins) for stage in parsed.stages for ins in stage.instructions]
    sources = [_clean(s) for words in found if words for s in words[0] if "://" not in s and "$" not in s]
    plain = [s for s in sources if s and not any(ch in s for ch in "*?[")]
    return all((root / context / s).exists() for s in plain)


def build_context(root: Path, dockerfile: Path, parsed: ParsedDockerfile, request: ImportRequest) -> str:
    """``--context``, else the Dockerfile's own folder when its COPY sources are
    found there, else the root."""
    if request.context is not None:
        path = _inside(root, request.context, "--context")
        if not path.is_dir():
            raise SourceError(f"--context {request.context}: no such directory", file=request.context)
        rel = path.relative_to(root.resolve()).as_posix()
        return rel or "."
    folder = dockerfile.parent.resolve().relative_to(root.resolve()).as_posix() or "."
    if folder != "." and _sources_exist(root, folder, parsed) and not _sources_exist(root, ".", parsed):
        return folder
    return "."


def _landing(src: str, dest: str, entry: str, several: bool) -> str | None:
    """Where the context file ``entry`` lands when ``COPY src dest`` runs (None: not copied by it)."""
    src = _clean(src)
    if src == "" or entry.startswith(src + "/"):
        return posixpath.join(dest, posixpath.relpath(entry, src or "."))
    if src == entry or fnmatch(entry, src):
        into_dir = several or dest.endswith("/") or dest in (".", "/") or not dest.endswith(".py")
        return posixpath.join(dest, posixpath.basename(entry)) if into_dir else dest
    return None


def code_dir(parsed: ParsedDockerfile, entry: str) -> tuple[str, int] | None:
    """(the image folder the worker module ``entry`` — relative to the build context — is copied into,
    the COPY's line), from the last COPY/ADD of the final stage's chain that brings it."""
    found = None
    for stage in parsed.chain():
        for ins in stage.instructions:
            words = _copy_words(ins)
            if words is None:
                continue
            sources, dest = words
            base = ins.workdir or "/"
            target = dest if dest.startswith("/") else posixpath.join(base, dest)
            for src in sources:
                landing = _landing(src, target, entry, len(sources) > 1)
                if landing is not None:
                    found = (posixpath.dirname(posixpath.normpath(landing)) or "/", ins.line)
    return found


def _prefixed(ins: Instruction, context: str) -> str | None:
    """The COPY/ADD with its context sources prefixed by ``context`` (the output folder's layout)."""
    words = _copy_words(ins)
    if words is None or context == ".":
        return None
    flags = [f"--{k}={v}" if v else f"--{k}" for k, v in ins.flags.items()]
    sources = [s if "://" in s else f"{context}/{_clean(s)}".rstrip("/") + ("/" if s.endswith("/") else "")
               for s in words[0]]
    if ins.raw.strip().startswith("[") or ins.arguments.strip().startswith("["):
        return f"{ins.instruction} {' '.join(flags) + ' ' if flags else ''}{json.dumps([*sources, words[1]])}"
    return " ".join([ins.instruction, *flags, *sources, words[1]])


def _lines(text: str) -> list[str]:
    return text.rstrip("\n").split("\n")


def _replace(patch: PatchedDockerfile, ins: Instruction, lines: list[str] | None, reason: str) -> None:
    edit = (DockerfileEdit(action="delete", line=ins.line, reason=reason) if lines is None
            else DockerfileEdit(action="replace", line=ins.line, lines=lines, reason=reason))
    patch.edits.append(edit)
    patch.decisions.append(edit_decision(patch.path, edit))


def _literal(patch: PatchedDockerfile, ins: Instruction, kind: str, secret: str, name: str | None) -> None:
    found = LiteralSecret(file=patch.path, line=ins.line, kind=kind, secret=secret, bound_to=name)
    patch.findings.append(literal_finding(found))


def _env_secrets(patch: PatchedDockerfile, ins: Instruction) -> list[str] | None:
    """An ENV/ARG without its literal keys (None: unchanged); secret-named ones are recorded by name."""
    kept: list[str] = []
    changed = False
    for name, value in pairs(ins.raw, ins.line, patch.path):
        if is_secret_name(name) and name not in patch.runtime_secrets:
            patch.runtime_secrets.append(name)
        match = key_match(value or "")
        if value and "$" not in value and (match or (is_secret_name(name) and not is_placeholder(value))):
            _literal(patch, ins, match[0].label if match else f"value of {name}", name, name)
            changed = True
            if ins.instruction == "ARG":
                kept.append(name)  # the ARG stays declared, without its default
            continue
        kept.append(name if value is None else f"{name}={json.dumps(value)}")
    if not changed:
        return None
    return [f"{ins.instruction} {' '.join(kept)}"] if kept else []


def _run_secrets(patch: PatchedDockerfile, ins: Instruction) -> list[str] | None:
    """A RUN that wrote a key literally reads it from a BuildKit secret of the same name instead."""
    text, mounts = ins.source.rstrip("\n"), []
    while (found := key_match(text)) is not None:
        kind, match = found
        text = text[:match.start()] + f'"$(cat {_SECRET_DIR}/{kind.env})"' + text[match.end():]
        if kind.env not in mounts:
            mounts.append(kind.env)
            _literal(patch, ins, kind.label, kind.env, None)
    if not mounts:
        return None
    patch.build_secrets += [m for m in mounts if m not in patch.build_secrets]
    flags = " ".join(f"--mount=type=secret,id={m}" for m in mounts)
    return _lines(re.sub(r"^(\s*RUN)\b", rf"\1 {flags}", text, count=1, flags=re.IGNORECASE))


def _secret_edits(patch: PatchedDockerfile) -> None:
    for ins in patch.parsed.instructions:
        if ins.instruction in ("ENV", "ARG"):
            lines = _env_secrets(patch, ins)
        elif ins.instruction == "RUN":
            lines = _run_secrets(patch, ins)
        else:
            continue
        if lines is not None:
            _replace(patch, ins, lines or None, SECRET_REASON)


def _layout_edits(patch: PatchedDockerfile) -> None:
    """Context prefixes and volume paths, one replace edit per instruction that needs either."""
    touched = {e.line for e in patch.edits}
    moved = {e.line: e for e in rewrite_paths(patch.parsed, VOLUME_PATHS, "r")}
    for ins in patch.parsed.instructions:
        if ins.line in touched:
            continue
        prefixed = _prefixed(ins, patch.context)
        if prefixed is not None:
            _replace(patch, ins, [prefixed],
                     f"the build context is {patch.context}/; the output folder, which "
                     "holds the whole project, is the context of this Dockerfile")
        elif ins.line in moved:
            _replace(patch, ins, list(moved[ins.line].lines),
                     "RunPod's network volume /runpod-volume is fal's persistent storage /data")


def patch_dockerfile(root: Path, dockerfile: Path, request: ImportRequest) -> PatchedDockerfile:
    """The parsed worker Dockerfile (a SourceError with file:line when docker
    would refuse it) and its edits."""
    parsed = parse_dockerfile(dockerfile, root)
    patch = PatchedDockerfile(parsed=parsed, context=build_context(root, dockerfile, parsed, request))
    _secret_edits(patch)
    _layout_edits(patch)
    patch.build_secrets = [*parsed.secret_ids(),
                           *(s for s in patch.build_secrets if s not in parsed.secret_ids())]
    return patch


def image_path_of(patch: PatchedDockerfile, entry_file: str) -> tuple[str, int] | None:
    """(image folder of the worker module, COPY line); ``entry_file`` is relative to the source root."""
    rel = PurePosixPath(entry_file)
    if patch.context != ".":
        try:
            rel = rel.relative_to(patch.context)
        except ValueError:
            return None
    return code_dir(patch.parsed, rel.as_posix())


def location(patch: PatchedDockerfile, line: int | None) -> Location:
    return Location(file=patch.path, line=line)
