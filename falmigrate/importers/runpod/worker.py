"""The AppSpec of a RunPod queue worker (a module calling ``runpod.serverless.start``): one entry-point
fal app whose ``/`` endpoint calls the handler the way RunPod does.

Pieces come from the modules next to this one: the start call (``entry``), the handler and what it
reads (``locate``, ``handler``, ``schema``), initialisation and start-up work (``init``, ``launch``),
the image (``build``), the endpoint's files (``project``) and the code scans (``codescan``). This
module puts them together and writes the decisions a RunPod user needs to call the new app.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import libcst as cst

from falmigrate.analysis.secrets import literal_finding
from falmigrate.importers.base import ImportRequest
from falmigrate.importers.runpod.build import WorkerImage, worker_image
from falmigrate.importers.runpod.codescan import argv_parses, literal_secrets, secret_reads
from falmigrate.importers.runpod.entry import merged_start, python_files
from falmigrate.importers.runpod.handler import analyse_handler
from falmigrate.importers.runpod.init import InitPlan, main_guard, plan_init, start_functions
from falmigrate.importers.runpod.launch import launcher_process, main_process
from falmigrate.importers.runpod.locate import HandlerRef, ProjectModules, find_handler, find_schema
from falmigrate.importers.runpod.mapping import DEFAULT_GPU
from falmigrate.importers.runpod.project import Project, read_project, scaling_spec
from falmigrate.importers.runpod.reader import Handler, StartCall, WorkerModule
from falmigrate.importers.runpod.schema import dict_fields, read_fields
from falmigrate.importers.runpod.spec_parts import concurrency_ceiling, findings_for, names
from falmigrate.spec import (
    AppSpec,
    Decision,
    Endpoint,
    Finding,
    HardwareSpec,
    ImageSpec,
    InputField,
    Lifecycle,
    Location,
    RunpodDetails,
    RunpodProcess,
    SourceInfo,
    TypeRef,
)

_CUDA_CODE = re.compile(r"\.cuda\(|\bdevice\s*=\s*[\"']cuda|\.to\(\s*[\"']cuda")


def _fields(modules: ProjectModules, mod: WorkerModule, handler: Handler,
            findings: list[Finding]) -> tuple[list[InputField], bool]:
    """(request fields, whether they come from an rp_validator schema); ``mod`` defines the handler."""
    for schema in handler.schema_names:
        found = find_schema(modules, mod, schema) if schema else None
        fields = dict_fields(found[0], found[1], findings) if found else None
        if fields is not None:
            return fields, True
        findings.append(Finding(
            rule="FM304", severity="warning",
            location=Location(file=mod.path, line=handler.validate_lines[0]),
            message=f"the rp_validator schema {schema or '(inline expression)'} is not a "
                    "dict literal falmigrate can read; the request fields come from the "
                    "keys the handler reads",
            remediation="type the generated request model's fields by hand (validate() "
                        "still checks the input)"))
    return read_fields(mod, handler.reads), False


def _job_fields(mod: WorkerModule, handler: Handler,
                fields: list[InputField]) -> tuple[list[InputField], list[Finding]]:
    """Job keys beside ``input`` (``s3Config``, ``webhook`` …) as optional request fields."""
    taken = {f.name for f in fields}
    extra, findings = [], []
    for key, line in handler.job_fields:
        if key in taken:
            continue
        extra.append(InputField(name=key, type=TypeRef(kind="any"), required=False,
                                description=f"RunPod job field {key} (sent next to the "
                                            f"input; the handler reads job[{key!r}])",
                                location=Location(file=mod.path, line=line)))
        findings.append(Finding(rule="FM325", severity="info", location=Location(file=mod.path, line=line),
                                message=f"the handler reads the job field {key!r} (next to "
                                        "\"input\" on RunPod); it is an optional request field that the app "
                                        "puts back beside the input",
                                remediation=f"clients send {key} in the request body with the other fields"))
    return extra, findings


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
                 note="sync like /runsync: https://fal.run/<owner>/<app>; queued like /run + /status: "
                      "https://queue.fal.run/<owner>/<app>"),
        Decision(source='handler returns `{"error": msg}` / raises',
                 target='HTTP 400 `{"detail": msg}` / HTTP 500',
                 note="the job's FAILED status becomes an HTTP error"),
    ]
    if handler.is_stream:
        out.append(Decision(source=f"{handler.kind.replace('_', ' ')} handler (`/stream/<id>` polling)",
                            target='`/` returns `{"output": [all items]}`; `/stream` sends each item as a '
                                   "server-sent event (`data: <json>`)",
                            location=Location(file=ref.mod.path, line=handler.line)))
    if init.indices:
        out.append(Decision(source=f"module-level initialisation ({_lines(init.lines)})",
                            target="_falmigrate_init() called once per runner from setup()",
                            location=Location(file=mod.path, line=init.lines[0]),
                            note="statements kept verbatim and in order; the names they "
                                 "bind stay module globals"))
    return out


def _process_findings(processes: list[RunpodProcess]) -> list[Finding]:
    out = []
    for p in processes:
        where = Location(file=p.file, line=p.first_line)
        if p.origin == "launcher":
            wait = (f"; setup() waits for port {p.port}"
                    + (f" (GET {p.health_path})" if p.health_path else "")
                    if p.port else "")
            out.append(Finding(rule="FM323", severity="info", location=where,
                               message=f"{p.file} lines {p.first_line}-{p.last_line} ran before "
                                       f"the worker; setup() runs them ({p.shell}, in the "
                                       f"worker's folder){wait} and teardown() stops what they started",
                               remediation="check that the paths they use exist in the image"))
            if p.dropped:
                out.append(Finding(rule="FM323", severity="warning",
                                   location=Location(file=p.file, line=p.last_line + 1),
                                   message=f"{p.file} runs more after starting the worker "
                                           f"({'; '.join(p.dropped)}); that part is not run on fal",
                                   remediation="move it into setup() by hand "
                                               "if it is needed"))
        else:
            out.append(Finding(rule="FM323", severity="info", location=where,
                               message="the worker's start-up function starts a process before "
                                       "runpod.serverless.start; it runs in setup() and teardown() stops the "
                                       "processes it started",
                               remediation="check that setup() waits until that "
                                           "process is ready"))
    return out


def _hardware(project: Project, built: WorkerImage,
              modules: list[WorkerModule]) -> tuple[HardwareSpec, list[Finding]]:
    """The hub's GPUs when it names them; else a GPU machine when the image or code shows one is needed."""
    if project.hardware != HardwareSpec():
        return project.hardware, []
    evidence = list(built.gpu.reasons)
    for mod in modules:
        for number, text in enumerate(mod.source.splitlines(), 1):
            if _CUDA_CODE.search(text):
                evidence.append(f"CUDA used in {mod.path}:{number}")
                break
    if not evidence:
        return project.hardware, []
    finding = Finding(rule="FM324", severity="warning", location=None,
                      message="no GPU type is named (.runpod/hub.json gpuIds); machine_type "
                              f"{DEFAULT_GPU} because: "
                              + "; ".join(evidence),
                      remediation="set machine_type in pyproject.toml to the GPU the model needs")
    return HardwareSpec(machine_type=DEFAULT_GPU, gpu=True), [finding]


