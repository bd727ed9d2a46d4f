"""RunPod serverless worker importer: ``runpod.serverless.start({...})`` → AppSpec.

Finds the one module calling ``start`` (any ``.py`` under the root, sorted walk), the handler it
names, the request fields (``rp_validator`` schema, else the keys the handler reads), the
``concurrency_modifier``'s ceiling, module-level initialisation, and the project files around it
(Dockerfile, ``test_input.json``, ``.runpod/hub.json``/``tests.json``). Static only: libcst and
json; the worker is never imported. ``spec.extra["runpod"]`` tells the codemod and the verify runner
how to call the handler.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

import libcst as cst

from falmigrate.errors import SourceError
from falmigrate.importers.runpod.handler import analyse_handler
from falmigrate.importers.runpod.init import plan_init
from falmigrate.importers.runpod.project import read_project, scaling_spec
from falmigrate.importers.runpod.reader import WorkerModule, mentions_start, read_worker
from falmigrate.importers.runpod.schema import read_fields, schema_fields
from falmigrate.importers.runpod.spec_parts import concurrency_ceiling, findings_for, names
from falmigrate.spec import AppSpec, Decision, Endpoint, Lifecycle, Location, SourceInfo, TypeRef

__all__ = ["RunpodImporter", "find_entry", "load_worker"]

_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", "site-packages", "tests", "test", "build", "dist"}


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
    """The worker module, checked: exactly one ``start`` call naming a handler defined in it."""
    found = find_entry(root)
    if not found:
        raise SourceError("no runpod.serverless.start(...) call found: nothing says which function is the handler",
                          hint='call runpod.serverless.start({"handler": handler}) in the worker module')
    starts = [(rel, s.line) for rel, mod in found for s in mod.starts]
    if len(starts) > 1:
        where = ", ".join(f"{rel}:{line}" for rel, line in starts)
        raise SourceError(f"{len(starts)} runpod.serverless.start calls ({where}); a worker has exactly one",
                          file=starts[1][0], line=starts[1][1], hint="keep one start call (one handler per worker)")
    mod = found[0][1]
    start = mod.starts[0]
    handler = start.config.get("handler")
    if handler is None:
        raise SourceError('the start config has no "handler" key', file=mod.path, line=start.config_line,
                          hint='pass {"handler": your_function}')
    if not isinstance(handler, cst.Name) or handler.value not in mod.functions:
        what = mod.module.code_for_node(handler)
        raise SourceError(f"the handler {what!r} is not a function defined at the top level of {mod.path}",
                          file=mod.path, line=mod.line(handler),
                          hint="define the handler with def/async def in the module that calls start")
    return mod


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

    def load(self, root: Path) -> AppSpec:
        root = Path(root)
        mod = load_worker(root)
        start = mod.starts[0]
        handler = analyse_handler(mod, mod.functions[start.config["handler"].value])
        entry_dir = Path(mod.path).parent.as_posix()
        project = read_project(root, "" if entry_dir == "." else entry_dir)
        findings = list(project.findings)
        fields = None
        for schema in handler.schema_names:
            fields = schema_fields(mod, schema, findings) if schema else None
            if fields is not None:
                break
        from_schema = fields is not None
        if fields is None:
            fields = read_fields(mod, handler.reads)
        ceiling = concurrency_ceiling(mod, start.config.get("concurrency_modifier"))
        init = plan_init(mod)
        findings += findings_for(mod, handler, init, ceiling, from_schema, fields)
        aggregate = start.config.get("return_aggregate_stream")
        loc = Location(file=mod.path, line=handler.line)
        endpoint = Endpoint(
            path="/", handler=handler.name, inputs=fields, is_async=handler.is_async, location=loc,
            output=TypeRef(kind="list", item=TypeRef(kind="any")) if handler.is_stream else TypeRef(kind="any"),
            output_mode="stream" if handler.is_stream else "single",
            description=project.description, examples=project.examples,
        )
        name, class_name = names(root, project.title)
        decisions = [Decision(source=f'runpod.serverless.start({{"handler": {handler.name}}})',
                              target=f'{class_name} endpoint "/" calling {handler.name}(job)',
                              location=Location(file=mod.path, line=start.line))]
        if init.indices:
            decisions.append(Decision(source=f"module-level initialisation (lines {init.lines})",
                                      target="_falmigrate_init() called from setup()", location=loc))
        extra = {"runpod": {
            "handler": handler.name, "kind": handler.kind, "entry": mod.path,
            "return_aggregate_stream": isinstance(aggregate, cst.Name) and aggregate.value == "True",
            "concurrency_modifier": ceiling[0] if ceiling else None, "init": init.names,
            "schema": from_schema,
        }}
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
            findings=findings, decisions=decisions, extra=extra,
        )
