"""Source side of ``falmigrate verify`` for cog: run the predictor the way cog runs it, offline.

The module is loaded with cog's own loader (``cog.predictor.load_predictor_from_ref``, which also
instantiates a class; a function predictor is used as it is), ``setup()`` runs once (with ``weights``
from ``COG_WEIGHTS`` when it takes them, as cog does), then ``predict``/``run`` per case; cases for
``/train`` call cog.yaml's training function the same way. The working directory is the cog project's
folder, as cog's ``/src``. Each case's input goes through cog's own input
handling (``cog._inspector.create_predictor`` reads the signature, ``check_input`` coerces types, fills
``Input`` defaults and enforces ge/le/lengths/regex/choices; ``data:``/http URLs for ``Path`` inputs are
downloaded) — deliberately not the importer's reading, so a constraint or default the importer got
wrong shows up as a difference. Iterators are collected; a cog ``BaseModel`` becomes a dict of its fields.
Runs inside the verify worker subprocess (cwd = the source root), all cases in one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import io
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from falmigrate.errors import VerifyError
from falmigrate.spec import AppSpec, CogDetails

TRAIN_PATH = "/train"


def _load(root: Path, ref: str) -> Any:
    from cog.predictor import load_predictor_from_ref

    folder = str((root / ref.split(":", 1)[0]).parent.resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        return load_predictor_from_ref(ref)
    except Exception as exc:  # the user's module failed to import: the source side cannot start
        raise VerifyError(f"cannot load {ref} under cog: {type(exc).__name__}: {exc}") from exc


@dataclass
class _Target:
    """One callable cog runs: the predictor (``/``) or the trainer (``/train``)."""

    file: str
    name: str
    method: str | None  # the method of a class predictor; None for a function
    loaded: Any = None
    inputs: dict[str, Any] | None = None

    def callable(self) -> Any:
        return getattr(self.loaded, self.method) if self.method else self.loaded


def _targets(spec: AppSpec) -> dict[str, _Target]:
    cog = spec.details_as(CogDetails)
    file = cog.file if cog else spec.source.entry_file or ""
    name = (cog.class_name or cog.method) if cog else spec.class_name
    method = (cog.method if cog.class_name else None) if cog else "predict"
    found = {"/": _Target(file, name, method)}
    if cog and cog.train_file and cog.train_function:
        found[TRAIN_PATH] = _Target(cog.train_file, cog.train_function, None)
    return found


def _setup(predictor: Any) -> None:
    from cog.predictor import extract_setup_weights, has_setup_weights

    if inspect.isfunction(predictor) or not hasattr(predictor, "setup"):
        return  # function predictors and trainers have no setup
    result = predictor.setup(weights=extract_setup_weights(predictor)) if has_setup_weights(predictor) \
        else predictor.setup()
    if inspect.iscoroutine(result):
        asyncio.run(result)


def _input_schema(target: _Target) -> dict[str, Any]:
    """cog's own reading of the inputs (types, defaults, constraints), not falmigrate's: the source side
    must not share the importer's mistakes, or the diff could not catch them."""
    from cog._inspector import create_predictor

    module = Path(target.file).name.removesuffix(".py")
    try:
        return create_predictor(module, target.name).inputs
    except Exception as exc:  # cog refuses the signature (e.g. an input without annotation)
        raise VerifyError(f"cog cannot read the inputs of {module}: {type(exc).__name__}: {exc}") from exc


def _prepare(root: Path, target: _Target) -> _Target:
    if target.loaded is None:
        target.loaded = _load(root, f"{target.file}:{target.name}")
        target.inputs = _input_schema(target)
        _setup(target.loaded)
    return target


def _fetch(value: Any) -> Any:
    """URL inputs cog's worker downloads before predict runs (``URLPath.convert()``)."""
    if isinstance(value, list):
        return [_fetch(item) for item in value]
    return value.convert() if hasattr(value, "convert") and callable(value.convert) else value


class _Refused(Exception):
    """cog's input check refused the case (what cog's HTTP server answers with 422)."""


def _arguments(inputs: dict[str, Any], case: dict[str, Any]) -> dict[str, Any]:
    """The case's input through cog's input check: type coercion, Input defaults, ge/le, lengths,
    regex, choices — what cog's server does before predict (unknown keys are ignored, as cog does)."""
    from cog._inspector import check_input

    try:
        with contextlib.redirect_stdout(io.StringIO()):  # cog prints a warning for unknown keys
            kwargs = check_input(inputs, dict(case.get("input") or {}))
    except (ValueError, TypeError) as exc:
        raise _Refused(str(exc)) from exc
    return {name: _fetch(value) for name, value in kwargs.items()}  # a failed download fails the case


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
    """One value per case (a case that raised gives ``{"error": "..."}``); ``root`` is the source
    directory the user named, the cog project is ``spec.source.root`` inside it."""
    project = (Path(root) / spec.source.root).resolve()
    os.chdir(project)  # cog runs the predictor in /src, its project folder
    os.environ.update(image_environment(spec))
    # cog imports it with no CLI arguments
    sys.argv = [str(project / (spec.source.entry_file or "predict.py"))]
    targets = _targets(spec)
    results: list[Any] = []
    for case in cases:
        target = targets.get(str(case.get("endpoint", "/")))
        if target is None:
            results.append({"error": f"no cog callable serves {case.get('endpoint')}", "kind": "failed"})
            continue
        _prepare(project, target)
        try:
            results.append(plain(target.callable()(**_arguments(target.inputs or {}, case))))
        except _Refused as exc:
            results.append({"error": f"ValueError: {exc}", "kind": "refused"})
        except Exception as exc:  # noqa: BLE001 - the user's code raised
            results.append({"error": f"{type(exc).__name__}: {exc}", "kind": "failed"})
    return results


def image_environment(spec: AppSpec) -> dict[str, str]:
    """cog.yaml's ``environment`` (secret-looking names excluded): the image sets it before the predictor
    module is imported, under cog and on fal alike, so both sides of verify see it."""
    return {key: value for key, value in spec.image.env.items() if key != "PIP_EXTRA_INDEX_URL"}


def fal_side_env(src: Path, spec: AppSpec) -> dict[str, str]:
    return image_environment(spec)


def default_cases(spec: AppSpec) -> list[dict[str, Any]] | None:
    """One call with an empty input when every input has a default: each side then fills in its own
    defaults (cog from the predictor's ``Input(default=…)``, fal from the request model), so a default
    the conversion got wrong shows up as a difference instead of being sent to both sides."""
    endpoint = spec.endpoints[0] if spec.endpoints else None
    if endpoint is None or any(f.required for f in endpoint.inputs):
        return None
    name = endpoint.handler.rsplit(".", 1)[-1]
    return [{"name": f"{name}-defaults", "endpoint": endpoint.path, "method": "POST", "input": {}}]
