"""What an importer is: ``detect`` says how sure it is that a directory is its platform, ``load``
reads the project statically (libcst, yaml; never importing user code) into an ``AppSpec``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

from falmigrate.errors import UsageError
from falmigrate.spec import AppSpec

# `convert --route`: `native` rewrites the model into a fal app (the default); `compat` serves it with its
# platform's own HTTP API server, so the model's existing clients keep working (``platforms.compat_server``).
ROUTES = ("native", "compat")


@dataclass(frozen=True)
class ImportRequest:
    """What the user named on the command line; paths are relative to the source root.

    ``entry``: the file that defines the app (cog.yaml, the Modal app file, the RunPod handler, the
    Dockerfile) when the repository has several; ``dockerfile`` / ``context``: a Dockerfile outside the
    root's top level and the build context the user builds it with; ``route``: one of ``ROUTES``.
    """

    entry: str | None = None
    dockerfile: str | None = None
    context: str | None = None
    route: str = "native"

    def refuse(self, platform: str, *names: str) -> None:
        """A usage error for each option in ``names`` the user set (the platform has no use for it)."""
        for name in names:
            if getattr(self, name) is not None:
                raise UsageError(f"--{name} does not apply to {platform} projects")


class Importer(Protocol):
    platform: ClassVar[str]

    def detect(self, root: Path) -> float:
        """0.0 = not this platform, 1.0 = certainly this platform."""
        ...

    def load(self, root: Path, request: ImportRequest | None = None) -> AppSpec:
        """Read ``root`` into an AppSpec; raise ``SourceError`` with file:line for unreadable input."""
        ...
