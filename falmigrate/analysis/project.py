"""The project a module belongs to: where its sibling modules are, loaded once each, never outside the root.

``from config import GPU`` and ``import config`` are looked up next to the importing file first (how
``python app.py``, ``modal run app.py`` and cog put the file's directory on ``sys.path``), then at the
project root; ``from .config import GPU`` relative to the importing package. A module found outside the
root (through ``..`` or a symlink) is treated as not part of the project.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import libcst as cst

from falmigrate.analysis.values import MAX_FILE_BYTES, Unevaluable
from falmigrate.errors import SourceError

if TYPE_CHECKING:
    from falmigrate.analysis.context import ModuleContext


class Project:
    """A project root and the modules of it loaded so far (shared, so each file is parsed once)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self._modules: dict[tuple[Path, bool], ModuleContext | Unevaluable] = {}

    def module(self, path: str | Path, *, main: bool = False) -> ModuleContext:
        """The module at ``path`` (absolute, or relative to the root); ``SourceError`` if unreadable.

        ``main`` says the module runs as a script (``python handler.py``): ``__name__`` is then
        ``"__main__"``; otherwise it is the module's dotted name.
        """
        found = self._load(self._absolute(path), main)
        if isinstance(found, Unevaluable):
            line = found.location.line if found.location else None
            raise SourceError(found.reason, file=self.relative(self._absolute(path)), line=line,
                              hint="fix the file so Python can parse it")
        return found

    def adopt(self, module: cst.Module, path: str | Path, *, main: bool = False) -> ModuleContext:
        """A context over an already parsed module (its nodes keep their identity for lookups)."""
        from falmigrate.analysis.context import ModuleContext

        absolute = self._absolute(path)
        try:
            context = ModuleContext(self, absolute, module, main=main)
        except RecursionError:
            raise SourceError("the module is nested too deeply to analyse", file=self.relative(absolute),
                              hint="split the deepest expression into named parts") from None
        self._modules[(absolute, main)] = context
        return context

    def relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.name

    def dotted_name(self, path: Path) -> str:
        parts = list(Path(self.relative(path)).with_suffix("").parts)
        if parts and parts[-1] == "__init__":
            parts.pop()
        return ".".join(parts) or "__main__"

    def sibling(self, importer: ModuleContext, module: str) -> ModuleContext | None:
        """The project module ``module`` names (``"config"``, ``".config"``, ``"..pkg.sub"``), or None."""
        level = len(module) - len(module.lstrip("."))
        parts = [part for part in module[level:].split(".") if part]
        bases = [importer.path.parent] if level else [importer.path.parent, self.root]
        for _ in range(max(level - 1, 0)):
            bases = [bases[0].parent]
        for base in dict.fromkeys(bases):
            path = self._find(base, parts)
            if path is not None:
                found = self._load(path, False)
                if isinstance(found, Unevaluable):
                    raise found
                return found
        return None

    def _find(self, base: Path, parts: list[str]) -> Path | None:
        target = base.joinpath(*parts)
        candidates = ([target / "__init__.py"] if not parts
                      else [target.with_suffix(".py"), target / "__init__.py"])
        for candidate in candidates:
            if candidate.is_file() and self._inside(candidate):
                return candidate.resolve()
        return None

    def _inside(self, path: Path) -> bool:
        try:
            path.resolve().relative_to(self.root)
        except (ValueError, OSError):
            return False
        return True

    def _absolute(self, path: str | Path) -> Path:
        candidate = Path(path)
        return (candidate if candidate.is_absolute() else self.root / candidate).resolve()

    def _load(self, path: Path, main: bool) -> ModuleContext | Unevaluable:
        key = (path, main)
        if key not in self._modules:
            self._modules[key] = self._parse(path, main)
        return self._modules[key]

    def _parse(self, path: Path, main: bool) -> ModuleContext | Unevaluable:
        from falmigrate.analysis.context import ModuleContext
        from falmigrate.spec.models import Location

        where = Location(file=self.relative(path))
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                return Unevaluable(f"{where.file} is larger than {MAX_FILE_BYTES} bytes; it is not read",
                                   where)
            return ModuleContext(self, path, cst.parse_module(path.read_bytes()), main=main)
        except OSError as error:
            return Unevaluable(f"{where.file} cannot be read: {error.strerror or error}", where)
        except cst.ParserSyntaxError as error:
            return Unevaluable(f"{where.file} is not valid Python: {error.message}",
                               Location(file=where.file, line=error.raw_line))
        except (RecursionError, MemoryError, ValueError):
            return Unevaluable(f"{where.file} cannot be parsed (nested too deeply or not text)", where)
