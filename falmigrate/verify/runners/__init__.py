"""Source-side runners of ``falmigrate verify``, one module per platform (``runners/<platform>.py``,
named by the platform's entry in ``falmigrate.platforms``).

Each module defines ``run_source(root, spec, cases) -> list`` (one value per case, ``{"error": str}``
for a case that raised), which runs the user's code the platform's own way. A module may also define
``fal_side_env(src, spec) -> dict`` with environment variables the fal side's worker needs (e.g. a
server's port), and ``default_cases(spec) -> list | None`` for the cases to run when none are given
(e.g. empty inputs, so each side applies its own defaults), and ``run_output(out, spec, cases) -> list``
for image-only apps (it runs the output's own server locally and sends it the cases). Modules are imported
lazily, so one platform's missing SDK cannot break another.

``FALMIGRATE_VERIFY_RUNNERS="platform=dotted.module,..."`` replaces a platform's runner module (for
out-of-tree runners and tests); the module must be importable from the worker's environment.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType
from typing import Any

from falmigrate import platforms
from falmigrate.errors import VerifyError
from falmigrate.spec import AppSpec

OVERRIDE_ENV = "FALMIGRATE_VERIFY_RUNNERS"


def _overrides() -> dict[str, str]:
    pairs = (item.partition("=") for item in os.environ.get(OVERRIDE_ENV, "").split(",") if item.strip())
    return {key.strip(): value.strip() for key, _, value in pairs if value.strip()}


def runner_module(platform: str) -> ModuleType:
    info = platforms.find(platform)
    name = _overrides().get(platform) or (info.verify_runner if info else None)
    if name is None:
        raise VerifyError(f"no verify runner for {platform} projects in this build")
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            raise VerifyError(f"no verify runner for {platform} projects in this build") from None
        raise VerifyError(f"the {platform} verify runner cannot start: {exc}") from exc


def run_source(platform: str, root: Path, spec: AppSpec, cases: list[dict[str, Any]]) -> list[Any]:
    results = runner_module(platform).run_source(Path(root), spec, cases)
    if len(results) != len(cases):
        raise VerifyError(f"the {platform} runner returned {len(results)} result(s) for {len(cases)} case(s)")
    return list(results)


def run_output(platform: str, out: Path, spec: AppSpec, cases: list[dict[str, Any]]) -> list[Any]:
    """The output side of image-only apps (the image's own server run locally), when the runner has one."""
    hook = getattr(runner_module(platform), "run_output", None)
    if hook is None:
        raise VerifyError(f"the {platform} verify runner cannot run image-only apps")
    results = hook(Path(out), spec, cases)
    if len(results) != len(cases):
        raise VerifyError(f"the {platform} runner returned {len(results)} result(s) for {len(cases)} case(s)")
    return list(results)


def fal_side_env(platform: str, src: Path, spec: AppSpec) -> dict[str, str]:
    hook = getattr(runner_module(platform), "fal_side_env", None)
    return dict(hook(Path(src), spec)) if hook else {}


def default_cases(platform: str, spec: AppSpec) -> list[dict[str, Any]] | None:
    """The runner's own default cases, or None to use ``verify.default_cases``."""
    hook = getattr(runner_module(platform), "default_cases", None)
    return hook(spec) if hook else None
