"""Modal → fal rewrite of the user's module (libcst; bodies and comments kept).

``rewrite(spec, root)`` re-reads the entry module named by the spec, plans the fal apps exactly as the
importer did, and takes each app's settings from the spec (the primary app's own fields and
``spec.extra["apps"]``). ``transform_source`` is the pure text → text rule set the tests drive.
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
    apps = {spec.class_name: {"hardware": spec.hardware.model_dump(), "scaling": spec.scaling.model_dump(),
                              "secrets": list(spec.secrets), "volumes": [v.model_dump() for v in spec.volumes]}}
    for extra in spec.extra.get("apps", []):
        apps[extra["class_name"]] = {"hardware": extra.get("hardware", {}), "scaling": extra.get("scaling", {}),
                                     "secrets": extra.get("secrets", []), "volumes": extra.get("volumes", [])}
    return apps


def volume_paths(spec: AppSpec) -> dict[str, str]:
    paths = {v.source_path: v.fal_path for v in spec.volumes}
    for extra in spec.extra.get("apps", []):
        paths.update({v["source_path"]: v["fal_path"] for v in extra.get("volumes", [])})
    return paths


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
