"""Smaller pieces of the RunPod AppSpec: names, the concurrency ceiling, and the findings.

Rule ids (FM300–FM399): FM303 untyped fields, FM304 constraints, FM305 progress_update, FM306
concurrency_modifier, FM307 error returns, FM308 refresh_worker, FM309 moved initialisation, FM310
streaming, FM311 GPUs, FM312 secrets, FM313 network volume, FM314 aggregate stream, FM315 image,
FM316 sync handler multiplexed, FM317 job id, FM318 other runpod utilities.
"""

from __future__ import annotations

import re
from pathlib import Path

import libcst as cst

from falmigrate.importers.runpod.handler import Handler
from falmigrate.importers.runpod.init import InitPlan
from falmigrate.importers.runpod.reader import WorkerModule
from falmigrate.spec import Finding, InputField, Location

_GENERIC_DIRS = {"input", "src", "app", "code", "project", "repo", "worker", "handler"}


def names(root: Path, title: str | None) -> tuple[str, str]:
    folder = root.resolve()
    while folder.name in _GENERIC_DIRS and folder.parent != folder:
        folder = folder.parent
    raw = title or folder.name or "worker"
    name = re.sub(r"[^a-z0-9]+", "-", raw.lower()).strip("-") or "worker"
    class_name = "".join(p.capitalize() for p in name.split("-") if p) or "Worker"
    if class_name[0].isdigit():
        class_name = "App" + class_name
    return name, class_name


def concurrency_ceiling(mod: WorkerModule, node: cst.BaseExpression | None) -> tuple[str, int | None] | None:
    """(modifier name, the largest integer constant it can return) for ``concurrency_modifier``."""
    if node is None:
        return None
    body: cst.CSTNode | None = None
    label = mod.module.code_for_node(node)
    if isinstance(node, cst.Name) and node.value in mod.functions:
        body = mod.functions[node.value].body
    elif isinstance(node, cst.Lambda):
        body = node.body
    if body is None:
        return label, None
    values: list[int] = []

    class _Ints(cst.CSTVisitor):
        def visit_Integer(self, n: cst.Integer) -> None:
            values.append(int(n.value.replace("_", ""), 0))

        def visit_Name(self, n: cst.Name) -> None:
            value = mod.assignments.get(n.value)
            if isinstance(value, cst.Integer):
                values.append(int(value.value.replace("_", ""), 0))

        def visit_SimpleString(self, n: cst.SimpleString) -> None:
            # a default read from the environment: int(os.environ.get("MAX_CONCURRENCY", "4"))
            text = n.evaluated_value
            if isinstance(text, str) and text.strip().isdigit():
                values.append(int(text))

    body.visit(_Ints())
    best = max(values) if values else None
    return label, (best if best and best > 0 else None)


def _f(rule: str, severity: str, message: str, mod: WorkerModule, line: int | None,
       remediation: str | None = None) -> Finding:
    return Finding(rule=rule, severity=severity, message=message, remediation=remediation,
                   location=Location(file=mod.path, line=line))


def _input_findings(mod: WorkerModule, h: Handler, from_schema: bool, fields: list[InputField]) -> list[Finding]:
    out = []
    untyped = [f.name for f in fields if f.type.kind == "any"]
    if not from_schema and untyped:
        out.append(_f("FM303", "warning", f"request fields {', '.join(untyped)} come from the keys the handler reads; "
                      "their types are unknown (Any)", mod, h.line,
                      "give each field its real type in the request model (or add an rp_validator schema)"))
    if not from_schema and not fields:
        out.append(_f("FM303", "info", "no job['input'] keys found; the request model accepts any keys", mod, h.line,
                      "declare the request fields in the generated input model"))
    return out


def findings_for(mod: WorkerModule, h: Handler, init: InitPlan, ceiling: tuple[str, int | None] | None,
                 from_schema: bool, fields: list[InputField], handler_mod: WorkerModule | None = None) -> list[Finding]:
    """Findings of the worker module ``mod``; handler lines point into ``handler_mod`` (default ``mod``)."""
    hmod = handler_mod or mod
    out = _input_findings(hmod, h, from_schema, fields)
    for line in sorted(set(mod.progress_lines)):
        out.append(_f("FM305", "warning", "progress_update has no fal equivalent; it becomes a log line", mod, line,
                      "stream progress from a streaming endpoint if clients need it"))
    if hmod is not mod:
        for line in sorted(set(hmod.progress_lines)):
            out.append(_f("FM305", "warning", f"progress_update in {hmod.path} is left as written (falmigrate "
                          f"rewrites only {mod.path}); outside RunPod it reports nowhere", hmod, line,
                          "replace it with a print/log line, or stream progress from a streaming endpoint"))
    if ceiling is not None:
        label, value = ceiling
        text = f"max_multiplexing = {value}" if value else "max_multiplexing left unset (no constant found)"
        out.append(_f("FM306", "warning", f"concurrency_modifier {label} → {text}; fal does not call it", mod,
                      mod.starts[0].line, "fal keeps the multiplexing fixed; tune max_multiplexing by hand"))
        if value and value > 1 and not h.is_async:
            out.append(_f("FM316", "warning", "a sync handler with max_multiplexing > 1 runs requests in threads",
                          hmod, h.line, "make the handler async, or check it is thread-safe"))
    for line in h.error_lines:
        out.append(_f("FM307", "info", 'a {"error": ...} return becomes an HTTP 400 response', hmod, line))
    for line in h.refresh_lines:
        out.append(_f("FM308", "warning", "refresh_worker has no fal equivalent; the key is dropped", hmod, line,
                      "restart work by hand (e.g. reload the model in the handler) if it was needed"))
    if init.indices:
        where = ("line " if len(init.lines) == 1 else "lines ") + ", ".join(str(n) for n in init.lines)
        names = f"; the names it binds ({', '.join(init.names)}) stay module globals" if init.names else ""
        out.append(_f("FM309", "info", f"module-level initialisation ({where}) runs once per runner in setup() "
                      f"via _falmigrate_init(){names}", mod, init.lines[0]))
    if h.is_stream:
        out.append(_f("FM310", "info", 'the generator handler: "/" returns the aggregated list, "/stream" streams '
                      "each item as a server-sent event", hmod, h.line))
        aggregate = mod.config_value("return_aggregate_stream")
        if not (isinstance(aggregate, cst.Name) and aggregate.value == "True"):
            out.append(_f("FM314", "info", "return_aggregate_stream is not set, yet fal's \"/\" aggregates the stream",
                          mod, mod.starts[0].line))
    if h.uses_job_id:
        out.append(_f("FM317", "info", 'job["id"] is a fresh request id per call (RunPod\'s job id does not exist)',
                      hmod, h.line))
    if "/runpod-volume" in mod.source or "/runpod-volume" in hmod.source:
        out.append(_f("FM313", "warning", "the worker uses the RunPod network volume /runpod-volume", mod, None,
                      "use fal's persistent /data mount (set data_mounts and change the path)"))
    others = sorted({q for q in mod.aliases.values() if q.startswith("runpod.serverless.utils.")
                     and not q.endswith(("rp_validator", "validate"))})
    if others:
        out.append(_f("FM318", "info", f"other RunPod utilities are used ({', '.join(others)}); runpod stays installed", mod, None,
                      "replace rp_upload with fal.toolkit.File and rp_download with fal.toolkit.download_file"))
    return out
