"""A static check of a Dockerfile before it is written: the mistakes that make a build fail or an
image not run, each a Finding with file:line and a rule id (FM050–FM059, ``rules.RULE_IDS``; their
severity, title and advice are in falmigrate/rules/rules.toml).

``preflight`` never raises on the file's content: a file that cannot be read is itself a finding
(FM050). ``context_files`` (paths relative to the build context, "/"-separated, after .dockerignore)
enables the checks that need to know what the build context holds (FM052, FM059, and sharper
COPY matching for FM051).
"""

from __future__ import annotations

from falmigrate.dockerfile.preflight.files import (
    context_findings,
    launcher_findings,
    order_findings,
    reference_findings,
)
from falmigrate.dockerfile.preflight.python import python_findings
from falmigrate.dockerfile.preflight.rules import RULE_IDS, finding
from falmigrate.dockerfile.preflight.variables import path_findings, scope_findings
from falmigrate.dockerfile.reader import parse_text
from falmigrate.errors import SourceError
from falmigrate.spec import Finding

__all__ = ["RULE_IDS", "preflight"]


def preflight(text: str, path: str = "Dockerfile", context_files: set[str] | None = None) -> list[Finding]:
    """Every finding for the Dockerfile ``text`` (``path`` is the file's name in the findings), by line."""
    try:
        model = parse_text(text, path, check_references=False)
    except SourceError as exc:
        return [finding("FM050", path, exc.line, exc.message, remediation=exc.hint)]
    findings = [
        *order_findings(model, context_files),
        *context_findings(model, context_files),
        *reference_findings(model),
        *launcher_findings(model, context_files),
        *path_findings(model),
        *scope_findings(model),
        *python_findings(model),
    ]
    return sorted(findings, key=lambda f: (f.location.line or 0 if f.location else 0, f.rule))