def _code_findings(root: Path, mod: WorkerModule) -> tuple[list[Finding], list[str], list[str]]:
    """argparse reads, literal keys (findings; project files to rewrite; secret names read instead)."""
    findings = [Finding(rule="FM326", severity="warning", location=Location(file=mod.path, line=line),
                        message=f"{call}() reads the command line; in setup() that would be "
                                "the fal runner's argv, so it parses an empty list (the parser's defaults)",
                        remediation="set what the arguments configured through environment "
                                    "variables or constants")
                for call, line in argv_parses(mod)]
    found = literal_secrets(root, python_files(root))
    findings += [literal_finding(s) for items in found.values() for s in items]
    files = sorted(found)  # the entry too: its original is copied into the output next to fal_app.py
    secrets = sorted({s.secret for items in found.values() for s in items})
    return findings, files, secrets


def _processes(root: Path, built: WorkerImage, mod: WorkerModule) -> list[RunpodProcess]:
    processes = []
    if built.patch is not None:
        launcher = launcher_process(root, built.patch, mod.path)
        processes += [launcher] if launcher else []
    started = main_process(mod, main_guard(mod), start_functions(mod))
    return processes + ([started] if started else [])


def _endpoint(ref: HandlerRef, handler: Handler, inputs: list[InputField], project: Project) -> Endpoint:
    return Endpoint(
        path="/", handler=handler.name, inputs=inputs, is_async=handler.is_async,
        location=Location(file=ref.mod.path, line=handler.line),
        output=TypeRef(kind="list", item=TypeRef(kind="any")) if handler.is_stream else TypeRef(kind="any"),
        output_mode="stream" if handler.is_stream else "single",
        description=project.description, examples=project.examples,
    )


