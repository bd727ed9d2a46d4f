"""Importer registry and auto-detection.

Each platform module registers itself in ``_IMPORTERS`` (by dotted path, so a broken optional
importer cannot break the others at import time).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from falmigrate.errors import SourceError, UsageError
from falmigrate.importers.base import Importer, ImportRequest

# platform name -> "module:Class"
_IMPORTERS: dict[str, str] = {
    "cog": "falmigrate.importers.cog:CogImporter",
    "modal": "falmigrate.importers.modal:ModalImporter",
    "runpod": "falmigrate.importers.runpod:RunpodImporter",
    "docker": "falmigrate.importers.dockerfile:DockerImporter",
}

PLATFORMS = tuple(_IMPORTERS)


def _load(platform: str) -> Importer | None:
    module_name, _, class_name = _IMPORTERS[platform].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise
    return getattr(module, class_name)()


def get_importer(platform: str) -> Importer:
    if platform not in _IMPORTERS:
        raise UsageError(f"unknown platform {platform!r}; choose one of: auto, {', '.join(PLATFORMS)}")
    importer = _load(platform)
    if importer is None:
        raise UsageError(f"the {platform} importer is not available in this build")
    return importer


def detect(root: Path) -> Importer:
    """Pick the importer most confident about ``root``; ties go to the order in ``_IMPORTERS``."""
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
            f"could not recognise {root} as a cog, Modal, RunPod or Docker project",
            file=root,
            hint="pass --from cog|modal|runpod|docker to choose the importer",
        )
    return best[1]


def load(root: Path, platform: str = "auto", request: ImportRequest | None = None):
    if not root.is_dir():
        raise SourceError(f"source directory does not exist: {root}", file=root)
    importer = detect(root) if platform == "auto" else get_importer(platform)
    return importer.load(root, request or ImportRequest())
