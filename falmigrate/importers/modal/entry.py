"""Which file of a repository is the Modal app to convert, and how it is imported.

A Modal entry file is one whose functions or classes carry App decorators (``@app.function``,
``@app.cls``, old ``@stub.function``…), whether the App is created there or imported from a sibling
module. ``convert --entry PATH`` names it; without it, one candidate (test files aside) is the entry, and
several are an error that lists them (exit 2). An entry inside a package (``pkg/app.py`` with relative
imports) is imported by its dotted name from the package's root folder.
"""

from __future__ import annotations

import re
from pathlib import Path

from falmigrate import platforms
from falmigrate.errors import SourceError

SKIP_DIRS = platforms.get("modal").skip_dirs
MODAL_IMPORT = re.compile(r"^\s*(import modal\b|from modal(\.\w+)* import )", re.MULTILINE)
APP_CALL = re.compile(r"\b(App|Stub)\s*\(")
# A decorator on an App object: @app.function, @stub.cls, @app.local_entrypoint, @stub.webhook…
APP_DECORATOR = re.compile(r"^\s*@\s*\w+\.(function|cls|local_entrypoint|webhook|asgi|wsgi)\b", re.MULTILINE)
_TESTS = re.compile(r"(^|/)(tests?|testing)/|(^|/)test_[^/]*\.py$|_test\.py$")


def python_files(root: Path, max_depth: int = 4) -> list[Path]:
    out: list[Path] = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if len(rel.parts) > max_depth or any(p in SKIP_DIRS or p.startswith(".") for p in rel.parts[:-1]):
            continue
        out.append(path)
    return out


def read_text(path: Path, root: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = exc.object[:exc.start].count(b"\n") + 1
        raise SourceError(f"{path.relative_to(root)} is not UTF-8 text: {exc.reason} (byte {exc.start})",
                          file=path.relative_to(root), line=line, hint="save the file as UTF-8") from exc
    except OSError as exc:
        raise SourceError(f"cannot read {path.relative_to(root)}: {exc}",
                          file=path.relative_to(root)) from exc


def _text(path: Path) -> str:
    """A file's text for detection only (a file that is not UTF-8 is still found, then refused by name)."""
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return ""


def is_candidate(text: str) -> bool:
    """The file decorates functions or classes with an App (created here or imported)."""
    return bool(APP_DECORATOR.search(text)) and (
        bool(MODAL_IMPORT.search(text)) or "from ." in text
        or bool(re.search(r"^\s*from \w+(\.\w+)* import", text, re.MULTILINE)))


def candidates(root: Path) -> list[Path]:
    """Files whose functions or classes are Modal App members, shallowest first."""
    found = [p for p in python_files(root) if is_candidate(_text(p))]
    found.sort(key=lambda p: (len(p.relative_to(root).parts), str(p.relative_to(root))))
    return found


def app_files(root: Path) -> list[Path]:
    """Files that create a modal.App / Stub (for the error when none decorates anything)."""
    return [p for p in python_files(root) if MODAL_IMPORT.search(_text(p)) and APP_CALL.search(_text(p))]


def choose(root: Path, entry: str | None) -> tuple[Path, list[Path]]:
    """The entry file and the other candidates (reported, not converted)."""
    if entry is not None:
        return _named(root, entry), []
    found = candidates(root)
    if not found:
        made = app_files(root)
        if made:  # an App with nothing decorated: reading it says where (or why it cannot be read)
            return made[0], made[1:]
        modal_files = [p for p in python_files(root) if MODAL_IMPORT.search(_text(p))]
        where = modal_files[0].relative_to(root) if modal_files else root
        raise SourceError("no modal.App(...) found and no function or class decorated with "
                          "one: nothing to migrate",
                          file=where,
                          hint="the Modal project needs `app = modal.App(...)` and functions or classes "
                               "decorated with it")
    apps = [p for p in found if not _TESTS.search(p.relative_to(root).as_posix())] or found
    if len(apps) == 1:
        return apps[0], [p for p in found if p != apps[0]]
    listed = ", ".join(p.relative_to(root).as_posix() for p in apps)
    raise SourceError(f"{len(apps)} files define Modal apps: {listed}", file=apps[0].relative_to(root),
                      hint="pick the one to convert with --entry PATH (relative to the source directory)")


def _named(root: Path, entry: str) -> Path:
    path = (root / entry).resolve()
    if not path.is_relative_to(root.resolve()):
        raise SourceError(f"--entry {entry} is outside the source directory", file=entry,
                          hint="name a file inside the source directory, relative to it")
    if not path.is_file():
        raise SourceError(f"--entry {entry}: no such file in the source directory", file=entry,
                          hint="name the Modal app file relative to the source directory (e.g. src/app.py)")
    if path.suffix != ".py" or not is_candidate(read_text(path, root)):
        raise SourceError(f"--entry {entry} is not a Modal app file (no @app.function / @app.cls in it)",
                          file=entry, hint="name the Python file whose functions or classes are "
                                           "decorated with the Modal App")
    return root / entry


def package_root(root: Path, entry: Path) -> tuple[str, str]:
    """(folder the entry is imported from, relative to root; the entry's dotted module name there).

    ``app.py`` → (".", "app"); ``pkg/app.py`` with ``pkg/__init__.py`` → (".", "pkg.app");
    ``src/pkg/app.py`` without ``src/__init__.py`` → ("src", "pkg.app").
    """
    folder = entry.parent
    parts = [entry.stem]
    while (folder / "__init__.py").is_file() and folder != root:
        parts.insert(0, folder.name)
        folder = folder.parent
    rel = folder.relative_to(root).as_posix() if folder != root else "."
    return rel, ".".join(parts)
