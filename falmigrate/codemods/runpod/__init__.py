"""RunPod → fal rewrite of the worker module (libcst; the handler and comments kept as written).

``rewrite(spec, root)`` re-reads the entry module the spec names and applies, in order: FM309 (move
module-level initialisation into ``_falmigrate_init()``), FM300 (drop ``runpod.serverless.start``),
FM305 (``progress_update`` → a log line), FM326 (argparse parses an empty argv), FM313 (volume paths
→ ``/data``), FM020 (literal keys → reads of fal secrets), then drops ``runpod`` imports nothing reads,
adds the imports the app needs (libcst's AddImportsVisitor) and appends the request model and the
``fal.App`` (``generate``). Other project modules holding literal keys come back redacted in
``RewriteResult.files`` (the output never holds a key). ``transform_source`` is the pure text → text
function the tests drive; a module without a ``start`` call comes back unchanged (applying the rewrite
twice = once).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor, ImportItem

from falmigrate.analysis.secrets import redact_module
from falmigrate.codemods import RewriteResult
from falmigrate.codemods.runpod.fixups import empty_argv, volume_paths
from falmigrate.codemods.runpod.generate import AppParts, app_source
from falmigrate.codemods.runpod.transform import edit_module
from falmigrate.dockerfile.patch import apply_edits
from falmigrate.errors import SourceError
from falmigrate.importers.runpod.codescan import parsers
from falmigrate.importers.runpod.entry import merged_start
from falmigrate.importers.runpod.handler import handler_kind
from falmigrate.importers.runpod.image import SECRET_REASON
from falmigrate.importers.runpod.reader import parse_source, read_worker, resolve_handler
from falmigrate.spec import AppSpec, InputField, RunpodDetails, RunpodProcess

__all__ = ["WorkerOptions", "rewrite", "transform_source"]


@dataclass
class WorkerOptions:
    """What the importer knows that the worker module alone does not say."""

    class_name: str = "Worker"
    fields: list[InputField] = field(default_factory=list)
    description: str | None = None
    handler_call: str | None = None  # when the handler lives in another module (``from impl import handler``)
    kind: str | None = None
    job_fields: list[str] = field(default_factory=list)
    processes: list[RunpodProcess] = field(default_factory=list)


def _add_imports(module: cst.Module, items: list[ImportItem]) -> cst.Module:
    context = CodemodContext()
    for item in items:
        AddImportsVisitor.add_needed_import(context, item.module_name, item.obj_name, item.alias)
    return AddImportsVisitor(context).transform_module(module)


def _folder(path: str) -> str:
    folder = PurePosixPath(path).parent.as_posix()
    return "" if folder == "." else folder


def _path_lines(path: str) -> list[cst.BaseStatement]:
    """`python src/handler.py` put src/ first on sys.path; the worker's own imports need it here too
    (in the image fal_app.py sits in that folder, where the line changes nothing)."""
    folder = _folder(path)
    if not folder:
        return []
    code = (f"sys.path.insert(0, str(Path(__file__).resolve().parent / {folder!r}))"
            "  # the worker's folder, as `python <worker>` had it\n")
    return [cst.parse_statement("import sys\n"), cst.parse_statement("from pathlib import Path\n"),
            cst.parse_statement(code)]


def _resolved(mod, options: WorkerOptions) -> tuple[str, str] | None:
    if options.handler_call is not None and options.kind is not None:
        return options.handler_call, options.kind
    handler = merged_start(mod).config.get("handler")
    found = resolve_handler(mod, handler, mod.starts[0].line) if handler is not None else None
    if found is None or found[1] is not None:
        return None
    return found[0], handler_kind(mod.functions[found[2]])


def transform_source(source: str, path: str = "handler.py",
                     options: WorkerOptions | None = None) -> RewriteResult:
    """Rewrite one worker module's text into a fal app module."""
    options = options or WorkerOptions()
    mod = read_worker(source, path)
    resolved = _resolved(mod, options) if mod.starts else None
    if resolved is None:
        return RewriteResult(code=source)
    edit = edit_module(mod)
    module = volume_paths(empty_argv(edit.module, parsers(mod)))
    redaction = redact_module(module, path)
    parts = AppParts(class_name=options.class_name, handler=resolved[0], kind=resolved[1],
                     fields=list(options.fields), setup=bool(edit.moved.indices),
                     description=options.description,
                     job_fields=list(options.job_fields), processes=list(options.processes),
                     entry_dir=_folder(path))
    code, imports = app_source(parts, progress=bool(mod.progress_lines))
    module = redaction.module.with_changes(body=_before_imports(redaction.module, _path_lines(path)))
    module = _add_imports(module, imports)
    return RewriteResult(code=module.code.rstrip() + "\n" + code, findings=edit.findings,
                         decisions=edit.decisions)


def _before_imports(module: cst.Module, lines: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
    """The module body with ``lines`` after its docstring and ``__future__`` imports, before the rest."""
    body = list(module.body)
    at = 0
    while at < len(body):
        stmt = body[at]
        first = stmt.body[0] if isinstance(stmt, cst.SimpleStatementLine) else None
        is_doc = at == 0 and isinstance(first, cst.Expr) and isinstance(first.value, cst.SimpleString)
        future = (isinstance(first, cst.ImportFrom) and isinstance(first.module, cst.Name)
                  and first.module.value == "__future__")
        if not (is_doc or future):
            break
        at += 1
    if lines and at < len(body):
        body[at] = body[at].with_changes(leading_lines=[cst.EmptyLine(), *body[at].leading_lines])
    return [*body[:at], *lines, *body[at:]]


def _redacted_files(spec: AppSpec, root: Path, details: RunpodDetails) -> dict[str, str]:
    """Project files other than the entry that held literal keys, without them."""
    out: dict[str, str] = {}
    for rel in details.secret_files:
        text = (root / rel).read_text(encoding="utf-8")
        out[rel] = redact_module(parse_source(text, rel), rel).module.code
    user = spec.image.dockerfile
    if user is not None and user.path != "Dockerfile":  # the output's Dockerfile replaces one at the root
        secret_edits = [e for e in user.edits if e.reason == SECRET_REASON]
        if secret_edits:
            text = (root / user.path).read_bytes().decode("utf-8")
            out[user.path] = apply_edits(text, secret_edits, user.path)
    return out


def rewrite(spec: AppSpec, root: Path, **options: object) -> RewriteResult:
    entry = spec.source.entry_file
    if entry is None:
        raise SourceError("the RunPod spec names no entry file", hint="re-run the import")
    try:
        source = (Path(root) / entry).read_text(encoding="utf-8")
    except OSError as exc:
        raise SourceError(f"cannot read {entry}: {exc}", file=entry) from exc
    endpoint = spec.endpoints[0] if spec.endpoints else None
    runpod = spec.require_details(RunpodDetails)
    result = transform_source(source, entry, WorkerOptions(
        class_name=spec.class_name, fields=list(endpoint.inputs) if endpoint else [],
        description=endpoint.description if endpoint else None, handler_call=runpod.call, kind=runpod.kind,
        job_fields=list(runpod.job_fields), processes=list(runpod.processes)))
    result.files = _redacted_files(spec, Path(root), runpod)
    return result
