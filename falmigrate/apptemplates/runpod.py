"""Helpers of a fal app rewritten from a RunPod worker (``falmigrate.codemods.runpod``): the job a handler
expects, RunPod's result rules, and a generator handler's items as one list or as server-sent events.

Copied into generated apps by ``falmigrate.render.snippets``; only the definitions an app uses.
"""

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

from fastapi import HTTPException
from pydantic import BaseModel


def _falmigrate_job(request: BaseModel, job_fields: tuple[str, ...] = ()) -> dict[str, Any]:
    """The job a RunPod handler expects: a fresh id and the request body, as sent, under "input"; fields
    RunPod carries next to the input (``s3Config``, ``webhook``) go back to the job's top level."""
    body = request.model_dump(exclude_unset=True, by_alias=True)
    job = {"id": uuid.uuid4().hex, "input": body}
    for key in job_fields:
        if key in body:
            job[key] = body.pop(key)
    return job


def _falmigrate_result(result: Any) -> Any:
    """RunPod's result rules: {"error": ...} fails the request; refresh_worker is dropped."""
    if isinstance(result, dict):
        result = dict(result)
        error = result.pop("error", None)
        result.pop("refresh_worker", None)
        if error:
            raise HTTPException(status_code=400, detail=error)
    return result


def _falmigrate_progress(job: dict[str, Any], progress: Any) -> None:
    """Stands in for runpod.serverless.progress_update: fal shows a runner's output as logs."""
    print(f"[progress {job.get('id')}] {progress}", flush=True)


def _falmigrate_item(item: Any) -> Any:
    """One streamed item; RunPod ends a stream at an item carrying "error"."""
    if isinstance(item, dict) and item.get("error"):
        raise HTTPException(status_code=400, detail=item["error"])
    return item


def _falmigrate_collect(items: Iterator[Any]) -> list[Any]:
    """A generator handler's items as one list, like RunPod's aggregated stream."""
    return [_falmigrate_item(item) for item in items]


async def _falmigrate_acollect(items: AsyncIterator[Any]) -> list[Any]:
    """An async generator handler's items as one list, like RunPod's aggregated stream."""
    return [_falmigrate_item(item) async for item in items]


def _falmigrate_events(items: Iterator[Any]) -> Iterator[str]:
    """Each item as a server-sent event; an item carrying "error" ends the stream with an error event."""
    try:
        for item in items:
            yield f"data: {json.dumps(_falmigrate_item(item))}\n\n"
    except HTTPException as exc:
        yield f"event: error\ndata: {json.dumps(exc.detail)}\n\n"


async def _falmigrate_aevents(items: AsyncIterator[Any]) -> AsyncIterator[str]:
    """Each item of an async generator as a server-sent event (see ``_falmigrate_events``)."""
    try:
        async for item in items:
            yield f"data: {json.dumps(_falmigrate_item(item))}\n\n"
    except HTTPException as exc:
        yield f"event: error\ndata: {json.dumps(exc.detail)}\n\n"
