"""Source side of ``falmigrate verify`` for cog: run the predictor the way cog runs it, offline.

The module is loaded with cog's own loader (``cog.predictor.load_predictor_from_ref``, which also
instantiates the class), ``setup()`` runs once (with ``weights`` from ``COG_WEIGHTS`` when it takes
them, as cog does), then ``predict``/``run`` per case with keyword inputs: missing inputs take their
``Input(default=…)``, file inputs go through ``cog.Path.validate`` (``data:``/http URLs are downloaded
like cog's server does), ``cog.File`` through ``cog.File.validate``, secrets become ``cog.Secret``.
Iterators are collected; a cog ``BaseModel`` (a dataclass) becomes a dict of its fields.
Runs inside the verify worker subprocess (cwd = the source root), all cases in one process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import sys
from pathlib import Path
from typing import Any

from falmigrate.errors import VerifyError
from falmigrate.spec import AppSpec, InputField, TypeRef


def _load(root: Path, spec: AppSpec) -> Any:
    from cog.predictor import load_predictor_from_ref

    cog = spec.extra.get("cog") or {}
    ref = f"{cog.get('file') or spec.source.entry_file}:{cog.get('class') or spec.class_name}"
    folder = str((root / ref.split(":", 1)[0]).parent.resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        return load_predictor_from_ref(ref)
    except Exception as exc:  # the user's module failed to import: the source side cannot start
        raise VerifyError(f"cannot load {ref} under cog: {type(exc).__name__}: {exc}") from exc


def _setup(predictor: Any) -> None:
    from cog.predictor import extract_setup_weights, has_setup_weights

    result = predictor.setup(weights=extract_setup_weights(predictor)) if has_setup_weights(predictor) \
        else predictor.setup()
    if inspect.iscoroutine(result):
        asyncio.run(result)


def _leaf(ref: TypeRef) -> TypeRef:
    while ref.kind in ("optional", "list") and ref.item is not None:
        ref = ref.item
    return ref


def _coerce(value: Any, field: InputField, opened: bool) -> Any:
    import cog

    if value is None:
        return None
    if isinstance(value, list):
        return [_coerce(item, field, opened) for item in value]
    kind = _leaf(field.type).kind
    if kind == "file" and opened:
        return cog.File.validate(value)
    if kind == "file":
        path = cog.Path.validate(value)
        return path.convert() if hasattr(path, "convert") else path
    if kind == "secret":
        return cog.Secret(value)
    return value


def _check(field: InputField, value: Any) -> None:
    """The input checks cog's server makes before predict runs (choices, ge/le, lengths, regex)."""
    import re

    ref = field.type.item if field.type.kind == "optional" and field.type.item else field.type
    if value is None:
        return
    if ref.kind == "literal" and value not in (ref.choices or []):
        raise ValueError(f"{field.name}: {value!r} is not one of {ref.choices}")
    if field.ge is not None and value < field.ge or field.le is not None and value > field.le:
        raise ValueError(f"{field.name}: {value!r} is out of range")
    if field.min_length is not None and len(value) < field.min_length \
            or field.max_length is not None and len(value) > field.max_length:
        raise ValueError(f"{field.name}: length out of range")
    if field.pattern is not None and not re.match(field.pattern, value):
        raise ValueError(f"{field.name}: does not match {field.pattern}")


def _arguments(spec: AppSpec, case: dict[str, Any], method: Any) -> dict[str, Any]:
    body = dict(case.get("input") or {})
    params = inspect.signature(method).parameters
    kwargs = {}
    for field in spec.endpoints[0].inputs:
        if field.name in body:
            value = body.pop(field.name)
        elif field.required:
            raise ValueError(f"missing required input {field.name!r}")
        else:
            value = field.default
        annotation = params[field.name].annotation if field.name in params else None
        opened = getattr(annotation, "__name__", "") == "File"
        _check(field, value)
        kwargs[field.name] = _coerce(value, field, opened)
    if body:
        raise ValueError(f"unknown input(s): {', '.join(sorted(body))}")
    return kwargs


async def _collect(value: Any) -> list[Any]:
    return [item async for item in value]


def plain(value: Any) -> Any:
    """Await/collect what predict returned; cog BaseModel outputs (dataclasses) become dicts."""
    if inspect.iscoroutine(value):
        value = asyncio.run(value)
    if inspect.isasyncgen(value):
        value = asyncio.run(_collect(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)) or inspect.isgenerator(value):
        return [plain(item) for item in value]
    return value


def run_source(root: Path, spec: AppSpec, cases: list[dict[str, Any]]) -> list[Any]:
    """One value per case (a case that raised gives ``{"error": "..."}``)."""
    predictor = _load(Path(root), spec)
    _setup(predictor)
    method = getattr(predictor, (spec.extra.get("cog") or {}).get("method") or "predict")
    results: list[Any] = []
    for case in cases:
        try:
            results.append(plain(method(**_arguments(spec, case, method))))
        except Exception as exc:  # noqa: BLE001 - the user's code (or cog's input checks) raised
            results.append({"error": f"{type(exc).__name__}: {exc}"})
    return results
