"""What MIGRATION.md says about a cog app on the compatibility route (``convert --route compat``).

The app serves cog's own HTTP API, so the report tells the model's clients what they call now (the fal
URL + ``/predictions`` with fal's key), what differs from Replicate's hosted API, and how to move to the
native route later. The words live in ``templates/MIGRATION.md.j2``; this module supplies the values.
"""

from __future__ import annotations

import json
from typing import Any

from falmigrate.spec import AppSpec, CogDetails, Endpoint, InputField

_SAMPLES = {"int": 1, "float": 0.5, "bool": True, "file": "https://example.com/input.png",
            "image": "https://example.com/input.png"}


def _sample(field: InputField) -> Any:
    if field.default is not None:
        return field.default
    ref = field.type.item if field.type.kind in ("optional", "list") and field.type.item else field.type
    if ref.kind == "literal" and ref.choices:
        return ref.choices[0]
    return _SAMPLES.get(ref.kind, "…")


def example_body(endpoint: Endpoint, limit: int = 2) -> str:
    """A request body a Replicate client sends: the first inputs, required ones first."""
    fields = sorted(endpoint.inputs, key=lambda f: not f.required)[:limit]
    return json.dumps({"input": {f.name: _sample(f) for f in fields}})


def migration(spec: AppSpec) -> dict[str, Any] | None:
    """The template values of the compat section, or None for any other app."""
    details = spec.details_as(CogDetails)
    if details is None or details.compat is None or spec.server is None or not spec.endpoints:
        return None
    endpoint = spec.endpoints[0]
    return {
        "app": spec.name, "cog_version": details.compat.cog_version,
        "server": "coglet, cog's Rust server" if details.compat.server == "coglet"
        else "cog's FastAPI server",
        "command": " ".join(spec.server.command), "port": spec.server.port, "path": endpoint.path,
        "health": spec.server.health.path, "example": example_body(endpoint),
        "files": details.compat.file_outputs, "stream": endpoint.output_mode == "stream",
        "concurrency": details.compat.max_concurrency, "slots": details.compat.slots,
        "schema_file": details.compat.schema_file,
    }
