"""``@app.cls(...)`` / ``@app.function(...)`` / ``modal.App(...)`` keywords → fal settings.

One ``Settings`` per fal app: hardware (gpu → machine_type/num_gpus), scaling knobs, secrets, volumes,
container env, and the image expression. Keywords on the App act as defaults, as in Modal. Anything
without a fal equivalent becomes a Finding (rule ids from ``mapping``), never an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from falmigrate.importers.modal import mapping
from falmigrate.importers.modal.reader import Call, ModalModule, NotLiteral
from falmigrate.importers.modal.storage import read_mounts, read_secrets, read_volumes
from falmigrate.spec import Decision, Finding, HardwareSpec, Location, ScalingSpec, VolumeSpec

# Old App decorators that were also web decorators (@stub.webhook(method="POST")…) and their web options.
LEGACY_WEB_CALLS = ("App.webhook", "App.asgi", "App.wsgi")
WEB_KEYWORDS = frozenset({"method", "label", "wait_for_response", "custom_domains", "docs",
                          "requires_proxy_auth"})


@dataclass
class Settings:
    hardware: HardwareSpec = field(default_factory=HardwareSpec)
    scaling: dict[str, Any] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    # Modal secrets whose keys the code does not name
    secrets_without_keys: list[str] = field(default_factory=list)
    volumes: list[VolumeSpec] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    # old ``mounts=[modal.Mount...]``: files in the image
    copies: list[tuple[str, str]] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    image_expr: cst.BaseExpression | None = None
    # where image_expr is evaluated (an Expression for an App call of a sibling module)
    image_within: Any = None
    findings: list[Finding] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)

    def scaling_spec(self) -> ScalingSpec:
        return ScalingSpec(**self.scaling)


def _loc(mod: ModalModule, node: cst.CSTNode | None, call: Call) -> Location:
    return mod.location(node if node is not None else call.node, call.within)


def _gpu_item(item: Any, types: list[str], counts: set[int], notes: list[tuple[str, str, str]]) -> None:
    """One entry of a Modal gpu value (``"H100:2"``) into the machine types and counts so far."""
    if not isinstance(item, str):
        notes.append(("FM202", "error", f"gpu value {item!r} is not a string"))
        return
    name, _, count = item.partition(":")
    name = name.strip().upper()
    if count and not count.strip().isdigit():
        notes.append(("FM202", "error", f"gpu count in {item!r} is not an integer"))
    else:
        counts.add(int(count) if count else 1)
    if name == "ANY":
        types += [t for t in mapping.ANY_GPU_FALLBACKS if t not in types]
        notes.append(("FM201", "info",
                      f"gpu {item!r}: fal tries {', '.join(mapping.ANY_GPU_FALLBACKS)} in order"))
        return
    if name not in mapping.GPU_TYPES:
        notes.append(("FM202", "error",
                      f"unknown Modal GPU type {item!r}; known: {', '.join(sorted(mapping.GPU_TYPES))}"))
        return
    fal_type, note = mapping.GPU_TYPES[name]
    if name not in mapping.EXACT_GPUS:
        notes.append(("FM201", "info", f"gpu {item!r} → {fal_type}: {note}"))
    if fal_type not in types:
        types.append(fal_type)


def parse_gpu(value: Any) -> tuple[str | list[str], int | None, list[tuple[str, str, str]]]:
    """A Modal gpu value → (machine_type, num_gpus, notes[(rule, severity, message)])."""
    notes: list[tuple[str, str, str]] = []
    types: list[str] = []
    counts: set[int] = set()
    for item in value if isinstance(value, list) else [value]:
        _gpu_item(item, types, counts, notes)
    if not types:
        types = ["GPU-A100"]
    if len(counts) > 1:
        notes.append(("FM203", "warning",
                      f"gpu fallbacks ask for different GPU counts {sorted(counts)}; using {max(counts)}"))
    count = max(counts) if counts else 1
    machine: str | list[str] = types[0] if len(types) == 1 else types
    return machine, (count if count > 1 else None), notes


def _gpu_object(mod: ModalModule, expr: cst.BaseExpression, call: Call) -> str | None:
    """Old-style ``modal.gpu.A100(count=2, size="80GB")`` → "A100-80GB:2"."""
    if not isinstance(expr, cst.Call):
        return None
    name = mod.dotted(expr.func, call.within) or ""
    if not name.startswith("modal.gpu."):
        return None
    kind = name.rsplit(".", 1)[1].upper()
    obj = Call(name, expr, 0, call.within)
    size = mod.literal(obj.kw("size"), call.within) if obj.kw("size") is not None else None
    count = mod.literal(obj.kw("count"), call.within) if obj.kw("count") is not None else 1
    return f"{kind}{'-' + str(size) if size else ''}:{count}"


def _gpu(mod: ModalModule, expr: cst.BaseExpression, call: Call, out: Settings) -> None:
    loc = _loc(mod, expr, call)
    try:
        value = _gpu_object(mod, expr, call) or mod.literal(expr, call.within)
    except NotLiteral as exc:
        out.findings.append(Finding(rule="FM202", severity="error", location=exc.location or loc,
                                    message="gpu cannot be evaluated statically "
                                            f"({exc.reason}); using GPU-A100",
                                    remediation="set machine_type (and num_gpus) in pyproject.toml by hand"))
        out.hardware = HardwareSpec(machine_type="GPU-A100", gpu=True)
        return
    if value is None:
        return
    machine, count, notes = parse_gpu(value)
    for rule, severity, message in notes:
        out.findings.append(Finding(rule=rule, severity=severity, message=message, location=loc,  # type: ignore[arg-type]
                                    remediation="check machine_type in pyproject.toml"))
    out.hardware = HardwareSpec(machine_type=machine, num_gpus=count, gpu=True)
    out.decisions.append(Decision(source=f"gpu={value!r}",
                                  target=f"machine_type={machine!r}"
                                  + (f", num_gpus={count}" if count else ""), location=loc))


def _int_knob(mod: ModalModule, key: str, expr: cst.BaseExpression, call: Call, out: Settings) -> None:
    target = mapping.SCALING_FIELDS[key]
    try:
        value = mod.literal(expr, call.within)
    except NotLiteral as exc:
        out.findings.append(Finding(rule="FM223", severity="error",
                                    location=exc.location or _loc(mod, expr, call),
                                    message=f"{key} cannot be evaluated statically: {exc.reason}",
                                    remediation=f"set {target} in pyproject.toml by hand"))
        return
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    out.scaling[target] = int(value)
    out.decisions.append(Decision(source=f"{key}={value!r}", target=f"{target}={int(value)}",
                                  location=_loc(mod, expr, call)))


def _env(mod: ModalModule, expr: cst.BaseExpression, call: Call, out: Settings) -> None:
    try:
        for name, value in (mod.literal(expr, call.within) or {}).items():
            if value is None:
                continue
            if mapping.SECRET_NAME.search(str(name)):
                out.secrets += [str(name)] if str(name) not in out.secrets else []
                out.findings.append(mapping.secret_env_finding(str(name), _loc(mod, expr, call)))
            else:
                out.env[str(name)] = str(value)
    except (NotLiteral, AttributeError):
        out.findings.append(Finding(rule="FM223", severity="error", location=_loc(mod, expr, call),
                                    message="env cannot be evaluated statically",
                                    remediation="add the variables to the Dockerfile (ENV) by hand"))


def _image(mod: ModalModule, expr: cst.BaseExpression, call: Call, out: Settings) -> None:
    out.image_expr, out.image_within = expr, call.within


def _storage(reader: Callable[..., None]
             ) -> Callable[[ModalModule, str, cst.BaseExpression, Call, Settings], None]:
    return lambda mod, key, expr, call, out: reader(mod, expr, call, out)


_Handler = Callable[[ModalModule, str, cst.BaseExpression, Call, Settings], None]
# Keyword -> how it is read (the scaling integers and the other keywords are handled after these).
KEYWORDS: dict[str, _Handler] = {
    "gpu": lambda mod, key, expr, call, out: _gpu(mod, expr, call, out),
    "volumes": read_volumes, "shared_volumes": read_volumes, "network_file_systems": read_volumes,
    "secrets": _storage(read_secrets), "mounts": _storage(read_mounts),
    "region": lambda mod, key, expr, call, out: _region(mod, expr, call, out),
    "retries": lambda mod, key, expr, call, out: _retries(mod, expr, call, out),
    "image": lambda mod, key, expr, call, out: _image(mod, expr, call, out),
    "env": lambda mod, key, expr, call, out: _env(mod, expr, call, out),
}


def apply_call(mod: ModalModule, call: Call, out: Settings) -> None:
    """Fold one call's keywords into ``out`` (later calls override earlier ones, as Modal does)."""
    for arg in call.args:
        if arg.keyword is None:
            continue
        key, expr = arg.keyword.value, arg.value
        if call.target in LEGACY_WEB_CALLS and key in WEB_KEYWORDS:
            continue  # @stub.webhook(method=...): the web role's options, read with it
        handler = KEYWORDS.get(key) or (_int_knob if key in mapping.SCALING_FIELDS else _other)
        handler(mod, key, expr, call, out)


