"""Helpers of apps converted from cog predictors (``falmigrate.codemods.cog``), copied into the
rewritten module by ``falmigrate.render.snippets`` (only the ones the app calls).

cog downloaded file inputs before ``predict`` ran, turned returned paths into URLs, streamed iterator
outputs and passed ``COG_WEIGHTS`` to ``setup(weights)``; these do the same on fal.
"""

import dataclasses
import json
import mimetypes
import os
import tempfile

from fal.toolkit import File, download_file
from fastapi.encoders import jsonable_encoder


def _falmigrate_download(url, open_file=False):
    """A request's file URL (http(s) or data: URI) → a local path, downloaded before
    the body runs (as cog did)."""
    if url is None:
        return None
    if isinstance(url, list):
        return [_falmigrate_download(item, open_file) for item in url]
    path = download_file(url, target_dir=tempfile.mkdtemp(prefix="falmigrate-input-"))
    return open(path, "rb") if open_file else path


def _falmigrate_upload(path):
    """A returned file, uploaded: the response carries its URL (as cog's did)."""
    return File.from_path(path, content_type=mimetypes.guess_type(path)[0])


def _falmigrate_value(value):
    """A predictor's return value as response data: paths become uploaded files, models become dicts."""
    if isinstance(value, os.PathLike):
        return _falmigrate_upload(os.fspath(value))
    if hasattr(value, "model_dump") and not isinstance(value, File):
        value = dict(value)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {key: _falmigrate_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)) or hasattr(value, "__next__"):
        return [_falmigrate_value(item) for item in value]
    return value


def _falmigrate_weights():
    """What cog passed to setup(weights): the COG_WEIGHTS environment variable, or None."""
    return os.environ.get("COG_WEIGHTS") or None


def _falmigrate_events(items):
    """Each streamed item as one server-sent event (JSON), as cog streamed outputs."""
    for item in items:
        yield f"data: {json.dumps(jsonable_encoder(_falmigrate_value(item)))}\n\n"


async def _falmigrate_aevents(items):
    """Each item of an async stream as one server-sent event (JSON)."""
    async for item in items:
        yield f"data: {json.dumps(jsonable_encoder(_falmigrate_value(item)))}\n\n"


def _falmigrate_enter_project():
    """cog ran the predictor with its project folder (/src, where this module is) as the working directory;
    fal's runner promises none, so relative paths (weights/, configs) resolve as they did under cog."""
    os.chdir(os.path.dirname(os.path.abspath(__file__)))
