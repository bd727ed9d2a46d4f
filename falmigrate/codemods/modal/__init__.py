"""Modal → fal rewrite of the user's module (libcst; bodies and comments kept).

``rewrite(spec, root)`` re-reads the entry module named by the spec, plans the fal apps exactly as the
importer did, and takes each app's settings from the spec (``spec.served_apps()``). ``transform_source`` is the pure text → text rule set the tests drive.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from falmigrate.codemods import RewriteResult
from falmigrate.codemods.modal.transform import ModalRewrite, RewriteOutput
from falmigrate.errors import SourceError
from falmigrate.importers.modal.reader import read_module
from falmigrate.spec import AppSpec


def app_settings(spec: AppSpec) -> dict[str, dict[str, Any]]:
    """class name -> {"hardware", "scaling", "secrets", "volumes"} for every fal app of the spec."""
    return {app.class_name: {"hardware": app.hardware.model_dump(), "scaling": app.scaling.model_dump(),
                             "secrets": list(app.secrets), "volumes": [v.model_dump() for v in app.volumes]}
            for app in spec.served_apps()}


def volume_paths(spec: AppSpec) -> dict[str, str]:
    return {v.source_path: v.fal_path for app in spec.served_apps() for v in app.volumes}


def transform_source(source: str, path: str = "app.py", *, apps: dict[str, dict[str, Any]] | None = None,
                     volumes: dict[str, str] | None = None) -> RewriteOutput:
    """Rewrite one Modal module's text; a module without Modal comes back unchanged."""
    mod = read_module(source, path)
    return ModalRewrite(mod, apps or {}, volumes or {}).run()


def rewrite(spec: AppSpec, root: Path, **options: object) -> RewriteResult:
    entry = spec.source.entry_file
    if entry is None:
        raise SourceError("the Modal spec names no entry file", hint="re-run the import")
    path = Path(root) / entry
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SourceError(f"cannot read {entry}: {exc}", file=entry) from exc
    out = transform_source(source, entry, apps=app_settings(spec), volumes=volume_paths(spec))
    return RewriteResult(code=out.code, findings=out.findings, decisions=out.decisions)
