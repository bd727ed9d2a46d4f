"""Smaller pieces of the RunPod AppSpec: names, the concurrency ceiling, and the findings.

Rule ids (FM300–FM399, titles in ``mapping.RULES``): FM303 untyped fields, FM304 constraints, FM305
progress_update, FM306 concurrency_modifier, FM307 error returns, FM308 refresh_worker, FM309 moved
initialisation, FM310 streaming, FM313 network volume, FM314 aggregate stream, FM316 sync handler
multiplexed, FM317 job id, FM318 other runpod utilities, FM327 a setting from an env-var default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import libcst as cst

from falmigrate.importers.runpod.codescan import EnvRead, env_reads
from falmigrate.importers.runpod.handler import Handler
from falmigrate.importers.runpod.init import InitPlan
from falmigrate.importers.runpod.reader import WorkerModule
from falmigrate.spec import Finding, InputField, Location

VOLUME = "/runpod-volume"
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


@dataclass(frozen=True)
class Ceiling:
    """What a ``concurrency_modifier`` can return at most: its largest integer constant, or the literal
    default of an environment variable it (or a module constant it reads) takes the value from."""

    label: str  # the modifier as written
    value: int | None
    env: EnvRead | None = None  # the variable the value is the default of


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and text.strip().isdigit() else None


def concurrency_ceiling(mod: WorkerModule, node: cst.BaseExpression | None) -> Ceiling | None:
    """The ceiling of the start config's ``concurrency_modifier`` (None when the config has none)."""
    if node is None:
        return None
    body: cst.CSTNode | None = None
    label = mod.module.code_for_node(node)
    if isinstance(node, cst.Name) and node.value in mod.functions:
        body = mod.functions[node.value].body
    elif isinstance(node, cst.Lambda):
        body = node.body
    if body is None:
        return Ceiling(label, None)
    values: list[tuple[int, EnvRead | None]] = []

    class _Ints(cst.CSTVisitor):
        def visit_Integer(self, n: cst.Integer) -> None:
            values.append((int(n.value.replace("_", ""), 0), None))

        def visit_Name(self, n: cst.Name) -> None:
            value = mod.assignments.get(n.value)
            if isinstance(value, cst.Integer):
                values.append((int(value.value.replace("_", ""), 0), None))
            elif value is not None:  # MAX = int(os.environ.get("MAX_CONCURRENCY", "4"))
                values.extend((v, read) for read in env_reads(mod, value)
                              if (v := _int(read.default)) is not None)

    body.visit(_Ints())
    values += [(v, read) for read in env_reads(mod, body) if (v := _int(read.default)) is not None]
    positive = [(v, read) for v, read in values if v > 0]
    if not positive:
        return Ceiling(label, None)
    best = max(positive, key=lambda pair: pair[0])
    return Ceiling(label, best[0], best[1])


def _f(rule: str, severity: str, message: str, mod: WorkerModule, line: int | None,
       remediation: str | None = None) -> Finding:
    return Finding(rule=rule, severity=severity, message=message, remediation=remediation,
                   location=Location(file=mod.path, line=line))


def _input_findings(mod: WorkerModule, h: Handler, from_schema: bool,
                    fields: list[InputField]) -> list[Finding]:
    out = []
    untyped = [f.name for f in fields if f.type.kind == "any"]
    if not from_schema and untyped:
        out.append(_f("FM303", "warning",
                      f"request fields {', '.join(untyped)} come from the keys the handler reads; "
                      "their types are unknown (Any)", mod, h.line,
                      "give each field its real type in the request model (or add an rp_validator schema)"))
    if not from_schema and not fields:
        out.append(_f("FM303", "info", "no job['input'] keys found; the request model accepts any keys", mod,
                      h.line, "declare the request fields in the generated input model"))
    return out


def _progress_findings(mod: WorkerModule, hmod: WorkerModule) -> list[Finding]:
    out = [_f("FM305", "warning", "progress_update has no fal equivalent; it becomes a log line", mod, line,
              "stream progress from a streaming endpoint if clients need it")
           for line in sorted(set(mod.progress_lines))]
    if hmod is not mod:
        out += [_f("FM305", "warning",
                   f"progress_update in {hmod.path} is left as written (falmigrate rewrites only "
                   f"{mod.path}); outside RunPod it reports nowhere", hmod, line,
                   "replace it with a print/log line, or stream progress from a streaming endpoint")
                for line in sorted(set(hmod.progress_lines))]
    return out