def _retries(mod: ModalModule, expr: cst.BaseExpression, call: Call, out: Settings) -> None:
    """``retries=0`` turns fal's own retries off; any other value is a finding (fal retries on its terms)."""
    loc = _loc(mod, expr, call)
    try:
        value = mod.literal(expr, call.within)
    except NotLiteral:  # modal.Retries(max_retries=..., backoff_coefficient=...)
        value = cst.Module([]).code_for_node(expr)
    if value == 0 and not isinstance(value, bool):
        out.scaling["skip_retry_conditions"] = list(mapping.FAL_RETRY_CONDITIONS)
        out.decisions.append(Decision(source="retries=0",
                                      target=f"skip_retry_conditions={list(mapping.FAL_RETRY_CONDITIONS)!r}",
                                      location=loc))
        return
    if value is None:
        return
    out.findings.append(Finding(
        rule="FM205", severity="warning", location=loc,
        message=f"retries={value}: Modal's retry count and backoff do not carry over; fal "
                "retries a request on its own terms for the conditions "
                f"{', '.join(mapping.FAL_RETRY_CONDITIONS)}",
        remediation="retry inside the endpoint if the exact count matters; set "
                    "skip_retry_conditions on the fal app to turn fal's retries off for some conditions"))


def _other(mod: ModalModule, key: str, expr: cst.BaseExpression, call: Call, out: Settings) -> None:
    knob = mapping.KNOB_BY_NAME.get(key)
    loc = _loc(mod, expr, call)
    if knob is None:
        out.findings.append(Finding(rule="FM223", location=loc,
                                    message=f"{call.target}({key}=...) is not a known Modal keyword",
                                    remediation="check whether it needs a fal setting"))
        return
    try:
        value = mod.literal(expr, call.within)
    except NotLiteral:
        value = cst.Module([]).code_for_node(expr)
    if value in (None, False, [], {}) or knob.rule is None:
        return
    severity = "info" if knob.rule in ("FM204", "FM209") else "warning"
    out.findings.append(Finding(rule=knob.rule, severity=severity, location=loc,  # type: ignore[arg-type]
                                message=f"{key}={value!r} has no direct fal equivalent",
                                remediation=knob.note))


