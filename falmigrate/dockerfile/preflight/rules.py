"""The preflight's rule ids (registered in falmigrate/rules/rules.toml, which holds their default
severity, title and advice) and the Finding helper."""

from __future__ import annotations

from falmigrate import rules
from falmigrate.spec import Finding, Location
from falmigrate.spec.models import Severity

RULE_IDS = ("FM050", "FM051", "FM052", "FM053", "FM054", "FM055", "FM056", "FM057", "FM058", "FM059")


def finding(rule: str, path: str, line: int | None, message: str, remediation: str | None = None,
            severity: Severity | None = None) -> Finding:
    """A finding of ``rule`` at path:line; the severity is the registry's unless the caller knows better."""
    return Finding(rule=rule, severity=severity or rules.severity(rule), message=message,
                   remediation=remediation or rules.lookup(rule).what_to_do,
                   location=Location(file=path, line=line))
