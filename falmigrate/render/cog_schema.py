"""cog's OpenAPI schema (``.cog/openapi_schema.json``) for the image of a ``--route compat`` app.

cog's server from 0.17 on (coglet) validates every request against the schema file ``cog build`` writes
into the image — types, required inputs, ``ge``/``le``, lengths, regex, choices — answers 422 for
invalid input, strips unknown keys, and serves the file as ``/openapi.json``. Without the file it accepts
anything. ``cog build`` (0.23) produces it statically from the predictor's source; here it comes from
the importer's static reading of the same signature (the spec's endpoint), in the layout of cog's
generator (OpenAPI 3.0.2: ``Input`` with ``x-order`` per field, one enum schema per field with choices,
``Output``, the prediction request/response envelopes and cog's paths).
"""

from __future__ import annotations

import json
from typing import Any

from falmigrate.spec import AppSpec, CogDetails, Endpoint, InputField, TypeRef

_PRIMITIVES: dict[str, dict[str, Any]] = {
    "str": {"type": "string"}, "int": {"type": "integer"}, "float": {"type": "number"},
    "bool": {"type": "boolean"}, "file": {"type": "string", "format": "uri"},
    "image": {"type": "string", "format": "uri"}, "json": {"type": "object"}, "model": {"type": "object"},
    "secret": {"type": "string", "format": "password", "writeOnly": True, "x-cog-secret": True},
}
_CONSTRAINTS = (("ge", "minimum"), ("le", "maximum"), ("min_length", "minLength"),
                ("max_length", "maxLength"), ("pattern", "pattern"))
_ENUM_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}
STATUSES = ["starting", "processing", "succeeded", "canceled", "failed"]


def title_case(name: str) -> str:
    """cog's titles: ``max_tokens`` → ``Max Tokens``."""
    return " ".join(part[:1].upper() + part[1:] for part in name.split("_") if part)


def json_type(ref: TypeRef) -> dict[str, Any]:
    """The JSON Schema of a value of ``ref`` as cog writes it; an unknown type constrains nothing."""
    if ref.kind == "list":
        return {"type": "array", "items": json_type(ref.item) if ref.item is not None else {}}
    if ref.kind == "optional" and ref.item is not None:
        return {**json_type(ref.item), "nullable": True}
    if ref.kind == "literal":
        return {"enum": list(ref.choices or [])}
    return dict(_PRIMITIVES.get(ref.kind, {}))


def _enum_type(choices: list[Any]) -> str:
    kinds = {_ENUM_TYPES.get(type(choice), "string") for choice in choices}
    return kinds.pop() if len(kinds) == 1 else "string"


def _property(order: int, field: InputField, enums: dict[str, Any]) -> dict[str, Any]:
    ref, nullable = field.type, False
    if ref.kind == "optional" and ref.item is not None:
        ref, nullable = ref.item, True
    prop: dict[str, Any] = {"x-order": order}
    if ref.kind == "literal":
        choices = list(ref.choices or [])
        enums[field.name] = {"title": field.name, "description": "An enumeration.", "enum": choices,
                             "type": _enum_type(choices)}
        prop["allOf"] = [{"$ref": f"#/components/schemas/{field.name}"}]
    else:
        prop.update({"title": title_case(field.name), **json_type(ref)})
    if not field.required and (field.default is not None or nullable):
        prop["default"] = field.default
    if nullable:
        prop["nullable"] = True
    if field.description:
        prop["description"] = field.description
    for ours, theirs in _CONSTRAINTS:
        value = getattr(field, ours)
        if value is not None:
            prop[theirs] = value
    if field.deprecated:
        prop["deprecated"] = True
    return prop


