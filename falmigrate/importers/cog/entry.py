"""Which cog.yaml a conversion reads: ``--entry`` when given, else the one at the root, else the only one.

A cog project is the folder of its cog.yaml: cog builds from there (that folder is ``/src`` in the image
and the working directory of the predictor), so a repository with several models keeps one cog.yaml per
model folder. Without ``--entry``, several candidates and none at the root is a usage error that lists
them (exit 2); naming a file that is missing or is not a cog config is one too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from falmigrate.errors import SourceError, UsageError

CONFIG_NAME = "cog.yaml"
_SKIP_DIRS = {".git", "__pycache__", ".venv", "venv", "node_modules", ".cog"}
_MAX_LISTED = 20


@dataclass(frozen=True)
class CogEntry:
    """The cog project to convert: its folder relative to the source root ("." at the root) and the name
    of its config file in that folder."""

    project: str
    config: str = CONFIG_NAME

    def project_dir(self, root: Path) -> Path:
        return Path(root) / self.project


def candidates(root: Path) -> list[str]:
    """Every cog.yaml below ``root`` (relative paths, sorted), junk folders skipped."""
    found = []
    for path in sorted(Path(root).rglob(CONFIG_NAME)):
        rel = path.relative_to(root)
        if path.is_file() and not _SKIP_DIRS & set(rel.parts[:-1]):
            found.append(rel.as_posix())
    return found


def _checked(root: Path, entry: str) -> CogEntry:
    path = Path(root) / entry
    rel = Path(entry)
    if rel.is_absolute() or ".." in rel.parts or not path.is_file():
        raise UsageError(f"--entry {entry}: no such file in the source directory", file=entry,
                         hint="name the cog.yaml relative to SRC, e.g. --entry models/upscale/cog.yaml")
    if path.suffix not in (".yaml", ".yml"):
        raise UsageError(f"--entry {entry} is not a cog.yaml (a cog project is named by its config file)",
                         file=entry,
                         hint="pass the model's cog.yaml, or --from another platform for this file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict) or not ({"build", "predict", "run", "train"} & set(data)):
        raise UsageError(f"--entry {entry} is not a cog config (no build/predict/run key)", file=entry,
                         hint="pass the model's cog.yaml")
    parent = rel.parent.as_posix()
    return CogEntry(project=parent if parent else ".", config=rel.name)


def resolve(root: Path, entry: str | None) -> CogEntry:
    """The cog project ``entry`` names, or the one the repository clearly has."""
    if entry is not None:
        return _checked(root, entry)
    if (Path(root) / CONFIG_NAME).is_file():
        return CogEntry(project=".")
    found = candidates(root)
    if not found:
        raise SourceError("no cog.yaml in the source directory", file=CONFIG_NAME)
    if len(found) == 1:
        return _checked(root, found[0])
    listed = ", ".join(found[:_MAX_LISTED]) + (" …" if len(found) > _MAX_LISTED else "")
    raise UsageError(f"the repository has {len(found)} cog projects: {listed}",
                     hint=f"choose one with --entry, e.g. --entry {found[0]}")
