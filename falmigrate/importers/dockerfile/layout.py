"""Where the project's files land in the image, read from the Dockerfile's COPY/ADD instructions.

A server's command, its config files and the paths its code opens name image paths (``/app/start.sh``,
``/home/model-server/config.properties``); the importer reads the project file behind each one, and
``verify`` runs the image's command from the project instead of the image. Paths are resolved the
way the builder does: relative COPY destinations against the stage's WORKDIR, sources against the
build context. ``--from`` copies (other stages) are not project files.
"""

from __future__ import annotations

import json
import posixpath
from pathlib import Path

from falmigrate.dockerfile import Instruction, ParsedDockerfile


def copy_parts(ins: Instruction) -> tuple[list[str], str]:
    """(sources, destination) of a COPY/ADD, in shell or JSON form, flags dropped."""
    text = ins.arguments.strip()
    words: list[str] | None = None
    if text.startswith("["):
        try:
            loaded = json.loads(text)
            words = [str(w) for w in loaded] if isinstance(loaded, list) else None
        except ValueError:
            words = None
    if words is None:
        words = text.split()
    return words[:-1], (words[-1] if words else ".")


def image_path(workdir: str | None, path: str) -> str:
    """``path`` made absolute against ``workdir`` (the base image's ``/`` when there is none)."""
    if not path.startswith("/"):
        path = f"{(workdir or '/').rstrip('/')}/{path}"
    return posixpath.normpath(path)


def _copies(parsed: ParsedDockerfile) -> list[tuple[str, str]]:
    """(project source, image destination) of every COPY/ADD of the final image's stage chain."""
    out = []
    for stage in parsed.chain():
        for ins in stage.instructions:
            if ins.instruction not in ("COPY", "ADD") or "from" in ins.flags:
                continue
            sources, dest = copy_parts(ins)
            target = image_path(ins.workdir, dest)
            out += [(src, target + ("/" if dest.endswith("/") else "")) for src in sources]
    return out


def project_file(parsed: ParsedDockerfile, context: Path, path: str, *, folders: bool = False) -> Path | None:
    """The file (or, with ``folders``, the folder) of the build ``context`` that the image has at ``path``
    (relative paths are taken against the final WORKDIR), or None when no COPY brings it in."""
    wanted = image_path(parsed.final.workdir, path)
    for src, dest in reversed(_copies(parsed)):  # a later COPY to the same place wins
        source = context / src.removeprefix("./")
        folder = dest.rstrip("/") or "/"
        is_dir = src.endswith("/") or src in (".", "./") or source.is_dir()
        if wanted == folder:
            candidate = source
        elif wanted.startswith(folder.rstrip("/") + "/") and (is_dir or dest.endswith("/")):
            rest = wanted[len(folder.rstrip("/")) + 1:]
            candidate = source / rest if is_dir else (source if rest == posixpath.basename(src) else None)
        else:
            continue
        if candidate is not None and (candidate.is_file() or (folders and candidate.is_dir())):
            return candidate
    return None


def code_dir(parsed: ParsedDockerfile, context: Path) -> str:
    """The project folder the Dockerfile copies into its final WORKDIR ("" = the build context itself)."""
    workdir = image_path(parsed.final.workdir, ".")
    for src, dest in _copies(parsed):
        if image_path(None, dest) == workdir:
            name = src.strip("/").removeprefix("./")
            if name not in ("", ".") and (context / name).is_dir():
                return name
    return ""
