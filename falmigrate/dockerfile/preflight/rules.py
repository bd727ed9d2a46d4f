"""The preflight's rule ids (FM050–FM069), their default severity and title, and the Finding helper."""

from __future__ import annotations

from falmigrate.spec import Finding, Location
from falmigrate.spec.models import Severity

RULES: dict[str, tuple[Severity, str]] = {
    "FM050": ("error", "the Dockerfile cannot be read"),
    "FM051": ("error", "a RUN uses a build-context file that is copied in only later in the stage"),
    "FM052": ("error", "a COPY/ADD source is not in the build context"),
    "FM053": ("error", "COPY --from (or RUN --mount from=) names no stage"),
    "FM054": ("warning", "an ARG inside single quotes in a RUN is not expanded by the shell"),
    "FM055": ("error", "ENV PATH drops the image's $PATH"),
    "FM056": ("error", "pip or python is used before the stage has a Python"),
    "FM057": ("warning", "the image's Python is older than 3.10 (fal needs 3.10 or newer)"),
    "FM058": ("warning", "a variable declared by ARG is not in scope where it is used, so it is empty"),
    "FM059": ("error", "CMD/ENTRYPOINT runs a build-context script that no COPY brings into the image"),
}


def finding(rule: str, path: str, line: int | None, message: str, remediation: str | None = None,
            severity: Severity | None = None) -> Finding:
    return Finding(rule=rule, severity=severity or RULES[rule][0], message=message, remediation=remediation,
                   location=Location(file=path, line=line))