# Regions fal's pyproject reader accepts (fal 1.83, cli/_utils.py).
FAL_REGIONS = ("us-west", "us-central", "us-east", "eu-north", "eu-west")


def _region(mod: ModalModule, expr: cst.BaseExpression, call: Call, out: Settings) -> None:
    """``region="us-east"`` (or a list) → fal ``regions`` where the names match; the rest is a finding."""
    loc = _loc(mod, expr, call)
    try:
        value = mod.literal(expr, call.within)
    except NotLiteral as exc:
        value = None
        out.findings.append(Finding(rule="FM209", severity="warning", location=loc,
                                    message=f"region cannot be evaluated statically ({exc.reason})",
                                    remediation=f"set regions in pyproject.toml ({', '.join(FAL_REGIONS)})"))
    wanted = [str(v) for v in (value if isinstance(value, list) else [value] if value else [])]
    matched = [r for r in wanted if r in FAL_REGIONS]
    out.regions = matched
    if matched:
        out.decisions.append(Decision(source=f"region={value!r}",
                                      target=f"regions={matched!r}", location=loc))
    other = [r for r in wanted if r not in FAL_REGIONS]
    if other:
        out.findings.append(Finding(rule="FM209", severity="info", location=loc,
                                    message=f"region {', '.join(other)} is not a fal region name",
                                    remediation="set regions in pyproject.toml "
                                                f"({', '.join(FAL_REGIONS)}) if placement matters"))
