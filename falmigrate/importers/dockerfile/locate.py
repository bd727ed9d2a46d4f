"""Which Dockerfile of a repository is the app's, and the build context it is built with.

Repositories hold several Dockerfiles (``Dockerfile`` + ``Dockerfile.dev``, ``docker/Dockerfile.prod``,
one per service in sub-folders). ``--entry`` or ``--dockerfile`` names the one to convert; without
them a single Dockerfile at the root with a canonical name (``Dockerfile``/``Containerfile``) is
clearly the entry, and so is the only Dockerfile of the repository; anything else is a usage error
listing the candidates. The build context is ``--context`` when given, else the repository root
(``docker build -f docker/Dockerfile.prod .``), unless the Dockerfile's COPY sources only exist next
to the Dockerfile (a service folder built on its own); the choice is a decision.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from falmigrate.analysis.sidecars import read_compose
from falmigrate.errors import SourceError, UsageError
from falmigrate.importers.base import ImportRequest
from falmigrate.spec import Decision, Location

CANONICAL = ("Dockerfile", "dockerfile", "Containerfile")
_SKIP_DIRS = frozenset({".git", "node_modules", ".venv", "venv", "__pycache__", ".tox", "dist", "build",
                        ".cache"})
_MAX_DEPTH = 4
_BUILD_FOLDERS = frozenset({"docker", ".docker", "build", "deploy", "ci", ".ci", "containers", "dockerfiles",
                            "ops"})
_OTHER_SUFFIXES = frozenset({".py", ".yaml", ".yml", ".json", ".toml", ".sh", ".js", ".md", ".txt"})


@dataclass(frozen=True)
class Located:
    path: Path  # the Dockerfile
    rel: str  # relative to the source root, "/"-separated
    context: str  # the build context, relative to the source root ("." = the root)
    decisions: tuple[Decision, ...] = ()


def is_dockerfile(name: str) -> bool:
    variant = name.startswith(("Dockerfile.", "Containerfile.")) or name.endswith(".Dockerfile")
    return name in CANONICAL or variant


def candidates(root: Path) -> list[str]:
    """Every Dockerfile under ``root`` (relative paths, sorted, shallow ones first), junk folders skipped."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        depth = len(Path(dirpath).relative_to(root).parts)
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and depth < _MAX_DEPTH)
        found += [(Path(dirpath) / n).relative_to(root).as_posix() for n in filenames if is_dockerfile(n)]
    return sorted(found, key=lambda p: (p.count("/"), p))


def find_dockerfile(root: Path) -> Path | None:
    """The Dockerfile at the top of ``root`` (canonical names first), or None."""
    top = [c for c in candidates(root) if "/" not in c] if root.is_dir() else []
    canonical = [c for c in CANONICAL if c in top]
    chosen = canonical[0] if canonical else (top[0] if top else None)
    return root / chosen if chosen else None


def _named(root: Path, value: str, option: str) -> str:
    path = (root / value).resolve()
    if not path.is_relative_to(root.resolve()):
        raise UsageError(f"{option} {value} is outside the source directory", hint="name a path inside SRC")
    if not path.is_file():
        raise UsageError(f"{option} {value}: no such file", file=value, hint="paths are relative to SRC")
    if path.suffix in _OTHER_SUFFIXES:
        raise UsageError(f"{option} {value} is not a Dockerfile", file=value,
                         hint="name the Dockerfile that builds the server (or convert with --from for that "
                              "file)")
    return path.relative_to(root.resolve()).as_posix()


