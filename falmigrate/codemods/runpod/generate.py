"""The code the RunPod → fal rewrite adds after the user's module: the request/response models and the
``fal.App`` whose endpoints call the handler the way RunPod does.

The endpoint builds the job RunPod would pass (``{"id": ..., "input": <request body as sent>}``, job
fields like ``s3Config`` back at the top level), calls the handler (awaited if async; a generator is
aggregated on "/" and streamed as server-sent events on "/stream") and applies RunPod's result rules.
Helper functions come from ``falmigrate/apptemplates/runpod*.py`` through ``render.snippets`` (only the
ones used, with their imports). The class holds no deploy settings and builds no image: fal reads those
from pyproject.toml, and the class is imported only inside the image. Start-up work the worker did
before its handler (launcher lines, a ``main()`` that starts a server) runs in ``setup()`` and is
stopped in ``teardown()``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import libcst as cst
from libcst.codemod.visitors import ImportItem

from falmigrate.render import snippets
from falmigrate.render.models import model_source
from falmigrate.spec import InputField, RunpodProcess

INDENT = "    "
DEFAULT_DOC = "Deployed by name from pyproject.toml, which holds its image, machine and scaling settings."
LAUNCHER_CONSTANT = "_FALMIGRATE_LAUNCHER"
WORKER_DIR_CONSTANT = "_FALMIGRATE_WORKER_DIR"


@dataclass
class AppParts:
    class_name: str
    handler: str
    kind: str
    fields: list[InputField]
    setup: bool = False  # the module's initialisation moved into _falmigrate_init()
    description: str | None = None
    job_fields: list[str] = field(default_factory=list)
    processes: list[RunpodProcess] = field(default_factory=list)
    entry_dir: str = ""

    @property
    def is_stream(self) -> bool:
        return self.kind in ("generator", "async_generator")

    @property
    def launcher(self) -> RunpodProcess | None:
        return next((p for p in self.processes if p.origin == "launcher"), None)

    @property
    def starts_processes(self) -> bool:
        return any(p.origin == "main" for p in self.processes)


def _block_string(text: str) -> str:
    """``text`` as a triple-quoted literal that reads like the script it holds."""
    return '"""\\\n' + text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"') + '"""'


def _job(p: AppParts) -> str:
    fields = ", ".join(json.dumps(name) for name in p.job_fields)
    return f"_falmigrate_job(input, ({fields},))" if p.job_fields else "_falmigrate_job(input)"


def _lifecycle(p: AppParts) -> list[str]:
    setup: list[str] = []
    launcher = p.launcher
    if launcher is not None:
        name = PurePosixPath(launcher.file).name
        wait = f", port={launcher.port}" if launcher.port else ""
        wait += (f", health_path={json.dumps(launcher.health_path)}"
                 if launcher.port and launcher.health_path else "")
        setup.append(f"self._falmigrate_group = _falmigrate_launch({LAUNCHER_CONSTANT}, "
                     f"{json.dumps(launcher.shell)}, {WORKER_DIR_CONSTANT}, {json.dumps(name)}{wait})")
    if p.starts_processes:
        setup.append("before = set(_falmigrate_children())")
    if p.setup:
        setup.append("_falmigrate_init()")
    if p.starts_processes:
        setup.append("self._falmigrate_started = sorted(set(_falmigrate_children()) - before)")
    members = ["def setup(self) -> None:\n" + "".join(f"{INDENT}{line}\n" for line in setup)] if setup else []
    if launcher is not None or p.starts_processes:
        group = "self._falmigrate_group" if launcher is not None else "None"
        started = "self._falmigrate_started" if p.starts_processes else "[]"
        members.append(f"def teardown(self) -> None:\n{INDENT}_falmigrate_stop({group}, {started})\n")
    return members


def _endpoints(p: AppParts, model: str) -> list[str]:
    out = f"{p.class_name}Output"
    job = f"{INDENT}job = {_job(p)}\n"
    if p.is_stream:
        is_async = p.kind == "async_generator"
        collect = (f"await _falmigrate_acollect({p.handler}(job))" if is_async
                   else f"_falmigrate_collect({p.handler}(job))")
        events = "_falmigrate_aevents" if is_async else "_falmigrate_events"
        run = (f'@fal.endpoint("/")\n{"async " if is_async else ""}def run(self, input: {model}) -> {out}:\n'
               f"{job}{INDENT}return {out}(output={collect})\n")
        stream = (f'@fal.endpoint("/stream")\ndef stream(self, input: {model}) -> StreamingResponse:\n'
                  f'{job}{INDENT}return StreamingResponse({events}({p.handler}(job)), '
                  'media_type="text/event-stream")\n')
        return [run, stream]
    call = f"await {p.handler}(job)" if p.kind == "async" else f"{p.handler}(job)"
    run = (f'@fal.endpoint("/")\n{"async " if p.kind == "async" else ""}def run(self, input: '
           f'{model}) -> {out}:\n'
           f"{job}{INDENT}return {out}(output=_falmigrate_result({call}))\n")
    return [run]


