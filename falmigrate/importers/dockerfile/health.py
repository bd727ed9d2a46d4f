"""The ``health_check`` fal probes an image-only app with: a path, and the Dockerfile HEALTHCHECK's timing.

fal sends ``GET <path>`` to the server's port until it answers, then keeps probing; a path the server
does not serve keeps the app from ever starting. The path comes from, in order: the URL a
``HEALTHCHECK`` fetches (``curl -f http://localhost:8000/healthz``), a health-like GET route in the
server's code (``/health``, ``/healthz``, ``/ping``, ``/ready``…), the launcher's own health route
(TorchServe ``/ping``, TGI and vLLM ``/health``, LitServe ``/health``), else ``/`` with a finding.
The HEALTHCHECK's ``--start-period``, ``--timeout`` and ``--retries`` become ``start_period_seconds``,
``timeout_seconds`` and ``failure_threshold``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from falmigrate.dockerfile import Instruction, ParsedDockerfile, Stage
from falmigrate.importers.dockerfile.routes import HEALTH_CANDIDATES, ModuleInfo, health_route
from falmigrate.importers.dockerfile.server import DEFAULT_HEALTH, Recognised
from falmigrate.spec import Finding, HealthCheck, Location

NO_HEALTH_RULE = "FM402"
COMMAND_HEALTHCHECK_RULE = "FM411"
_URL = re.compile(r"https?://[^/\s'\"]+(/[^\s'\"]*)?")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_LAUNCHER_HEALTH = {"litserve": "/health"}


@dataclass
class HealthChoice:
    check: HealthCheck
    source: str
    location: Location | None = None
    findings: list[Finding] = field(default_factory=list)


def seconds(duration: str) -> int | None:
    """A Docker duration (``30s``, ``1m30s``, ``500ms``) in whole seconds, rounded up; None if unreadable."""
    parts = _DURATION.findall(duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        return None
    total = sum(float(number) * _SECONDS[unit] for number, unit in parts)
    return max(1, int(-(-total // 1))) if total > 0 else 0


def _healthcheck(parsed: ParsedDockerfile) -> tuple[Stage, Instruction] | None:
    """The HEALTHCHECK the final image has (the last one along its stage chain)."""
    found = [(stage, ins) for stage in parsed.chain() for ins in stage.instructions
             if ins.instruction == "HEALTHCHECK"]
    return found[-1] if found else None


def _timing(ins: Instruction) -> dict[str, int]:
    names = {"start-period": "start_period_seconds", "timeout": "timeout_seconds"}
    out = {target: value for flag, target in names.items()
           if flag in ins.flags and (value := seconds(ins.flags[flag])) is not None}
    if ins.flags.get("retries", "").isdigit():
        out["failure_threshold"] = int(ins.flags["retries"])
    return out


def _code_route(info: ModuleInfo | None, app_path: Path | None) -> str | None:
    if info is not None:
        return health_route(info.routes)
    if app_path is None or app_path.suffix == ".py" or not app_path.is_file():
        return None
    text = app_path.read_text(encoding="utf-8", errors="replace")  # a non-Python server: its route strings
    named = set(re.findall(r"['\"`](/[A-Za-z_]+)['\"`]", text))
    return next((path for path in HEALTH_CANDIDATES if path in named), None)


def _from_code(rec: Recognised, info: ModuleInfo | None, app_path: Path | None, loc: Location,
               app_rel: str | None) -> HealthChoice | None:
    path = _code_route(info, app_path)
    if path is not None:
        line = next((r.line for r in info.routes if r.path == path), None) if info is not None else None
        where = Location(file=app_rel or rec.app_file or loc.file, line=line)
        return HealthChoice(HealthCheck(path=path), f"the health route {path} in {where.file}", where)
    launcher = info.launch.launcher if info is not None and info.launch is not None else rec.kind
    known = DEFAULT_HEALTH.get(rec.kind) or _LAUNCHER_HEALTH.get(launcher)
    return HealthChoice(HealthCheck(path=known), f"{launcher}'s own health route", loc) if known else None


def health_check(parsed: ParsedDockerfile, rec: Recognised, info: ModuleInfo | None, app_path: Path | None,
                 loc: Location, app_rel: str | None = None) -> HealthChoice:
    """The health check of the image's server (``loc``: the command's line, for findings; ``app_rel``: the
    server's code file relative to the source root)."""
    found = _healthcheck(parsed)
    timing: dict[str, int] = {}
    findings: list[Finding] = []
    if found is not None and not found[1].arguments.strip().upper().startswith("NONE"):
        _, ins = found
        timing = _timing(ins)
        where = Location(file=parsed.path, line=ins.line)
        url = _URL.search(ins.arguments)
        if url is not None:
            check = HealthCheck(path=url.group(1) or "/", **timing)
            return HealthChoice(check, f"the HEALTHCHECK URL ({where})", where)
        findings.append(Finding(rule=COMMAND_HEALTHCHECK_RULE, severity="info", location=where,
                                message="the HEALTHCHECK runs a command; fal probes an HTTP path instead",
                                remediation="serve a GET health route, or check that the chosen path "
                                            "answers"))
    choice = _from_code(rec, info, app_path, loc, app_rel)
    if choice is None:
        choice = HealthChoice(HealthCheck(path="/"), "no health route was found", loc)
        findings.append(Finding(rule=NO_HEALTH_RULE, severity="info", location=loc,
                                message="no health route found; fal's health check probes GET /",
                                remediation="add a GET /health route or a HEALTHCHECK to the Dockerfile"))
    choice.check = choice.check.model_copy(update=timing)
    choice.findings = findings + choice.findings
    return choice
