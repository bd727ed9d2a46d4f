"""The platforms falmigrate converts from, one entry each: the single list the rest of the code reads.

An entry names the platform's importer, codemod and verify runner by dotted path (imported only when
used, so one platform's broken optional dependency cannot break the others), the directories its
project scans skip, the rule-id range its findings use, and the words the CLI says about it. Adding a
platform is a package (importer, codemod, verify runner) plus one entry here plus fixtures.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

# Directories no scan of a user's project looks into (VCS data, virtualenvs, caches).
_COMMON_SKIP = frozenset({".git", ".venv", "venv", "node_modules", "__pycache__"})


@dataclass(frozen=True)
class RuleRange:
    """Rule ids ``FM<first>`` … ``FM<last>`` (inclusive)."""

    first: int
    last: int

    def __contains__(self, rule_id: object) -> bool:
        number = rule_number(rule_id) if isinstance(rule_id, str) else None
        return number is not None and self.first <= number <= self.last

    def __str__(self) -> str:
        return f"FM{self.first:03d}–FM{self.last:03d}"


@dataclass(frozen=True)
class PlatformInfo:
    name: str  # the `--from` value and spec.source.platform
    display_name: str  # how messages name it ("RunPod")
    importer: str  # "module:Class" implementing importers.base.Importer
    codemod: str | None  # "module:function" rewriting the user's module, or None (template only)
    verify_runner: str  # module with run_source(root, spec, cases) (see verify/runners/__init__.py)
    skip_dirs: frozenset[str]  # directory names the importer's project scans do not enter
    rules: RuleRange
    marker: str  # what makes a directory a project of this platform (for hints)
    guide: str  # the user guide in docs/
    # `convert --route compat`: the platform's own HTTP API server the image runs instead of a fal app,
    # so the model's existing clients keep working (None: the route is not offered) ...
    compat_server: str | None = None
    # ... or why it is refused although the platform has a local server (said in the exit-2 message)
    compat_refusal: str | None = None


SHARED_RULES = RuleRange(1, 99)  # ids any platform (or the renderer) may report

PLATFORMS: tuple[PlatformInfo, ...] = (
    PlatformInfo(
        name="cog", display_name="cog", importer="falmigrate.importers.cog:CogImporter",
        codemod="falmigrate.codemods.cog:rewrite", verify_runner="falmigrate.verify.runners.cog",
        skip_dirs=_COMMON_SKIP | {".cog"}, rules=RuleRange(100, 199),
        marker="a cog.yaml with `predict:`", guide="docs/from-replicate.md",
        compat_server="cog's own HTTP server (`python -m cog.server.http`: POST "
                      "/predictions, GET /health-check)"),
    PlatformInfo(
        name="modal", display_name="Modal", importer="falmigrate.importers.modal:ModalImporter",
        codemod="falmigrate.codemods.modal:rewrite", verify_runner="falmigrate.verify.runners.modal",
        skip_dirs=_COMMON_SKIP | {".tox", "build", "dist", ".mypy_cache"}, rules=RuleRange(200, 299),
        marker="a Python file that creates a `modal.App`", guide="docs/from-modal.md"),
    PlatformInfo(
        name="runpod", display_name="RunPod", importer="falmigrate.importers.runpod:RunpodImporter",
        codemod="falmigrate.codemods.runpod:rewrite", verify_runner="falmigrate.verify.runners.runpod",
        skip_dirs=_COMMON_SKIP | {"site-packages", "tests", "test", "build", "dist"},
        rules=RuleRange(300, 399),
        marker="a handler file calling `runpod.serverless.start`", guide="docs/from-runpod.md",
        compat_refusal=(
            "RunPod's local API server (`--rp_serve_api`) is a development tool, by "
            "runpod's own description: /run only records the job in the process's memory and "
            "the handler runs when /status/{id} is polled, /stream/{id} collects the whole output before "
            "answering, and job ids live in one process, so a second fal runner answers "
            "\"Job ID not found\"; RunPod's production API is its cloud service, not this server. Convert "
            "without --route (a fal app that calls the handler); see docs/from-runpod.md")),
    PlatformInfo(
        name="docker", display_name="Docker", importer="falmigrate.importers.dockerfile:DockerImporter",
        # the codemod runs only with `convert --native`; otherwise the app comes from a template
        codemod="falmigrate.codemods.docker_native:rewrite", verify_runner="falmigrate.verify.runners.docker",
        skip_dirs=_COMMON_SKIP, rules=RuleRange(400, 499),
        marker="a Dockerfile whose CMD/ENTRYPOINT starts a server", guide="docs/from-docker.md"),
)

NAMES: tuple[str, ...] = tuple(p.name for p in PLATFORMS)
_BY_NAME = {p.name: p for p in PLATFORMS}


def rule_number(rule_id: str) -> int | None:
    """102 for ``"FM102"``; None for anything that is not ``FM`` and three digits."""
    digits = rule_id[2:] if rule_id.startswith("FM") else ""
    return int(digits) if len(digits) == 3 and digits.isdigit() else None


def get(name: str) -> PlatformInfo:
    """The entry of ``name``; KeyError for a name that is not a platform (callers word the error)."""
    return _BY_NAME[name]


def find(name: str) -> PlatformInfo | None:
    return _BY_NAME.get(name)


def resolve(target: str) -> Any:
    """The object a ``"module:attribute"`` path names (imports the module now)."""
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def rule_range(platform: str) -> RuleRange:
    """The id range of ``platform``, or the shared range for ``"shared"``."""
    return SHARED_RULES if platform == "shared" else get(platform).rules


def platform_of_rule(rule_id: str) -> str | None:
    """The platform whose range holds ``rule_id`` (``"shared"`` for the shared range), else None."""
    if rule_id in SHARED_RULES:
        return "shared"
    return next((p.name for p in PLATFORMS if rule_id in p.rules), None)


# Words the CLI and error messages use, so they list exactly the registered platforms.

def choices(*, auto: bool = True) -> str:
    """``auto | cog | modal | runpod | docker`` (the ``--from`` values)."""
    return " | ".join((("auto",) if auto else ()) + NAMES)


def from_help() -> str:
    return f"{choices()} (default: auto-detect)."


def display_list(conjunction: str = "or") -> str:
    """``cog, Modal, RunPod or Docker``."""
    names = [p.display_name for p in PLATFORMS]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {conjunction} {names[-1]}"


def compat_platforms() -> list[PlatformInfo]:
    """The platforms ``convert --route compat`` serves with their own HTTP API server."""
    return [p for p in PLATFORMS if p.compat_server is not None]


def markers() -> str:
    """What each platform's projects look like, for a hint when none is recognised."""
    return "; ".join(f"{p.display_name}: {p.marker}" for p in PLATFORMS)