def _more_findings(mod: WorkerModule, ref: HandlerRef, handler: Handler) -> list[Finding]:
    out = []
    if len(mod.starts) > 1:
        out.append(Finding(rule="FM328", severity="info",
                           location=Location(file=mod.path, line=mod.starts[1].line),
                           message=f"runpod.serverless.start is called {len(mod.starts)} times "
                                   "with the same handler; their settings are merged (the first call's win)"))
    if ref.mod is not mod:
        out.append(Finding(rule="FM300", severity="info",
                           location=Location(file=ref.mod.path, line=handler.line),
                           message=f"the handler is {ref.fn.name.value} from {ref.mod.path}; the "
                                   f"fal app calls it as {ref.call} from {mod.path} (the "
                                   "module stays as written)"))
    return out


def _image(built: WorkerImage) -> ImageSpec:
    image = built.image
    if (built.patch is None and "runpod" not in " ".join(image.python_requirements)
            and image.requirements_file is None):
        image = image.model_copy(update={"python_requirements": [*image.python_requirements, "runpod"]})
    return image


def worker_spec(root: Path, request: ImportRequest, mod: WorkerModule) -> AppSpec:
    start = merged_start(mod)
    modules = ProjectModules(root, mod)
    ref = find_handler(modules, start)
    handler = analyse_handler(ref.mod, ref.fn)
    entry_dir = PurePosixPath(mod.path).parent.as_posix() if "/" in mod.path else ""
    project = read_project(root, entry_dir)
    built = worker_image(root, mod.path, request, project, mod.source)
    findings = [*project.findings, *built.findings]
    fields, from_schema = _fields(modules, ref.mod, handler, findings)
    extra, job_findings = _job_fields(ref.mod, handler, fields)
    ceiling = concurrency_ceiling(mod, start.config.get("concurrency_modifier"))
    init = plan_init(mod)
    processes = _processes(root, built, mod)
    code_findings, secret_files, literal_names = _code_findings(root, mod)
    hardware, gpu_findings = _hardware(project, built, [mod, ref.mod])
    findings += findings_for(mod, handler, init, ceiling, from_schema, fields, handler_mod=ref.mod)
    findings += [*job_findings, *_process_findings(processes), *_more_findings(mod, ref, handler),
                 *code_findings, *gpu_findings]
    name, class_name = names(root / entry_dir if entry_dir else root, project.title)
    aggregate = start.config.get("return_aggregate_stream")
    details = RunpodDetails(
        handler=handler.name, call=ref.call, handler_file=ref.mod.path, kind=handler.kind, entry=mod.path,
        return_aggregate_stream=isinstance(aggregate, cst.Name) and aggregate.value == "True",
        concurrency_modifier=ceiling.label if ceiling else None, init=list(init.names),
        schema_validated=bool(from_schema), job_fields=[f.name for f in extra], processes=processes,
        secret_files=secret_files, literal_secrets=literal_names,
    )
    secrets = sorted({*project.secrets, *literal_names, *secret_reads(mod), *secret_reads(ref.mod),
                      *(built.patch.runtime_secrets if built.patch else [])})
    return AppSpec(
        name=name, class_name=class_name,
        source=SourceInfo(platform="runpod", root=".", entry_file=mod.path, entry_symbol=handler.name,
                          files=[mod.path, *([built.patch.path] if built.patch else []), *project.files]),
        endpoints=[_endpoint(ref, handler, [*fields, *extra], project)],
        lifecycle=Lifecycle(setup="_falmigrate_init" if init.indices else None,
                            teardown="_falmigrate_stop" if processes else None),
        scaling=scaling_spec(project.scaling, ceiling.value if ceiling else None),
        hardware=hardware, image=_image(built), secrets=secrets, volumes=built.volumes,
        findings=findings,
        decisions=[*_decisions(mod, start, ref, handler, init, class_name), *built.decisions],
        details=details,
    )
