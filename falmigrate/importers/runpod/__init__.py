"""RunPod serverless worker importer: ``runpod.serverless.start({...})`` → AppSpec.

Finds the one module calling ``start`` (any ``.py`` under the root, sorted walk), the handler it
names, the request fields (``rp_validator`` schema, else the keys the handler reads), the
``concurrency_modifier``'s ceiling, module-level initialisation, and the project files around it
(Dockerfile, ``test_input.json``, ``.runpod/hub.json``/``tests.json``). Static only: libcst and
json; the worker is never imported. ``spec.details`` (RunpodDetails) tells the codemod and the verify runner
how to call the handler.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

import libcst as cst

from falmigrate import platforms
from falmigrate.errors import SourceError
from falmigrate.importers.base import ImportRequest
from falmigrate.importers.runpod.handler import analyse_handler
from falmigrate.importers.runpod.init import InitPlan, plan_init
from falmigrate.importers.runpod.locate import HandlerRef, ProjectModules, find_handler, find_schema
from falmigrate.importers.runpod.project import read_project, scaling_spec
from falmigrate.importers.runpod.reader import Handler, StartCall, WorkerModule, mentions_start, read_worker
from falmigrate.importers.runpod.schema import dict_fields, read_fields
from falmigrate.importers.runpod.spec_parts import concurrency_ceiling, findings_for, names
from falmigrate.spec import (
    AppSpec,
    Decision,
    Endpoint,
    Finding,
    InputField,
    Lifecycle,
    Location,
    RunpodDetails,
    SourceInfo,
    TypeRef,
)

__all__ = ["RunpodImporter", "find_entry", "load_worker"]

_SKIP_DIRS = platforms.get("runpod").skip_dirs


def _candidates(root: Path) -> list[Path]:
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if any(part in _SKIP_DIRS or part.startswith(".") for part in rel.parts[:-1]):
            continue
        out.append(path)
    return out


def find_entry(root: Path) -> list[tuple[str, WorkerModule]]:
    """Every module under ``root`` that calls ``runpod.serverless.start`` (parsed)."""
    found = []
    for path in _candidates(root):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if not mentions_start(text):
            continue
        rel = path.relative_to(root).as_posix()
        mod = read_worker(text, rel)
        if mod.starts:
            found.append((rel, mod))
    return found


def load_worker(root: Path) -> WorkerModule:
    """The worker module, checked: exactly one ``start`` call anywhere in the project."""
    found = find_entry(root)
    if not found:
        raise SourceError("no runpod.serverless.start(...) call found: nothing says which function is the handler",
                          hint='call runpod.serverless.start({"handler": handler}) in the worker module')
    starts = [(rel, s.line) for rel, mod in found for s in mod.starts]
    if len(starts) > 1:
        where = ", ".join(f"{rel}:{line}" for rel, line in starts)
        raise SourceError(f"{len(starts)} runpod.serverless.start calls ({where}); a worker has exactly one",
                          file=starts[1][0], line=starts[1][1], hint="keep one start call (one handler per worker)")
    return found[0][1]


def _fields(modules: ProjectModules, mod: WorkerModule, handler: Handler,
            findings: list[Finding]) -> tuple[list[InputField], bool]:
    """(request fields, whether they come from an rp_validator schema); ``mod`` defines the handler."""
    for schema in handler.schema_names:
        found = find_schema(modules, mod, schema) if schema else None
        fields = dict_fields(found[0], found[1], findings) if found else None
        if fields is not None:
            return fields, True
        findings.append(Finding(
            rule="FM304", severity="warning", location=Location(file=mod.path, line=handler.validate_lines[0]),
            message=f"the rp_validator schema {schema or '(inline expression)'} is not a dict literal falmigrate "
                    "can read; the request fields come from the keys the handler reads",
            remediation="type the generated request model's fields by hand (validate() still checks the input)"))
    return read_fields(mod, handler.reads), False


def _lines(lines: list[int]) -> str:
    return ("line " if len(lines) == 1 else "lines ") + ", ".join(str(n) for n in lines)


def _decisions(mod: WorkerModule, start: StartCall, ref: HandlerRef, handler: Handler, init: InitPlan,
               class_name: str) -> list[Decision]:
    """What a RunPod user needs to know to call the new app, in the MIGRATION.md "mapped" table."""
    at_start = Location(file=mod.path, line=start.line)
    out = [
        Decision(source=f'runpod.serverless.start({{"handler": {ref.call}}})',
                 target=f'{class_name} endpoint "/" calling {ref.call}(job)', location=at_start),
        Decision(source='request `{"input": {...}}` to `/run` or `/runsync`',
                 target='POST `/` with the input object itself as the JSON body (no "input" wrapper)',
                 note='the handler still gets job = {"id": <fresh id>, "input": <body>}'),
        Decision(source='job result `{"output": ...}` (`/runsync`, `/status/<id>`)',
                 target='response body `{"output": ...}`, the same shape',
                 note="sync like /runsync: https://fal.run/<owner>/<app>; queued like /run + /status: https://queue.fal.run/<owner>/<app>"),
        Decision(source='handler returns `{"error": msg}` / raises',
                 target='HTTP 400 `{"detail": msg}` / HTTP 500', note="the job's FAILED status becomes an HTTP error"),
    ]
    if handler.is_stream:
        out.append(Decision(source=f"{handler.kind.replace('_', ' ')} handler (`/stream/<id>` polling)",
                            target='`/` returns `{"output": [all items]}`; `/stream` sends each item as a '
                                   "server-sent event (`data: <json>`)", location=Location(file=ref.mod.path,
                                                                                          line=handler.line)))
    if init.indices:
        out.append(Decision(source=f"module-level initialisation ({_lines(init.lines)})",
                            target="_falmigrate_init() called once per runner from setup()",
                            location=Location(file=mod.path, line=init.lines[0]),
                            note="statements kept verbatim and in order; the names they bind stay module globals"))
    return out


class RunpodImporter:
    platform: ClassVar[str] = "runpod"

    def detect(self, root: Path) -> float:
        score = 0.0
        if (root / ".runpod" / "hub.json").is_file():
            score = 0.7
        for path in _candidates(root)[:200]:
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            if mentions_start(text) and re.search(r"\bstart\s*\(", text):
                return 0.9
            if re.search(r"^\s*(import runpod|from runpod)", text, re.MULTILINE):
                score = max(score, 0.6)
        return score

    def load(self, root: Path, request: ImportRequest | None = None) -> AppSpec:
        (request or ImportRequest()).refuse("RunPod", "entry", "dockerfile", "context")
        root = Path(root)
        mod = load_worker(root)
        start = mod.starts[0]
        modules = ProjectModules(root, mod)
        ref = find_handler(modules, start)
        handler = analyse_handler(ref.mod, ref.fn)
        entry_dir = Path(mod.path).parent.as_posix()
        project = read_project(root, "" if entry_dir == "." else entry_dir)
        findings = list(project.findings)
        fields, from_schema = _fields(modules, ref.mod, handler, findings)
        ceiling = concurrency_ceiling(mod, start.config.get("concurrency_modifier"))
        init = plan_init(mod)
        findings += findings_for(mod, handler, init, ceiling, from_schema, fields, handler_mod=ref.mod)
        if ref.mod is not mod:
            findings.append(Finding(rule="FM300", severity="info", location=Location(file=ref.mod.path, line=handler.line),
                                    message=f"the handler is {ref.fn.name.value} from {ref.mod.path}; the fal app "
                                            f"calls it as {ref.call} from {mod.path} (the module stays as written)"))
        aggregate = start.config.get("return_aggregate_stream")
        loc = Location(file=ref.mod.path, line=handler.line)
        endpoint = Endpoint(
            path="/", handler=handler.name, inputs=fields, is_async=handler.is_async, location=loc,
            output=TypeRef(kind="list", item=TypeRef(kind="any")) if handler.is_stream else TypeRef(kind="any"),
            output_mode="stream" if handler.is_stream else "single",
            description=project.description, examples=project.examples,
        )
        name, class_name = names(root, project.title)
        decisions = _decisions(mod, start, ref, handler, init, class_name)
        details = RunpodDetails(
            handler=handler.name, call=ref.call, handler_file=ref.mod.path, kind=handler.kind, entry=mod.path,
            return_aggregate_stream=isinstance(aggregate, cst.Name) and aggregate.value == "True",
            concurrency_modifier=ceiling[0] if ceiling else None, init=list(init.names),
            schema_validated=bool(from_schema),
        )
        image = project.image
        if "runpod" not in " ".join(image.python_requirements) and image.requirements_file is None:
            image = image.model_copy(update={"python_requirements": [*image.python_requirements, "runpod"]})
        return AppSpec(
            name=name, class_name=class_name,
            source=SourceInfo(platform="runpod", root=".", entry_file=mod.path, entry_symbol=handler.name,
                              files=[mod.path, *project.files]),
            endpoints=[endpoint],
            lifecycle=Lifecycle(setup="_falmigrate_init" if init.indices else None),
            scaling=scaling_spec(project.scaling, ceiling[1] if ceiling else None),
            hardware=project.hardware, image=image, secrets=sorted(project.secrets),
            findings=findings, decisions=decisions, details=details,
        )
