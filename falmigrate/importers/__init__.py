"""Importer lookup and auto-detection.

The importers come from the platform registry (``falmigrate.platforms``), by dotted path, so a broken
optional importer cannot break the others at import time.
"""

from __future__ import annotations

import re
from pathlib import Path

from falmigrate import platforms
from falmigrate.errors import SourceError, UsageError
from falmigrate.importers.base import ROUTES, Importer, ImportRequest

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
            hint=f"pass --from {'|'.join(PLATFORMS)} to choose the importer (looked for "
                 f"{platforms.markers()})",
        )
    return best[1]


_MODAL_IMPORT = re.compile(r"^\s*(import modal\b|from modal(\.\w+)* import )", re.MULTILINE)
_RUNPOD_IMPORT = re.compile(r"^\s*(import runpod\b|from runpod(\.\w+)* import )", re.MULTILINE)


def entry_platform(root: Path, entry: str) -> str:
    """The platform an ``--entry`` file belongs to, by its name or (Python files) by what it imports."""
    path = root / entry
    if not path.is_file():
        raise UsageError(f"--entry {entry}: no such file in {root}", file=entry)
    name = path.name.lower()
    if name in ("cog.yaml", "cog.yml"):
        return "cog"
    if name.startswith(("dockerfile", "containerfile")) or name.endswith((".dockerfile", ".containerfile")):
        return "docker"
    if name.endswith(".py"):
        text = path.read_text(encoding="utf-8", errors="replace")
        if _MODAL_IMPORT.search(text):
            return "modal"
        if _RUNPOD_IMPORT.search(text):
            return "runpod"
    raise UsageError(f"--entry {entry} is not a file falmigrate converts", file=entry,
                     hint="name a cog.yaml, a Python file that uses modal or runpod, or a Dockerfile")


def _checked_paths(root: Path, request: ImportRequest) -> None:
    for option, value in (("--dockerfile", request.dockerfile), ("--context", request.context)):
        if value is None:
            continue
        path = root / value
        if (option == "--context" and not path.is_dir()) or (option == "--dockerfile" and not path.is_file()):
            kind = "directory" if option == "--context" else "file"
            raise UsageError(f"{option} {value}: no such {kind} in {root}", file=value)


def check_route(platform: str, route: str) -> None:
    """``--route compat`` only for platforms whose own HTTP API server can serve
    the model's clients on fal."""
    if route not in ROUTES:
        raise UsageError(f"unknown --route {route!r}; choose one of: {', '.join(ROUTES)}")
    info = platforms.get(platform)
    if route == "native" or info.compat_server is not None:
        return
    supported = platforms.compat_platforms()
    names = ", ".join(p.display_name for p in supported)
    hint = f"--route compat serves {names} projects ({'; '.join(p.compat_server or '' for p in supported)})"
    if info.compat_refusal:
        raise UsageError(f"--route compat is refused for {info.display_name} projects: {info.compat_refusal}",
                         hint=hint)
    raise UsageError(f"--route compat is for {names} projects only (it keeps the platform's own HTTP API); "
                     f"this is a {info.display_name} project", hint=hint)


def load(root: Path, platform: str = "auto", request: ImportRequest | None = None):
    if not root.is_dir():
        raise SourceError(f"source directory does not exist: {root}", file=root)
    request = request or ImportRequest()
    _checked_paths(root, request)
    if request.entry is not None:
        owner = entry_platform(root, request.entry)
        if platform not in ("auto", owner):
            raise UsageError(f"--entry {request.entry} is a {platforms.get(owner).display_name} file, not a "
                             f"{platforms.get(platform).display_name} one", file=request.entry,
                             hint=f"drop --from, or pass --from {owner}")
        platform = owner
    importer = detect(root) if platform == "auto" else get_importer(platform)
    check_route(importer.platform, request.route)
    return importer.load(root, request)