def _helper_names(p: AppParts) -> tuple[set[str], set[str]]:
    """(names from apptemplates/runpod.py, names from apptemplates/runpod_processes.py) the app uses."""
    main = {"_falmigrate_job"}
    if p.is_stream:
        main |= ({"_falmigrate_acollect", "_falmigrate_aevents"} if p.kind == "async_generator"
                 else {"_falmigrate_collect", "_falmigrate_events"})
    else:
        main.add("_falmigrate_result")
    processes: set[str] = set()
    if p.launcher is not None:
        processes |= {"_falmigrate_launch", "_falmigrate_worker_dir"}
    if p.starts_processes:
        processes.add("_falmigrate_children")
    if processes:
        processes.add("_falmigrate_stop")
    return main, processes


def _spaced(code: str) -> str:
    """Top-level definitions two blank lines apart (PEP 8), their comments kept."""
    module = cst.parse_module(code)
    body = [stmt.with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine(),
                                             *(line for line in stmt.leading_lines
                                               if line.comment is not None)])
            if index else stmt for index, stmt in enumerate(module.body)]
    return module.with_changes(body=body).code


def _indent(code: str) -> str:
    return "".join(INDENT + line if line.strip() else line for line in code.splitlines(keepends=True))


def _import_items(lines: list[str]) -> list[ImportItem]:
    items = []
    for line in lines:
        words = line.split()
        if words[0] == "import":
            items.append(ImportItem(words[1]))
        else:
            items += [ImportItem(words[1], name.strip()) for name in line.split(" import ", 1)[1].split(",")]
    return items


def app_source(p: AppParts, *, progress: bool = False) -> tuple[str, list[ImportItem]]:
    """(code appended after the user's module, the imports it needs)."""
    model = f"{p.class_name}Input"
    ms = model_source(model, p.fields,
                      docstring="The RunPod job input (extra keys pass through to the handler).")
    lines = ms.code.splitlines()
    lines.insert(2, f'{INDENT}model_config = ConfigDict(extra="allow")')
    ms.pydantic_names |= {"ConfigDict", "BaseModel"}
    ms.typing_names.add("Any")
    main, processes = _helper_names(p)
    main |= {"_falmigrate_progress"} if progress else set()
    helpers = [snippets.emit("runpod", main)] + ([snippets.emit("runpod_processes", processes)]
                                                 if processes else [])
    imports = [ImportItem("fal"), *_import_items(ms.import_lines())]
    imports += [item for snippet in helpers for item in snippet.imports]
    if p.is_stream:
        imports.append(ImportItem("fastapi.responses", "StreamingResponse"))
    constants = []
    if p.launcher is not None:
        constants.append(f"{WORKER_DIR_CONSTANT} = _falmigrate_worker_dir({json.dumps(p.entry_dir)})")
        constants.append(f"# {p.launcher.file} lines {p.launcher.first_line}-{p.launcher.last_line}: what it "
                         f"ran before the worker\n{LAUNCHER_CONSTANT} = "
                         f"{_block_string(p.launcher.script or '')}")
    output = (f"class {p.class_name}Output(BaseModel):\n{INDENT}output: "
              f"{'list[Any]' if p.is_stream else 'Any'}\n")
    models = ["\n".join(lines) + "\n", output]
    doc = (p.description or DEFAULT_DOC).replace('"""', "")
    members = _lifecycle(p) + _endpoints(p, model)
    body = f'class {p.class_name}(fal.App):\n{INDENT}"""{doc}"""\n\n' + "\n".join(_indent(m) for m in members)
    parts = [*(_spaced(s.code).rstrip("\n") for s in helpers), *constants, *(m.rstrip("\n") for m in models),
             body.rstrip("\n")]
    banner = "\n\n# --- fal app (added by falmigrate from the RunPod worker above) ---\n\n\n"
    return banner + "\n\n\n".join(parts) + "\n", imports
