"""Importer lookup and auto-detection.

The importers come from the platform registry (``falmigrate.platforms``), by dotted path, so a broken
optional importer cannot break the others at import time.
"""

from __future__ import annotations

from pathlib import Path

from falmigrate import platforms
from falmigrate.errors import SourceError, UsageError
from falmigrate.importers.base import Importer, ImportRequest

PLATFORMS = platforms.NAMES


def _load(platform: str) -> Importer | None:
    target = platforms.get(platform).importer
    try:
        return platforms.resolve(target)()
    except ModuleNotFoundError as exc:
        if exc.name == target.partition(":")[0]:
            return None
        raise


def get_importer(platform: str) -> Importer:
    if platforms.find(platform) is None:
        raise UsageError(f"unknown platform {platform!r}; choose one of: auto, {', '.join(PLATFORMS)}")
    importer = _load(platform)
    if importer is None:
        raise UsageError(f"the {platform} importer is not available in this build")
    return importer


def detect(root: Path) -> Importer:
    """Pick the importer most confident about ``root``; ties go to the registry's order."""
    if not root.is_dir():
        raise SourceError(f"source directory does not exist: {root}", file=root)
    best: tuple[float, Importer] | None = None
    for platform in PLATFORMS:
        importer = _load(platform)
        if importer is None:
            continue
        score = importer.detect(root)
        if score > 0 and (best is None or score > best[0]):
            best = (score, importer)
    if best is None:
        raise SourceError(
            f"could not recognise {root} as a {platforms.display_list()} project",
            file=root,
            hint=f"pass --from {'|'.join(PLATFORMS)} to choose the importer (looked for {platforms.markers()})",
        )
    return best[1]


def load(root: Path, platform: str = "auto", request: ImportRequest | None = None):
    if not root.is_dir():
        raise SourceError(f"source directory does not exist: {root}", file=root)
    importer = detect(root) if platform == "auto" else get_importer(platform)
    return importer.load(root, request or ImportRequest())