def input_schema(endpoint: Endpoint) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the ``Input`` schema, the enum schemas of fields with choices, by field name)."""
    enums: dict[str, Any] = {}
    properties = {field.name: _property(order, field, enums) for order, field in enumerate(endpoint.inputs)}
    schema: dict[str, Any] = {"title": "Input", "type": "object", "properties": properties}
    required = [field.name for field in endpoint.inputs if field.required]
    if required:
        schema["required"] = required
    return schema, enums


def output_schema(endpoint: Endpoint) -> dict[str, Any]:
    ref = endpoint.output
    if ref.kind == "model":
        fields = ref.fields or []
        schema: dict[str, Any] = {"type": "object", "properties": {
            f.name: {"title": title_case(f.name), **json_type(f.type)} for f in fields}}
        required = [f.name for f in fields if f.required]
        schema.update({"required": required} if required else {})
    else:
        schema = json_type(ref)
    if endpoint.output_mode == "stream":
        schema = {"type": "array", "items": schema, "x-cog-array-type": "iterator"}
    return {"title": "Output", **schema}


def _envelopes() -> dict[str, Any]:
    """cog's fixed prediction request/response envelopes around Input and Output."""
    def text(title: str, **extra: Any) -> dict[str, Any]:
        return {"title": title, "type": "string", **extra}

    return {
        "PredictionRequest": {"title": "PredictionRequest", "type": "object", "properties": {
            "id": text("Id"), "input": {"$ref": "#/components/schemas/Input"}}},
        "PredictionResponse": {"title": "PredictionResponse", "type": "object", "properties": {
            "input": {"$ref": "#/components/schemas/Input"},
            "output": {"$ref": "#/components/schemas/Output"}, "id": text("Id"), "version": text("Version"),
            "created_at": text("Created At", format="date-time"),
            "started_at": text("Started At", format="date-time"),
            "completed_at": text("Completed At", format="date-time"), "status": text("Status"),
            "error": text("Error"), "logs": text("Logs"), "metrics": {"title": "Metrics", "type": "object"}}},
        "Status": {"title": "Status", "description": "An enumeration.", "enum": STATUSES, "type": "string"},
    }


def _json_response(schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": "Successful Response", "content": {"application/json": {"schema": schema}}}


def _paths() -> dict[str, Any]:
    return {
        "/": {"get": {"summary": "Root", "operationId": "root__get",
                      "responses": {"200": _json_response({})}}},
        "/health-check": {"get": {"summary": "Healthcheck", "operationId": "healthcheck_health_check_get",
                                  "responses": {"200": _json_response({})}}},
        "/predictions": {"post": {
            "summary": "Predict", "description": "Run a single prediction on the model",
            "operationId": "predict_predictions_post",
            "requestBody": {"content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/PredictionRequest"}}}},
            "responses": {"200": _json_response({"$ref": "#/components/schemas/PredictionResponse"})}}},
        "/predictions/{prediction_id}/cancel": {"post": {
            "summary": "Cancel", "operationId": "cancel_predictions__prediction_id__cancel_post",
            "parameters": [{"required": True, "schema": {"title": "Prediction Id", "type": "string"},
                            "name": "prediction_id", "in": "path"}],
            "responses": {"200": _json_response({})}}},
    }


def openapi_schema(endpoint: Endpoint) -> dict[str, Any]:
    """cog's OpenAPI document for a predictor whose ``predict``/``run`` is ``endpoint``."""
    inputs, enums = input_schema(endpoint)
    schemas = {"Input": inputs, "Output": output_schema(endpoint), **enums, **_envelopes()}
    return {"openapi": "3.0.2", "info": {"title": "Cog", "version": "0.1.0"}, "paths": _paths(),
            "components": {"schemas": schemas}}


def files(spec: AppSpec) -> dict[str, str]:
    """``{schema file: text}`` for a compat app whose cog server reads the file, else nothing."""
    details = spec.details_as(CogDetails)
    if details is None or details.compat is None or details.compat.schema_file is None or not spec.endpoints:
        return {}
    return {details.compat.schema_file: json.dumps(openapi_schema(spec.endpoints[0]), indent=2) + "\n"}
