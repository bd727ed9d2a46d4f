"""The migration report, twice: ``MIGRATION.md`` for people and ``report.json`` for tools.

Both list every Decision (what was mapped), every Finding (what was not: file:line, severity,
remediation) and every fal knob with its value or "fal default". Deterministic: no timestamps,
sorted keys, paths relative to the source root.
"""

from __future__ import annotations

import json
from typing import Any

from falmigrate import __version__
from falmigrate.render import MARKER, render_template
from falmigrate.spec import AppSpec, Finding, ServedApp

TEMPLATE = "MIGRATION.md.j2"
_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
_KNOBS = (
    ("hardware", ("machine_type", "num_gpus")),
    ("scaling", ("keep_alive", "min_concurrency", "max_concurrency", "concurrency_buffer",
                 "concurrency_buffer_perc", "max_multiplexing", "scaling_delay", "startup_timeout",
                 "request_timeout", "skip_retry_conditions")),
)


def all_findings(spec: AppSpec) -> list[Finding]:
    """The spec's findings plus what the template app itself could not do; errors first, stable."""
    from falmigrate.render import app as app_render

    found = [*spec.findings, *(app_render.findings(spec) if spec.server is None else [])]
    return sorted(found, key=lambda f: (_SEVERITY_ORDER.get(f.severity, 3), f.rule,
                                        str(f.location) if f.location else "", f.message))


def _code(value: Any) -> str:
    return "`" + str(value).replace("`", "'") + "`"


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def knob_rows(spec: AppSpec) -> list[dict[str, str]]:
    rows = []
    for group, names in _KNOBS:
        section = getattr(spec, group)
        for name in names:
            value = getattr(section, name)
            shown = "fal default" if value is None else _code(json.dumps(value))
            rows.append({"name": name, "value": shown})
    rows.append({"name": "secrets",
                 "value": _code(json.dumps(sorted(spec.secrets))) if spec.secrets else "none"})
    mounts = sorted({v.fal_path for v in spec.volumes})
    rows.append({"name": "data_mounts", "value": _code(json.dumps(mounts)) if mounts else "none"})
    return rows


def _finding_row(f: Finding) -> dict[str, str]:
    return {"rule": f.rule, "severity": f.severity, "location": _code(f.location) if f.location else "-",
            "message": _cell(f.message), "remediation": _cell(f.remediation) or "-"}


def _endpoint_rows(spec: AppSpec) -> list[dict[str, str]]:
    return [{"path": _code(e.path), "handler": _code(e.handler),
             "inputs": ", ".join(f"{_code(f.name)}: {f.type}" for f in e.inputs) or "none",
             "output": f"{e.output}" + (" (stream)" if e.output_mode == "stream" else "")}
            for e in spec.endpoints]


def _runs(app: ServedApp) -> str:
    """How fal runs one app, in a sentence of the deploy table."""
    if app.route == "image_only" and app.server is not None:
        command = " ".join(app.server.command).replace("{port}", str(app.server.port))  # verify's port mark
        return (f"the image's own server (`{_cell(command)}`) on port {app.server.port}; "
                f"health check GET `{app.server.health.path}`")
    return f"`fal_app:{app.class_name}` imported inside the image (`python_entry_point`)"


def render_markdown(spec: AppSpec, *, image_ref: str | None = None, native_server: bool = False) -> str:
    """``native_server``: the spec's HTTP server was rewritten into fal endpoints (no server process runs)."""
    from falmigrate.render import cog_compat
    from falmigrate.render.pyproject import build_secret_ids

    findings = all_findings(spec)
    return render_template(
        TEMPLATE,
        marker=f"<!-- {MARKER[2:]} {__version__} from {spec.source.platform} project; edit freely. -->",
        name=spec.name,
        platform=spec.source.platform,
        entry=" ".join(filter(None, [spec.source.entry_file, spec.source.entry_symbol])) or "-",
        apps=[{"name": app.name, "runs": _runs(app)} for app in spec.served_apps()],
        native_server=spec.server if native_server else None,
        compat=cog_compat.migration(spec),  # a cog app served by cog's own HTTP server (--route compat)
        endpoints=_endpoint_rows(spec),
        decisions=[{"source": _cell(d.source), "target": _cell(d.target), "note": _cell(d.note) or "-",
                    "location": _code(d.location) if d.location else "-"} for d in spec.decisions],
        findings=[_finding_row(f) for f in findings],
        errors=sum(f.severity == "error" for f in findings),
        warnings=sum(f.severity == "warning" for f in findings),
        knobs=knob_rows(spec),
        image_ref=image_ref,
        secrets=sorted({s for app in spec.served_apps() for s in app.secrets}),
        build_secrets=[] if image_ref else build_secret_ids(spec),
    )


def report_data(spec: AppSpec, *, image_ref: str | None = None) -> dict[str, Any]:
    findings = all_findings(spec)
    return {
        "generated_by": f"falmigrate {__version__}",
        "platform": spec.source.platform,
        "image_ref": image_ref,
        "spec": spec.model_dump(mode="json"),
        "findings": [f.model_dump(mode="json") for f in findings],
        "decisions": [d.model_dump(mode="json") for d in spec.decisions],
        "summary": {
            "endpoints": len(spec.endpoints),
            "decisions": len(spec.decisions),
            "findings": {sev: sum(f.severity == sev for f in findings)
                         for sev in ("error", "warning", "info")},
        },
    }


def render_json(spec: AppSpec, *, image_ref: str | None = None) -> str:
    return (json.dumps(report_data(spec, image_ref=image_ref), indent=2, sort_keys=True,
                       ensure_ascii=False) + "\n")