def _chosen(root: Path, request: ImportRequest) -> tuple[str, str]:
    """(the Dockerfile, why it was chosen)."""
    options = (("--entry", request.entry), ("--dockerfile", request.dockerfile))
    named = {o: v for o, v in options if v is not None}
    paths = {o: _named(root, v, o) for o, v in named.items()}
    if len(set(paths.values())) > 1:
        raise UsageError("--entry and --dockerfile name different Dockerfiles", hint="pass one of them")
    if paths:
        option, rel = next(iter(paths.items()))
        return rel, f"named with {option}"
    found = candidates(root)
    canonical = [c for c in CANONICAL if c in found]
    if canonical:
        return canonical[0], "the root Dockerfile" + (f" ({len(found)} Dockerfiles in the repository)"
                                                      if len(found) > 1 else "")
    if len(found) == 1:
        return found[0], "the repository's only Dockerfile"
    if not found:
        raise SourceError("no Dockerfile found", file=".", hint="the Docker importer needs a Dockerfile; "
                          "name one with --dockerfile PATH")
    listed = ", ".join(found[:12]) + (", …" if len(found) > 12 else "")
    raise UsageError(f"several Dockerfiles and none at the root: {listed}",
                     hint="choose the app's with --entry PATH (relative to SRC)")


def _copy_sources(text: str) -> list[str]:
    """The project paths COPY/ADD instructions name (no --from, no URLs, no variables)."""
    sources = []
    for line in text.splitlines():
        words = line.split()
        copies = len(words) >= 3 and words[0].upper() in ("COPY", "ADD")
        if not copies or any(w.startswith("--from") for w in words):
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        sources += [w.strip('"[],') for w in args[:-1] if "$" not in w and "://" not in w]
    return [s for s in sources if s not in ("", ".", "./")]


def _compose_context(root: Path, rel: str) -> tuple[str, str] | None:
    """(the build context, the compose file) when a compose file at the root builds this Dockerfile."""
    found = read_compose(root)
    for service in found[1] if found else []:
        if service.build is None:
            continue
        context = posixpath.normpath(service.build)
        if posixpath.normpath(posixpath.join(context, service.dockerfile or "Dockerfile")) == rel:
            return context, found[0]  # type: ignore[index]
    return None


def _default_context(root: Path, rel: str) -> tuple[str, str]:
    """The context docker compose names; else the root, unless the COPY sources are only found next to the
    Dockerfile, or it copies its whole context (``COPY . .``) from a service folder of its own."""
    folder = posixpath.dirname(rel) or "."
    compose = _compose_context(root, rel)
    if compose is not None:
        return compose[0], f"the build context {compose[1]} gives it"
    root_why = f"the repository root (docker build -f {rel} .)"
    if folder == ".":
        return ".", root_why
    try:
        text = (root / rel).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ".", root_why
    sources = _copy_sources(text)
    if not sources:
        whole = re.search(r"^\s*(?:COPY|ADD)\s+(?:--\S+\s+)*\.\/?\s", text, re.MULTILINE | re.IGNORECASE)
        if whole and posixpath.basename(folder) not in _BUILD_FOLDERS:
            why = f"the Dockerfile's folder {folder}/ (it copies its whole context: a service of its own)"
            return folder, why
        return ".", root_why
    if all((root / s).exists() for s in sources) or not all((root / folder / s).exists() for s in sources):
        return ".", root_why
    return folder, f"the Dockerfile's folder {folder}/: its COPY sources are there, not at the root"


def locate(root: Path, request: ImportRequest) -> Located:
    """The Dockerfile to convert and its build context, each choice a decision."""
    rel, why = _chosen(root, request)
    if request.context is not None:
        context_path = (root / request.context).resolve()
        if not context_path.is_dir() or not context_path.is_relative_to(root.resolve()):
            raise UsageError(f"--context {request.context}: not a directory inside the source directory")
        context = context_path.relative_to(root.resolve()).as_posix() or "."
        context_why = "named with --context"
    else:
        context, context_why = _default_context(root, rel)
    where = Location(file=rel)
    decisions = (Decision(source=rel, target="the app's image (patched, not regenerated)", note=why,
                          location=where),
                 Decision(source=f"build context {context}",
                          target="the output folder (the image's build context)", note=context_why))
    return Located(path=root / rel, rel=rel, context=context, decisions=decisions)
