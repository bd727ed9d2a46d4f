"""Modal → fal rewrite of the user's module (libcst; bodies and comments kept).

``rewrite(spec, root)`` re-reads the entry module named by the spec, plans the fal apps exactly as the
importer did and takes each app's route from the spec (``routes.plan`` decided it). An entry module
at the top of the project becomes ``fal_app.py`` itself; one inside a package (``pkg/app.py`` with
relative imports) is rewritten next to itself as ``pkg/fal_app.py`` — its relative imports keep
working, and the original stays for anything that still serves it — and the top-level ``fal_app.py``
imports the fal apps from there. ``transform_source`` is the pure text → text rule set tests drive.
"""

from __future__ import annotations

from pathlib import Path

from falmigrate.analysis import Project
from falmigrate.codemods import RewriteResult
from falmigrate.codemods.modal.transform import ModalRewrite, RewriteOutput
from falmigrate.errors import SourceError
from falmigrate.importers.modal.entry import package_root
from falmigrate.importers.modal.reader import read_module
from falmigrate.render import with_header
from falmigrate.spec import AppSpec, Decision

SUFFIX = "_fal"  # pkg/app.py → pkg/app_fal.py (the rewritten module, next to the original)


def volume_paths(spec: AppSpec) -> dict[str, str]:
    return {v.source_path: v.fal_path for app in spec.served_apps() for v in app.volumes}


def transform_source(source: str, path: str = "app.py", *, root: Path | None = None,
                     routes: dict[str, str] | None = None,
                     volumes: dict[str, str] | None = None) -> RewriteOutput:
    """Rewrite one Modal module's text (``routes``: fal class name → route, default entry point)."""
    mod = read_module(source, path, root, Project(root) if root is not None else None)
    return ModalRewrite(mod, routes or {}, volumes or {}).run()


def _reexport(module: str, folder: str, names: list[str], entry: str, rewritten: str) -> str:
    """The top-level fal_app.py of a package entry: fal imports the apps from it."""
    lines = [f'"""The fal apps of {entry}, rewritten in {rewritten}; fal imports them from here."""', ""]
    if folder != ".":  # a src/ layout: the package root is not the project root
        lines += ["import pathlib", "import sys", "",
                  f'sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "{folder}"))', ""]
    lines.append(f"from {module} import {', '.join(names)}")
    lines += ["", f"__all__ = [{', '.join(repr(n).replace(chr(39), chr(34)) for n in names)}]", ""]
    return "\n".join(lines)


def rewrite(spec: AppSpec, root: Path, **options: object) -> RewriteResult:
    entry = spec.source.entry_file
    if entry is None:
        raise SourceError("the Modal spec names no entry file", hint="re-run the import")
    root = Path(root)
    try:
        source = (root / entry).read_text(encoding="utf-8")
    except OSError as exc:
        raise SourceError(f"cannot read {entry}: {exc}", file=entry) from exc
    routes = {app.class_name: app.route for app in spec.served_apps()}
    out = transform_source(source, entry, root=root, routes=routes, volumes=volume_paths(spec))
    folder, module = package_root(root, root / entry)
    if "." not in module and folder == ".":
        return RewriteResult(code=out.code, findings=out.findings, decisions=out.decisions)
    inner = f"{module}{SUFFIX}"
    inner_path = (Path(entry).parent / f"{Path(entry).stem}{SUFFIX}.py").as_posix()
    decision = Decision(source=f"{entry} (imported as {module} from {folder})",
                        target=f"{inner_path} (the rewritten module, next to the original) + "
                               "fal_app.py importing its apps",
                        note="the modules next to it are imported as they are")
    return RewriteResult(code=_reexport(inner, folder, out.class_names, entry, inner_path),
                         findings=out.findings, decisions=[*out.decisions, decision],
                         files={inner_path: with_header(spec, out.code)})
