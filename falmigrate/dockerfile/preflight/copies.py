"""What a COPY/ADD brings into the image, for the checks that need to know whether a file is there.

Paths in the image are absolute (relative ones resolved against the instruction's WORKDIR; "/" when
the file sets none, the same for the RUN lines compared with it). Sources are read as the builder
reads them (ARGs substituted); a source with a variable left in it, a URL, a git source or a heredoc
is not judged.
"""

from __future__ import annotations

import fnmatch
import json
import posixpath
import shlex
from dataclasses import dataclass

from falmigrate.dockerfile.model import Instruction

_GLOB = set("*?[")


@dataclass(frozen=True)
class CopyStep:
    line: int
    sources: tuple[str, ...]  # context-relative, normalised ("." for the whole context)
    dest: str  # absolute
    into_dir: bool  # the destination is a directory (ends with /, several sources, the WORKDIR)
    from_ref: str | None
    judged: tuple[bool, ...]  # per source: whether it can be checked statically


def image_path(path: str, workdir: str | None) -> str:
    """``path`` as an absolute path in the image."""
    return posixpath.normpath(posixpath.join(workdir or "/", path))


def _words(arguments: str) -> list[str]:
    if arguments.lstrip().startswith("["):
        try:
            words = json.loads(arguments)
            if isinstance(words, list) and all(isinstance(w, str) for w in words):
                return words
        except ValueError:
            pass
    try:
        return shlex.split(arguments)
    except ValueError:
        return arguments.split()


def _normalise(source: str) -> str:
    cleaned = posixpath.normpath(source.lstrip("/")) if source.strip("/") else "."
    return "." if cleaned in ("", ".") else cleaned


def _judged(source: str, heredoc_markers: set[str]) -> bool:
    return not ("$" in source or "://" in source or source.startswith("git@")
                or source.lstrip("<-\"'") in heredoc_markers)


def copy_step(ins: Instruction) -> CopyStep | None:
    """The COPY/ADD ``ins`` as sources → destination, or None for another instruction."""
    if ins.instruction not in ("COPY", "ADD"):
        return None
    words = _words(ins.arguments)
    if len(words) < 2:
        return None
    markers = {h.marker for h in ins.heredocs}
    sources = words[:-1]
    dest_written = words[-1]
    dest = image_path(dest_written, ins.workdir)
    into_dir = (dest_written.endswith("/") or len(sources) > 1 or dest_written in (".", "./")
                or dest == image_path(".", ins.workdir))
    return CopyStep(line=ins.line, sources=tuple(_normalise(s) for s in sources), dest=dest,
                    into_dir=into_dir,
                    from_ref=ins.flags.get("from"), judged=tuple(_judged(s, markers) for s in sources))


def in_context(source: str, context_files: set[str]) -> bool:
    """Whether a normalised source (file, directory or glob) matches something in the build context."""
    if source == ".":
        return True
    if _GLOB & set(source):
        return any(fnmatch.fnmatchcase(f, source) or fnmatch.fnmatchcase(f, source + "/*")
                   for f in context_files)
    prefix = source + "/"
    return source in context_files or any(f.startswith(prefix) for f in context_files)


def _is_directory(source: str, context_files: set[str] | None) -> bool:
    if source == ".":
        return True
    if _GLOB & set(source):
        return False
    if context_files is not None:
        return source not in context_files and in_context(source, context_files)
    return "." not in posixpath.basename(source)  # without the context: a name without an extension


def _brings_from(source: str, step: CopyStep, target: str, context_files: set[str] | None) -> bool:
    if _is_directory(source, context_files):  # its contents land under dest
        prefix = step.dest.rstrip("/") + "/"
        if not target.startswith(prefix):
            return False
        inside = target[len(prefix):] if source == "." else f"{source}/{target[len(prefix):]}"
        return context_files is None or inside in context_files
    base = posixpath.basename(source)
    if _GLOB & set(source):
        return (posixpath.dirname(target) == step.dest
                and fnmatch.fnmatchcase(posixpath.basename(target), base))
    if step.into_dir:
        return target == posixpath.join(step.dest, base)
    return target in (step.dest, posixpath.join(step.dest, base))


def brings(step: CopyStep, target: str, context_files: set[str] | None = None) -> bool:
    """Whether ``step`` (a COPY from the build context) puts a file at the absolute path ``target``."""
    if step.from_ref is not None:
        return False
    return any(judged and _brings_from(source, step, target, context_files)
               for source, judged in zip(step.sources, step.judged, strict=True))
