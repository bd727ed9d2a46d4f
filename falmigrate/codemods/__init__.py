"""Rewrites of the user's own module into a fal app (libcst; comments and formatting kept).

Each platform has one ``rewrite(spec, root) -> RewriteResult`` that applies that platform's rules
(stable ids FM001…, explicit order, import edits at the end). Platforms without user code to keep
(plain Docker servers) have none: their ``fal_app.py`` comes from a template.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

from falmigrate.spec import AppSpec, Decision, Finding

_REWRITERS: dict[str, str] = {
    "cog": "falmigrate.codemods.cog:rewrite",
    "modal": "falmigrate.codemods.modal:rewrite",
    "runpod": "falmigrate.codemods.runpod:rewrite",
    "docker": "falmigrate.codemods.docker_native:rewrite",  # only with --native
}


@dataclass
class RewriteResult:
    """The whole new ``fal_app.py`` (without the generated-file header) and what the rewrite found."""

    code: str
    findings: list[Finding] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)


def rewrite(spec: AppSpec, root: Path, **options: object) -> RewriteResult | None:
    """Run the platform's rewrite, or return None when the app is rendered from a template."""
    target = _REWRITERS.get(spec.source.platform)
    if target is None or (spec.server is not None and not options.get("native")):
        return None
    module_name, _, func_name = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, func_name)(spec, root, **options)
