"""The intermediate app spec (IR). Importers produce it; codemods and templates consume it."""

from falmigrate.spec.base import Location
from falmigrate.spec.image import Copy, DockerfileEdit, ImageSpec, RunStep, SecretMount, UserDockerfile
from falmigrate.spec.models import (
    SCHEMA_VERSION,
    AppSpec,
    Auth,
    Decision,
    Endpoint,
    Finding,
    HardwareSpec,
    HealthCheck,
    InputField,
    Lifecycle,
    Platform,
    Route,
    ScalingSpec,
    ServedApp,
    ServerSpec,
    SourceInfo,
    TypeRef,
    VolumeSpec,
)
from falmigrate.spec.platforms import (
    CogCompat,
    CogDetails,
    DockerDetails,
    ModalAppDetails,
    ModalCall,
    ModalDetails,
    ModalServer,
    PlatformDetails,
    RunpodDetails,
    RunpodProcess,
)


def json_schema() -> dict:
    """JSON Schema of AppSpec, for ``falmigrate inspect --schema`` and external tools."""
    return AppSpec.model_json_schema()


__all__ = [
    "SCHEMA_VERSION", "AppSpec", "Auth", "CogCompat", "CogDetails", "Copy", "Decision", "DockerDetails",
    "DockerfileEdit", "Endpoint", "Finding", "HardwareSpec", "HealthCheck", "ImageSpec", "InputField",
    "Lifecycle", "Location", "ModalAppDetails", "ModalCall", "ModalDetails", "ModalServer", "Platform",
    "PlatformDetails", "Route", "RunStep", "RunpodDetails", "RunpodProcess", "ScalingSpec", "SecretMount",
    "ServedApp", "ServerSpec", "SourceInfo", "TypeRef", "UserDockerfile", "VolumeSpec", "json_schema",
]
