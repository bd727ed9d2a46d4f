"""The intermediate app spec: the one shape every importer produces and every emitter consumes.

Importers fill an ``AppSpec`` from a source project; codemods and templates read it to write the
fal app, the Dockerfile and the migration report. Models are frozen: change them with
``model_copy(update=...)`` so nothing downstream edits what an importer decided.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import Field, field_validator

from falmigrate import platforms as registered_platforms
from falmigrate import rules
from falmigrate.spec.base import Frozen, Location
from falmigrate.spec.image import ImageSpec
from falmigrate.spec.platforms import PlatformDetails

# 2: typed Dockerfile layout and patch edits in ImageSpec, deploy routes, typed platform details and
# several apps per spec instead of the untyped ``extra`` dict.
SCHEMA_VERSION = 2
_Details = TypeVar("_Details", bound=PlatformDetails)

Platform = Literal[registered_platforms.NAMES]  # type: ignore[valid-type]  # falmigrate.platforms
Severity = Literal["info", "warning", "error"]
TypeKind = Literal[
    "str", "int", "float", "bool", "list", "dict", "optional", "literal",
    "file", "image", "audio", "video", "json", "model", "secret", "any", "none",
]
Route = Literal["entry_point", "image_only"]
Auth = Literal["private", "public", "shared"]


class TypeRef(Frozen):
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


class InputField(Frozen):
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


class Endpoint(Frozen):
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


class Lifecycle(Frozen):
    setup: str | None = None
    teardown: str | None = None
    setup_takes_weights: bool = False


class ScalingSpec(Frozen):
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


class HardwareSpec(Frozen):
    machine_type: str | list[str] = "S"
    num_gpus: int | None = None
    gpu: bool = False


class VolumeSpec(Frozen):
    name: str
    source_path: str
    fal_path: str


class HealthCheck(Frozen):
    """The pyproject ``health_check`` table of an image-only app (fal probes the server with it)."""

    path: str = "/"
    start_period_seconds: int | None = None
    timeout_seconds: int | None = None
    failure_threshold: int | None = None


class ServerSpec(Frozen):
    """An HTTP server the app runs as-is (Docker servers, Modal ASGI/WSGI/web_server apps)."""

    command: list[str]
    port: int
    health: HealthCheck = Field(default_factory=HealthCheck)
    kind: str = "unknown"
    native_module: str | None = None
    # The image-only route runs ``command`` as the image's CMD. ``launcher``: a module of
    # ``falmigrate/apptemplates`` the command runs, written next to the Dockerfile as
    # ``falmigrate_<launcher>.py``; ``requirements``: what the command needs that the app's own
    # dependencies may not bring (pip requirement strings, installed after them).
    launcher: str | None = None
    requirements: list[str] = Field(default_factory=list)

    @property
    def health_path(self) -> str:
        return self.health.path


class SourceInfo(Frozen):
    platform: Platform
    root: str
    entry_file: str | None = None
    entry_symbol: str | None = None
    files: list[str] = Field(default_factory=list)


class Finding(Frozen):
    """Something the user must know or do: every TODO marker in output has one of these."""

    rule: str
    severity: Severity = "warning"
    message: str
    remediation: str | None = None
    location: Location | None = None

    @field_validator("rule")
    @classmethod
    def _registered(cls, rule: str) -> str:
        """Only ids of the rule registry: a finding always has documented meaning and advice."""
        if not rules.is_registered(rule):
            raise ValueError(str(rules.UnknownRule(rule)))
        return rule


class Decision(Frozen):
    """One mapping made: source construct → fal construct, for the migration report."""

    source: str
    target: str
    note: str | None = None
    location: Location | None = None


class ServedApp(Frozen):
    """One fal app: one ``[tool.fal.apps.<name>]`` table of the generated pyproject.toml.

    ``route`` says how fal runs it: ``entry_point`` imports ``fal_app:<class_name>`` inside the image
    (model code), ``image_only`` runs the image's own server on ``server.port`` (no Python wrapper).
    """

    name: str  # the deploy name: kebab-case, unique within the project
    class_name: str
    route: Route = "entry_point"
    endpoints: list[Endpoint] = Field(default_factory=list)
    lifecycle: Lifecycle = Field(default_factory=Lifecycle)
    scaling: ScalingSpec = Field(default_factory=ScalingSpec)
    hardware: HardwareSpec = Field(default_factory=HardwareSpec)
    secrets: list[str] = Field(default_factory=list)
    volumes: list[VolumeSpec] = Field(default_factory=list)
    server: ServerSpec | None = None
    auth: Auth = "private"
    regions: list[str] = Field(default_factory=list)


class AppSpec(ServedApp):
    """A converted source: its primary fal app (the inherited fields), the image they run on, any
    further apps from the same source (``more_apps``, e.g. several Modal classes), what the platform's
    codemod needs (``details``), and everything the report says."""

    schema_version: int = SCHEMA_VERSION
    source: SourceInfo
    image: ImageSpec = Field(default_factory=ImageSpec)
    more_apps: list[ServedApp] = Field(default_factory=list)
    details: PlatformDetails | None = Field(default=None, discriminator="platform")
    findings: list[Finding] = Field(default_factory=list)
    decisions: list[Decision] = Field(default_factory=list)

    def served_apps(self) -> list[ServedApp]:
        """Every fal app of this source, the primary one first."""
        primary = ServedApp(**{name: getattr(self, name) for name in ServedApp.model_fields})
        return [primary, *self.more_apps]

    def details_as(self, kind: type[_Details]) -> _Details | None:
        """``details`` when they are of ``kind`` (the platform's own model), else None."""
        return self.details if isinstance(self.details, kind) else None

    def require_details(self, kind: type[_Details]) -> _Details:
        """``details`` of ``kind``; a spec of another platform here is a programming error."""
        found = self.details_as(kind)
        if found is None:
            raise ValueError(f"the spec of {self.name!r} has no {kind.__name__}")
        return found

    def with_findings(self, findings: list[Finding]) -> AppSpec:
        return self.model_copy(update={"findings": [*self.findings, *findings]})

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str) -> AppSpec:
        return cls.model_validate_json(text)


TypeRef.model_rebuild()
