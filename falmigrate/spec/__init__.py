"""The intermediate app spec (IR). Importers produce it; codemods and templates consume it."""

from falmigrate.spec.models import (
    SCHEMA_VERSION,
    AppSpec,
    Copy,
    Decision,
    Endpoint,
    Finding,
    HardwareSpec,
    ImageSpec,
    InputField,
    Lifecycle,
    Location,
    Platform,
    RunStep,
    ScalingSpec,
    SecretMount,
    ServerSpec,
    SourceInfo,
    TypeRef,
    VolumeSpec,
)


def json_schema() -> dict:
    """JSON Schema of AppSpec, for ``falmigrate inspect --schema`` and external tools."""
    return AppSpec.model_json_schema()


__all__ = [
    "SCHEMA_VERSION", "AppSpec", "Copy", "Decision", "Endpoint", "Finding", "HardwareSpec", "ImageSpec",
    "InputField", "Lifecycle", "Location", "Platform", "RunStep", "ScalingSpec", "SecretMount",
    "ServerSpec", "SourceInfo", "TypeRef", "VolumeSpec", "json_schema",
]
