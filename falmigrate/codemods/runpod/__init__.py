"""RunPod → fal rewrite of the worker module (libcst; the handler and comments kept as written).

``rewrite(spec, root)`` re-reads the entry module the spec names and applies, in order: FM309 (move
module-level initialisation into ``_falmigrate_init()``), FM300 (drop ``runpod.serverless.start``),
FM305 (``progress_update`` → a log line), then drops ``runpod`` imports nothing reads, adds the fal
imports, and appends the request model and the ``fal.App`` (``generate``). The request fields and
settings come from the spec. ``transform_source`` is the pure text → text function the tests drive;
a module without a ``start`` call comes back unchanged (so applying the rewrite twice = once).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from falmigrate.codemods import RewriteResult
from falmigrate.codemods.docker_native.common import with_imports
from falmigrate.codemods.runpod.generate import AppParts, app_source
from falmigrate.codemods.runpod.transform import edit_module
from falmigrate.errors import SourceError
from falmigrate.importers.runpod.handler import handler_kind
from falmigrate.importers.runpod.reader import read_worker, resolve_handler
from falmigrate.spec import AppSpec, InputField, RunpodDetails

__all__ = ["rewrite", "transform_source"]


def transform_source(source: str, path: str = "handler.py", *, class_name: str = "Worker",
                     fields: list[InputField] | None = None, settings: dict[str, Any] | None = None,
                     description: str | None = None, handler_call: str | None = None,
                     kind: str | None = None) -> RewriteResult:
    """Rewrite one worker module's text into a fal app module.

    ``handler_call``/``kind`` come from the importer when the handler lives in another module of the
    project (``from impl import handler``); otherwise the handler is found in ``source`` itself.
    """
    mod = read_worker(source, path)
    if len(mod.starts) != 1:
        return RewriteResult(code=source)
    start = mod.starts[0]
    if handler_call is None or kind is None:
        handler = start.config.get("handler")
        resolved = resolve_handler(mod, handler, start.line) if handler is not None else None
        if resolved is None or resolved[1] is not None:
            return RewriteResult(code=source)
        handler_call, kind = resolved[0], handler_kind(mod.functions[resolved[2]])
    edit = edit_module(mod)
    parts = AppParts(class_name=class_name, handler=handler_call, kind=kind,
                     fields=list(fields or []), settings=settings or {}, setup=bool(edit.moved.indices),
                     progress=bool(mod.progress_lines), description=description)
    code, imports = app_source(parts)
    folder = Path(path).parent.as_posix()
    if folder not in ("", "."):
        # `python src/handler.py` put src/ first on sys.path; the worker's own imports need it here too
        path_line = (f"sys.path.insert(0, str(Path(__file__).resolve().parent / {folder!r}))"
                     "  # the worker's folder, as `python <worker>` had it")
        imports += ["import sys", path_line]
    module = with_imports(edit.module, imports)
    return RewriteResult(code=module.code.rstrip() + "\n" + code, findings=edit.findings, decisions=edit.decisions)


def rewrite(spec: AppSpec, root: Path, **options: object) -> RewriteResult:
    entry = spec.source.entry_file
    if entry is None:
        raise SourceError("the RunPod spec names no entry file", hint="re-run the import")
    try:
        source = (Path(root) / entry).read_text(encoding="utf-8")
    except OSError as exc:
        raise SourceError(f"cannot read {entry}: {exc}", file=entry) from exc
    settings = {"hardware": spec.hardware.model_dump(), "scaling": spec.scaling.model_dump(),
                "secrets": list(spec.secrets)}
    endpoint = spec.endpoints[0] if spec.endpoints else None
    runpod = spec.details_as(RunpodDetails)
    return transform_source(source, entry, class_name=spec.class_name,
                            fields=list(endpoint.inputs) if endpoint else [], settings=settings,
                            description=endpoint.description if endpoint else None,
                            handler_call=runpod.call if runpod else None,
                            kind=runpod.kind if runpod else None)
