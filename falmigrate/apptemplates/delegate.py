"""Helpers of the template app (``templates/fal_app.py.j2``): a ``fal.App`` that delegates to the
user's module unchanged. The template sets ``ENTRY_MODULE``, ``ENTRY_SYMBOL`` and ``_CODE_DIRS``.

Copied into generated apps by ``falmigrate.render.snippets``; only the definitions an app uses.
"""

import asyncio
import importlib
import inspect
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from fal import toolkit as _toolkit

# Set by the generated module (the template writes its own values; these keep this file importable).
_CODE_DIRS: list[str] = []
ENTRY_MODULE: str | None = None
ENTRY_SYMBOL: str | None = None


def _load_target() -> tuple[Any, Any]:
    """(module, object whose attributes are the handlers): an instance of a class entry, else the module."""
    for folder in reversed(_CODE_DIRS):
        if os.path.isdir(folder) and folder not in sys.path:
            sys.path.insert(0, folder)
    if ENTRY_MODULE is None:
        return None, None
    module = importlib.import_module(ENTRY_MODULE)
    if ENTRY_SYMBOL is None or not hasattr(module, ENTRY_SYMBOL):
        return module, module
    entry = getattr(module, ENTRY_SYMBOL)
    return module, (entry() if inspect.isclass(entry) else module)


def _hook(module: Any, target: Any, name: str) -> Any:
    found = getattr(target, name, None) or getattr(module, name, None)
    if found is None:
        raise AttributeError(f"{ENTRY_MODULE} has no {name!r}")
    return found


def _plain(value: Any) -> Any:
    """A handler's return value as JSON-like data; paths become uploaded fal files."""
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if isinstance(value, os.PathLike):
        return _toolkit.File.from_path(os.fspath(value))
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _arguments(request: Any, file_fields: list[str]) -> dict[str, Any]:
    kwargs = request.model_dump(by_alias=True)
    for name in file_fields:
        if kwargs.get(name):
            target_dir = Path(tempfile.mkdtemp(prefix="falmigrate-input-"))
            kwargs[name] = Path(_toolkit.download_file(kwargs[name], target_dir=target_dir))
    return kwargs


def _fields(result: Any, wrap: str) -> dict[str, Any]:
    data = _plain(result)
    if wrap == "model":
        return data
    return {wrap: data}


async def _collect_async(value: Any) -> list[Any]:
    return [item async for item in value]


def _call(function: Any, kwargs: dict[str, Any]) -> Any:
    value = function(**kwargs)
    if inspect.iscoroutine(value):
        value = asyncio.run(value)
    if inspect.isasyncgen(value):
        value = asyncio.run(_collect_async(value))
    if inspect.isgenerator(value):
        value = list(value)
    return value


async def _acall(function: Any, kwargs: dict[str, Any]) -> Any:
    value = function(**kwargs)
    if inspect.isawaitable(value):
        value = await value
    if inspect.isasyncgen(value):
        value = await _collect_async(value)
    if inspect.isgenerator(value):
        value = list(value)
    return value
