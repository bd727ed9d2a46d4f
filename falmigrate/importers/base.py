"""What an importer is: ``detect`` says how sure it is that a directory is its platform, ``load``
reads the project statically (libcst, yaml; never importing user code) into an ``AppSpec``."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Protocol

from falmigrate.spec import AppSpec


class Importer(Protocol):
    platform: ClassVar[str]

    def detect(self, root: Path) -> float:
        """0.0 = not this platform, 1.0 = certainly this platform."""
        ...

    def load(self, root: Path) -> AppSpec:
        """Read ``root`` into an AppSpec; raise ``SourceError`` with file:line for unreadable input."""
        ...
