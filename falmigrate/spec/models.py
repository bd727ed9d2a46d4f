"""The intermediate app spec: the one shape every importer produces and every emitter consumes.

Importers fill an ``AppSpec`` from a source project; codemods and templates read it to write the
fal app, the Dockerfile and the migration report. Models are frozen: change them with
``model_copy(update=...)`` so nothing downstream edits what an importer decided.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1

Platform = Literal["cog", "modal", "runpod", "docker"]
Severity = Literal["info", "warning", "error"]
TypeKind = Literal[
    "str", "int", "float", "bool", "list", "dict", "optional", "literal",
    "file", "image", "audio", "video", "json", "model", "secret", "any", "none",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Location(_Frozen):
    """Where something sits in the user's source: path relative to the source root, 1-based line."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.file
        return f"{self.file}:{self.line}" + (f":{self.column}" if self.column is not None else "")


class TypeRef(_Frozen):
    """A small type language, enough for request/response models.

    ``list``/``optional`` use ``item``; ``literal`` uses ``choices``; ``model`` uses ``name`` and
    ``fields`` (a user's BaseModel output class, or a JSON object with known keys).
    """

    kind: TypeKind
    item: TypeRef | None = None
    choices: list[Any] | None = None
    name: str | None = None
    fields: list[InputField] | None = None

    @classmethod
    def of(cls, kind: TypeKind, **kw: Any) -> TypeRef:
        return cls(kind=kind, **kw)

    def __str__(self) -> str:
        if self.kind in ("list", "optional") and self.item is not None:
            return f"{self.kind}[{self.item}]"
        if self.kind == "literal":
            return f"literal{self.choices}"
        if self.kind == "model":
            return f"model {self.name}"
        return self.kind


class InputField(_Frozen):
    """One request field (or one field of an output model), with its validation constraints."""

    name: str
    type: TypeRef
    required: bool = True
    default: Any = None
    description: str | None = None
    ge: float | int | None = None
    le: float | int | None = None
    gt: float | int | None = None
    lt: float | int | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    deprecated: bool = False
    location: Location | None = None


class Endpoint(_Frozen):
    """One callable entry point of the source app, becoming one ``@fal.endpoint``."""

    path: str = "/"
    handler: str
    inputs: list[InputField] = Field(default_factory=list)
    output: TypeRef = Field(default_factory=lambda: TypeRef(kind="any"))
    output_mode: Literal["single", "stream"] = "single"
    is_async: bool = False
    method: str = "POST"
    description: str | None = None
    examples: list[dict[str, Any]] = Field(default_factory=list)
    location: Location | None = None


class Lifecycle(_Frozen):
    setup: str | None = None
    teardown: str | None = None
    setup_takes_weights: bool = False


class ScalingSpec(_Frozen):
    """Every fal scaling knob; None means 'leave fal's default'."""

    keep_alive: int | None = None
    min_concurrency: int | None = None
    max_concurrency: int | None = None
    concurrency_buffer: int | None = None
    concurrency_buffer_perc: int | None = None
    max_multiplexing: int | None = None
    scaling_delay: int | None = None
    startup_timeout: int | None = None
    request_timeout: int | None = None
    skip_retry_conditions: list[str] | None = None


class HardwareSpec(_Frozen):
    machine_type: str | list[str] = "S"
    num_gpus: int | None = None
    gpu: bool = False


class SecretMount(_Frozen):
    id: str
    target: str | None = None


class RunStep(_Frozen):
    command: str
    secrets: list[SecretMount] = Field(default_factory=list)
    location: Location | None = None


class Copy(_Frozen):
    src: str
    dest: str


class ImageSpec(_Frozen):
    """What the generated Dockerfile must contain, in order: base, apt, pip, run steps, env, code."""

    base: str | None = None
    python: str | None = None
    cuda: str | None = None
    cudnn: str | None = None
    system_packages: list[str] = Field(default_factory=list)
    python_requirements: list[str] = Field(default_factory=list)
    requirements_file: str | None = None
    run_steps: list[RunStep] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    workdir: str = "/app"
    copies: list[Copy] = Field(default_factory=list)
    exposed_port: int | None = None
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    dockerfile_extra: list[str] = Field(default_factory=list)


class VolumeSpec(_Frozen):
    name: str
    source_path: str
    fal_path: str


class ServerSpec(_Frozen):
    """An HTTP server the app runs as-is (Docker servers, Modal web_server)."""

    command: list[str]
    port: int
    health_path: str = "/"
    kind: str = "unknown"
    native_module: str | None = None


class SourceInfo(_Frozen):
    platform: Platform
    root: str
    entry_file: str | None = None
    entry_symbol: str | None = None
    files: list[str] = Field(default_factory=list)


class Finding(_Frozen):
    """Something the user must know or do: every TODO marker in output has one of these."""

    rule: str
    severity: Severity = "warning"
    message: str
    remediation: str | None = None
    location: Location | None = None


class Decision(_Frozen):
    """One mapping made: source construct → fal construct, for the migration report."""

    source: str
    target: str
    note: str | None = None
    location: Location | None = None


class AppSpec(_Frozen):
    schema_version: int = SCHEMA_VERSION
    name: str
    class_name: str
    source: SourceInfo
    endpoints: list[Endpoint] = Field(default_factory=list)
    lifecycle: Lifecycle = Field(default_factory=Lifecycle)
    scaling: ScalingSpec = Field(default_factory=ScalingSpec)
    hardware: HardwareSpec = Field(default_factory=HardwareSpec)
    image: ImageSpec = Field(default_factory=ImageSpec)
    secrets: list[str] = Field(default_factory=list)
    volumes: list[VolumeSpec] = Field(default_factory=list)
    server: ServerSpec | None = None
    findings: list[Finding] = Field(default_factory=list)
    decisions: list[Decision] = Field(default_factory=list)
    extra: dict[str, Any] = Field(default_factory=dict)

    def with_findings(self, findings: list[Finding]) -> AppSpec:
        return self.model_copy(update={"findings": [*self.findings, *findings]})

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str) -> AppSpec:
        return cls.model_validate_json(text)


TypeRef.model_rebuild()
