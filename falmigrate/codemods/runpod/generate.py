"""Source text the RunPod → fal rewrite adds after the user's module: request/response models, the
small runtime helpers, and the ``fal.App`` whose endpoints call the handler the way RunPod does.

The endpoint builds the job RunPod would pass (``{"id": ..., "input": <request body as sent>}``;
unset fields stay absent so ``job_input.get(k, default)`` behaves as on RunPod), calls the handler
(awaited if async; a generator is aggregated on "/" and streamed as server-sent events on
"/stream"), and applies RunPod's result rules: ``{"error": ...}`` fails the request (HTTP 400),
``refresh_worker`` is dropped. The response is ``{"output": ...}``, RunPod's own shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from falmigrate.render.models import model_source

INDENT = "    "
# fal class attributes written from the spec, in this order: (attribute, spec group).
SETTING_ORDER = (
    ("machine_type", "hardware"), ("num_gpus", "hardware"),
    ("keep_alive", "scaling"), ("min_concurrency", "scaling"), ("max_concurrency", "scaling"),
    ("concurrency_buffer", "scaling"), ("concurrency_buffer_perc", "scaling"), ("max_multiplexing", "scaling"),
    ("scaling_delay", "scaling"), ("startup_timeout", "scaling"), ("request_timeout", "scaling"),
    ("skip_retry_conditions", "scaling"),
)


def settings_lines(settings: dict[str, Any]) -> list[str]:
    """``name = value`` class attribute lines for every knob the spec sets (fal defaults left out)."""
    lines = []
    for name, group in SETTING_ORDER:
        value = (settings.get(group) or {}).get(name)
        if value is None or (name == "machine_type" and value == "S"):
            continue
        lines.append(f"{name} = {json.dumps(value) if not isinstance(value, bool) else value}")
    if settings.get("secrets"):
        lines.append(f"secrets = {json.dumps(sorted(settings['secrets']))}")
    return lines

HELPERS = '''

def _falmigrate_job(request: BaseModel) -> dict[str, Any]:
    """The job a RunPod handler expects: a fresh id and the request body, as sent, under "input"."""
    return {"id": uuid.uuid4().hex, "input": request.model_dump(exclude_unset=True, by_alias=True)}


def _falmigrate_result(result: Any) -> Any:
    """RunPod's result rules: {"error": ...} fails the request; refresh_worker is dropped."""
    if isinstance(result, dict):
        result = dict(result)
        error = result.pop("error", None)
        result.pop("refresh_worker", None)
        if error:
            raise HTTPException(status_code=400, detail=error)
    return result
'''

PROGRESS = '''

def _falmigrate_progress(job: dict[str, Any], progress: Any) -> None:
    """Stands in for runpod.serverless.progress_update: fal shows a runner's output as logs."""
    print(f"[progress {job.get('id')}] {progress}", flush=True)
'''

STREAM = '''

def _falmigrate_item(item: Any) -> Any:
    """One streamed item; RunPod ends a stream at an item carrying "error"."""
    if isinstance(item, dict) and item.get("error"):
        raise HTTPException(status_code=400, detail=item["error"])
    return item
'''


@dataclass
class AppParts:
    class_name: str
    handler: str
    kind: str
    fields: list
    settings: dict[str, Any]
    setup: bool = False
    progress: bool = False
    description: str | None = None
    imports: list[str] = field(default_factory=list)


def _stream_members(p: AppParts, model: str) -> list[str]:
    is_async = p.kind == "async_generator"
    collect = (f"[_falmigrate_item(item) async for item in {p.handler}(job)]" if is_async
               else f"[_falmigrate_item(item) for item in {p.handler}(job)]")
    asyn = "async " if is_async else ""
    events = (f"{INDENT}{asyn}def events():\n"
              f"{INDENT * 2}try:\n"
              f"{INDENT * 3}{asyn}for item in {p.handler}(job):\n"
              f"{INDENT * 4}yield f\"data: {{json.dumps(_falmigrate_item(item))}}\\n\\n\"\n"
              f"{INDENT * 2}except HTTPException as exc:\n"
              f"{INDENT * 3}yield f\"event: error\\ndata: {{json.dumps(exc.detail)}}\\n\\n\"\n\n")
    return [
        (f'@fal.endpoint("/")\n{asyn}def run(self, input: {model}) -> {p.class_name}Output:\n'
         f"{INDENT}job = _falmigrate_job(input)\n"
         f"{INDENT}return {p.class_name}Output(output={collect})\n"),
        (f'@fal.endpoint("/stream")\ndef stream(self, input: {model}) -> StreamingResponse:\n'
         f"{INDENT}job = _falmigrate_job(input)\n\n" + events
         + f'{INDENT}return StreamingResponse(events(), media_type="text/event-stream")\n'),
    ]


def _members(p: AppParts, model: str) -> list[str]:
    members = []
    if p.setup:
        members.append("def setup(self):\n" + f"{INDENT}_falmigrate_init()\n")
    if p.kind in ("generator", "async_generator"):
        return members + _stream_members(p, model)
    call = f"await {p.handler}(job)" if p.kind == "async" else f"{p.handler}(job)"
    asyn = "async " if p.kind == "async" else ""
    members.append(
        f'@fal.endpoint("/")\n{asyn}def run(self, input: {model}) -> {p.class_name}Output:\n'
        f"{INDENT}job = _falmigrate_job(input)\n"
        f"{INDENT}return {p.class_name}Output(output=_falmigrate_result({call}))\n"
    )
    return members


def _indent(code: str) -> str:
    return "".join(INDENT + line if line.strip() else line for line in code.splitlines(keepends=True))


def app_source(p: AppParts) -> tuple[str, list[str]]:
    """(code appended after the user's module, import lines it needs)."""
    model = f"{p.class_name}Input"
    ms = model_source(model, p.fields, docstring="The RunPod job input (extra keys pass through to the handler).")
    lines = ms.code.splitlines()
    lines.insert(2, f'{INDENT}model_config = ConfigDict(extra="allow")')
    ms.pydantic_names |= {"ConfigDict", "BaseModel"}
    ms.typing_names.add("Any")
    imports = ["import uuid", "import fal", "from fastapi import HTTPException", *ms.import_lines()]
    is_stream = p.kind in ("generator", "async_generator")
    out_type = "list[Any]" if is_stream else "Any"
    parts = ["\n".join(lines) + "\n",
             f"class {p.class_name}Output(BaseModel):\n{INDENT}output: {out_type}\n"]
    helpers = HELPERS + (PROGRESS if p.progress else "") + (STREAM if is_stream else "")
    if is_stream:
        imports += ["import json", "from fastapi.responses import StreamingResponse"]
    header = [f"class {p.class_name}(fal.App):",
              f'{INDENT}image = fal.ContainerImage.from_dockerfile(str(_FALMIGRATE_DIR / "Dockerfile"), context_dir=_FALMIGRATE_DIR)']
    if p.description:
        header.insert(1, f'{INDENT}"""{p.description.replace(chr(34) * 3, "")}"""')
    header += [f"{INDENT}{line}" for line in settings_lines(p.settings)]
    members = _members(p, model)
    body = "\n".join(header) + "\n\n" + "\n".join(_indent(m) for m in members)
    imports.append("from pathlib import Path")
    code = ("\n\n# --- fal app (added by falmigrate from the RunPod worker above) ---\n\n"
            "_FALMIGRATE_DIR = Path(__file__).resolve().parent\n" + helpers + "\n\n" + "\n\n".join(parts) + "\n\n" + body)
    return code, imports