def _ceiling_findings(mod: WorkerModule, hmod: WorkerModule, h: Handler,
                      ceiling: Ceiling | None) -> list[Finding]:
    if ceiling is None:
        return []
    value = ceiling.value
    text = f"max_multiplexing = {value}" if value else "max_multiplexing left unset (no constant found)"
    out = [_f("FM306", "warning", f"concurrency_modifier {ceiling.label} → {text}; fal does not call it", mod,
              mod.starts[0].line, "fal keeps the multiplexing fixed; tune max_multiplexing by hand")]
    if ceiling.env is not None:
        out.append(_f("FM327", "info",
                      f"max_multiplexing = {value} is the default of the environment variable "
                      f"{ceiling.env.name} (os.environ read at line {ceiling.env.line})", mod,
                      ceiling.env.line, f"if the endpoint set {ceiling.env.name}, put its value in "
                                        "pyproject.toml's max_multiplexing"))
    if value and value > 1 and not h.is_async:
        out.append(_f("FM316", "warning", "a sync handler with max_multiplexing > 1 runs requests in threads",
                      hmod, h.line, "make the handler async, or check it is thread-safe"))
    return out


def _result_findings(mod: WorkerModule, hmod: WorkerModule, h: Handler) -> list[Finding]:
    out = [_f("FM307", "info", 'a {"error": ...} return becomes an HTTP 400 response', hmod, line)
           for line in h.error_lines]
    out += [_f("FM308", "warning", "refresh_worker has no fal equivalent; the key is dropped", hmod, line,
               "restart work by hand (e.g. reload the model in the handler) if it was needed")
            for line in h.refresh_lines]
    if h.is_stream:
        out.append(_f("FM310", "info",
                      'the generator handler: "/" returns the aggregated list, "/stream" streams '
                      "each item as a server-sent event", hmod, h.line))
        aggregate = mod.config_value("return_aggregate_stream")
        if not (isinstance(aggregate, cst.Name) and aggregate.value == "True"):
            out.append(_f("FM314", "info",
                          "return_aggregate_stream is not set, yet fal's \"/\" aggregates the stream",
                          mod, mod.starts[0].line))
    if h.uses_job_id:
        out.append(_f("FM317", "info",
                      'job["id"] is a fresh request id per call (RunPod\'s job id does not exist)',
                      hmod, h.line))
    return out


def _volume_findings(mod: WorkerModule, hmod: WorkerModule) -> list[Finding]:
    out = []
    if VOLUME in mod.source:
        line = next(i for i, text in enumerate(mod.source.splitlines(), 1) if VOLUME in text)
        out.append(_f("FM313", "info",
                      f"paths under RunPod's network volume {VOLUME} become fal's persistent storage "
                      "/data (this module's string literals are rewritten)", mod, line,
                      "copy what the volume held to /data once (fal's persistent storage is "
                      "shared by the runners)"))
    if hmod is not mod and VOLUME in hmod.source:
        out.append(_f("FM313", "warning",
                      f"{hmod.path} uses RunPod's network volume {VOLUME}; it is left as written",
                      hmod, None, "change the path to /data (fal's persistent storage)"))
    return out


def findings_for(mod: WorkerModule, h: Handler, init: InitPlan, ceiling: Ceiling | None,
                 from_schema: bool, fields: list[InputField],
                 handler_mod: WorkerModule | None = None) -> list[Finding]:
    """Findings of the worker module ``mod``; handler lines point into ``handler_mod`` (default ``mod``)."""
    hmod = handler_mod or mod
    out = _input_findings(hmod, h, from_schema, fields) + _progress_findings(mod, hmod)
    out += _ceiling_findings(mod, hmod, h, ceiling) + _result_findings(mod, hmod, h)
    if init.indices:
        where = ("line " if len(init.lines) == 1 else "lines ") + ", ".join(str(n) for n in init.lines)
        names = f"; the names it binds ({', '.join(init.names)}) stay module globals" if init.names else ""
        out.append(_f("FM309", "info",
                      f"module-level initialisation ({where}) runs once per runner in setup() "
                      f"via _falmigrate_init(){names}", mod, init.lines[0]))
    out += _volume_findings(mod, hmod)
    others = sorted({q for q in mod.aliases.values() if q.startswith("runpod.serverless.utils.")
                     and not q.endswith(("rp_validator", "validate"))})
    if others:
        out.append(_f("FM318", "info",
                      f"other RunPod utilities are used ({', '.join(others)}); runpod stays installed",
                      mod, None,
                      "replace rp_upload with fal.toolkit.File and rp_download with "
                      "fal.toolkit.download_file"))
    return out
