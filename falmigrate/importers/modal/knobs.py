"""``@app.cls(...)`` / ``@app.function(...)`` / ``modal.App(...)`` keywords → fal settings.

One ``Settings`` per fal app: hardware (gpu → machine_type/num_gpus), scaling knobs, secrets, volumes,
container env, and the image expression. Keywords on the App act as defaults, as in Modal. Anything
without a fal equivalent becomes a Finding (rule ids from ``mapping``), never an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from falmigrate.importers.modal import mapping
from falmigrate.importers.modal.reader import Call, ModalModule, NotLiteral
from falmigrate.spec import Decision, Finding, HardwareSpec, Location, ScalingSpec, VolumeSpec


@dataclass
class Settings:
    hardware: HardwareSpec = field(default_factory=HardwareSpec)
    scaling: dict[str, Any] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    secrets_without_keys: list[str] = field(default_factory=list)  # Modal secrets whose keys the code does not name
    volumes: list[VolumeSpec] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    image_expr: cst.BaseExpression | None = None
    findings: list[Finding] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)

    def scaling_spec(self) -> ScalingSpec:
        return ScalingSpec(**self.scaling)


def _loc(mod: ModalModule, node: cst.CSTNode | None, call: Call) -> Location:
    line = mod.line_of(node) if node is not None else call.line
    return Location(file=mod.path, line=line or call.line)


def parse_gpu(value: Any) -> tuple[str | list[str], int | None, list[tuple[str, str, str]]]:
    """A Modal gpu value → (machine_type, num_gpus, notes[(rule, severity, message)])."""
    notes: list[tuple[str, str, str]] = []
    values = value if isinstance(value, list) else [value]
    types: list[str] = []
    counts: set[int] = set()
    for item in values:
        if not isinstance(item, str):
            notes.append(("FM202", "error", f"gpu value {item!r} is not a string"))
            continue
        name, _, count = item.partition(":")
        name = name.strip().upper()
        if count:
            if not count.strip().isdigit():
                notes.append(("FM202", "error", f"gpu count in {item!r} is not an integer"))
            else:
                counts.add(int(count))
        else:
            counts.add(1)
        if name == "ANY":
            types += [t for t in mapping.ANY_GPU_FALLBACKS if t not in types]
            notes.append(("FM201", "info", f"gpu {item!r}: fal tries {', '.join(mapping.ANY_GPU_FALLBACKS)} in order"))
            continue
        if name not in mapping.GPU_TYPES:
            notes.append(("FM202", "error", f"unknown Modal GPU type {item!r}; known: {', '.join(sorted(mapping.GPU_TYPES))}"))
            continue
        fal_type, note = mapping.GPU_TYPES[name]
        if name not in mapping.EXACT_GPUS:
            notes.append(("FM201", "info", f"gpu {item!r} → {fal_type}: {note}"))
        if fal_type not in types:
            types.append(fal_type)
    if not types:
        types = ["GPU-A100"]
    if len(counts) > 1:
        notes.append(("FM203", "warning", f"gpu fallbacks ask for different GPU counts {sorted(counts)}; using {max(counts)}"))
    count = max(counts) if counts else 1
    machine: str | list[str] = types[0] if len(types) == 1 else types
    return machine, (count if count > 1 else None), notes


def _gpu_object(mod: ModalModule, expr: cst.BaseExpression) -> str | None:
    """Old-style ``modal.gpu.A100(count=2, size="80GB")`` → "A100-80GB:2"."""
    if not isinstance(expr, cst.Call):
        return None
    name = mod.dotted(expr.func) or ""
    if not name.startswith("modal.gpu."):
        return None
    kind = name.rsplit(".", 1)[1].upper()
    call = Call(name, expr, 0)
    size = mod.literal(call.kw("size")) if call.kw("size") is not None else None
    count = mod.literal(call.kw("count")) if call.kw("count") is not None else 1
    return f"{kind}{'-' + str(size) if size else ''}:{count}"


def _gpu(mod: ModalModule, expr: cst.BaseExpression, call: Call, out: Settings) -> None:
    loc = _loc(mod, expr, call)
    try:
        value = _gpu_object(mod, expr) or mod.literal(expr)
    except NotLiteral:
        out.findings.append(Finding(rule="FM202", severity="error", location=loc,
                                    message="gpu is computed at run time; defaulting to GPU-A100",
                                    remediation="set machine_type on the generated fal.App by hand"))
        out.hardware = HardwareSpec(machine_type="GPU-A100", gpu=True)
        return
    if value is None:
        return
    machine, count, notes = parse_gpu(value)
    for rule, severity, message in notes:
        out.findings.append(Finding(rule=rule, severity=severity, message=message, location=loc,  # type: ignore[arg-type]
                                    remediation="check machine_type on the generated fal.App"))
    out.hardware = HardwareSpec(machine_type=machine, num_gpus=count, gpu=True)
    out.decisions.append(Decision(source=f"gpu={value!r}", target=f"machine_type={machine!r}" + (f", num_gpus={count}" if count else ""), location=loc))


def volume_name(mod: ModalModule, expr: cst.BaseExpression) -> str:
    if isinstance(expr, cst.Name) and expr.value in mod.assignments:
        expr = mod.assignments[expr.value]
    if isinstance(expr, cst.Call) and (mod.dotted(expr.func) or "").endswith(".from_name"):
        try:
            return str(mod.literal(Call("", expr, 0).positional(0) or Call("", expr, 0).kw("name")))
        except NotLiteral:
            pass
    return cst.helpers.get_full_name_for_node(expr) or "volume"


def _volumes(mod: ModalModule, expr: cst.BaseExpression, call: Call, out: Settings) -> None:
    if not isinstance(expr, cst.Dict):
        if isinstance(expr, cst.Name) and isinstance(mod.assignments.get(expr.value), cst.Dict):
            expr = mod.assignments[expr.value]
        else:
            out.findings.append(Finding(rule="FM206", location=_loc(mod, expr, call), message="volumes cannot be read statically",
                                        remediation="store the data under /data on fal"))
            return
    for el in expr.elements:
        if not isinstance(el, cst.DictElement):
            continue
        try:
            path = str(mod.literal(el.key))
        except NotLiteral:
            continue
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", volume_name(mod, el.value)).strip("-") or "volume"
        fal_path = f"/data/{name}"
        out.volumes.append(VolumeSpec(name=name, source_path=path, fal_path=fal_path))
        out.findings.append(Finding(rule="FM206", severity="info", location=_loc(mod, el, call),
                                    message=f"Modal Volume {name!r} at {path} → fal persistent storage {fal_path}",
                                    remediation=f"copy the volume's data to {fal_path} (e.g. `modal volume get` then upload); "
                                                "vol.commit()/reload() are not needed"))


def _secret_names(mod: ModalModule, expr: cst.BaseExpression) -> list[tuple[str, list[str] | None]]:
    """(Modal secret name, its env var names or None when the code does not say) per secret."""
    if isinstance(expr, cst.Name) and expr.value in mod.assignments:
        expr = mod.assignments[expr.value]
    items = [e.value for e in expr.elements] if isinstance(expr, (cst.List, cst.Tuple)) else [expr]
    out: list[tuple[str, list[str] | None]] = []
    for item in items:
        if isinstance(item, cst.Name) and item.value in mod.assignments:
            item = mod.assignments[item.value]
        if not isinstance(item, cst.Call):
            out.append((cst.helpers.get_full_name_for_node(item) or "secret", None))
            continue
        call = Call(mod.dotted(item.func) or "", item, 0)
        method = call.target.rsplit(".", 1)[-1]
        try:
            if method == "from_name":
                keys = call.kw("required_keys")
                out.append((str(mod.literal(call.positional(0) or call.kw("name"))),
                            [str(k) for k in mod.literal(keys)] if keys is not None else None))
            elif method == "from_dict":  # only the keys are read: the values never leave the user's code
                value = call.positional(0) or call.kw("env_dict")
                out.append(("from_dict", [str(el.key.evaluated_value) for el in value.elements
                                          if isinstance(el, cst.DictElement) and isinstance(el.key, cst.SimpleString)]))
            else:
                out.append((method, None))
        except (NotLiteral, AttributeError):
            out.append((method, None))
    return out


def _secrets(mod: ModalModule, expr: cst.BaseExpression, call: Call, out: Settings) -> None:
    for name, keys in _secret_names(mod, expr):
        if keys is None:
            out.secrets_without_keys.append(name)
            message = (f"Modal secret {name!r}: the code does not name its keys, so `secrets` on the fal app "
                       "cannot list them")
            remediation = (f"for each key of {name!r}: `fal secrets set KEY=…`, then add KEY to `secrets` "
                           "on the fal app (fal exposes each as an environment variable; values are never copied)")
        else:
            out.secrets += [k for k in keys if k not in out.secrets]
            shown = ", ".join(keys) or "none"
            message = f"Modal secret {name!r} (keys {shown}) becomes fal secrets of the same names"
            remediation = (" ".join(f"`fal secrets set {k}=…`" for k in keys) or "nothing to create")
            remediation += " before deploying; fal exposes them as environment variables (values are never copied)"
        out.findings.append(Finding(rule="FM207", severity="warning" if keys is None else "info",
                                    location=_loc(mod, expr, call), message=message, remediation=remediation))


def _int_knob(mod: ModalModule, key: str, expr: cst.BaseExpression, call: Call, out: Settings) -> None:
    target = mapping.SCALING_FIELDS[key]
    try:
        value = mod.literal(expr)
    except NotLiteral:
        out.findings.append(Finding(rule="FM223", location=_loc(mod, expr, call), message=f"{key} is computed at run time",
                                    remediation=f"set {target} on the generated fal.App by hand"))
        return
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    out.scaling[target] = int(value)
    out.decisions.append(Decision(source=f"{key}={value!r}", target=f"{target}={int(value)}", location=_loc(mod, expr, call)))


def apply_call(mod: ModalModule, call: Call, out: Settings) -> None:
    """Fold one call's keywords into ``out`` (later calls override earlier ones, as Modal does)."""
    for arg in call.args:
        if arg.keyword is None:
            continue
        key, expr = arg.keyword.value, arg.value
        if key == "gpu":
            _gpu(mod, expr, call, out)
        elif key in mapping.SCALING_FIELDS:
            _int_knob(mod, key, expr, call, out)
        elif key == "volumes":
            _volumes(mod, expr, call, out)
        elif key == "secrets":
            _secrets(mod, expr, call, out)
        elif key == "retries":
            _retries(mod, expr, call, out)
        elif key == "image":
            out.image_expr = expr
        elif key == "env":
            try:
                for name, value in (mod.literal(expr) or {}).items():
                    if value is None:
                        continue
                    if mapping.SECRET_NAME.search(str(name)):
                        out.secrets += [str(name)] if str(name) not in out.secrets else []
                        out.findings.append(mapping.secret_env_finding(str(name), _loc(mod, expr, call)))
                    else:
                        out.env[str(name)] = str(value)
            except (NotLiteral, AttributeError):
                out.findings.append(Finding(rule="FM223", location=_loc(mod, expr, call), message="env cannot be read statically",
                                            remediation="add the variables to the Dockerfile"))
        else:
            _other(mod, key, expr, call, out)


def _retries(mod: ModalModule, expr: cst.BaseExpression, call: Call, out: Settings) -> None:
    """``retries=0`` turns fal's own retries off; any other value is a finding (fal retries on its terms)."""
    loc = _loc(mod, expr, call)
    try:
        value = mod.literal(expr)
    except NotLiteral:  # modal.Retries(max_retries=..., backoff_coefficient=...)
        value = cst.Module([]).code_for_node(expr)
    if value == 0 and not isinstance(value, bool):
        out.scaling["skip_retry_conditions"] = list(mapping.FAL_RETRY_CONDITIONS)
        out.decisions.append(Decision(source="retries=0", target=f"skip_retry_conditions={list(mapping.FAL_RETRY_CONDITIONS)!r}",
                                      location=loc))
        return
    if value is None:
        return
    out.findings.append(Finding(
        rule="FM205", severity="warning", location=loc,
        message=f"retries={value}: Modal's retry count and backoff do not carry over; fal retries a request on its "
                f"own terms for the conditions {', '.join(mapping.FAL_RETRY_CONDITIONS)}",
        remediation="retry inside the endpoint if the exact count matters; set skip_retry_conditions on the fal app "
                    "to turn fal's retries off for some conditions"))


def _other(mod: ModalModule, key: str, expr: cst.BaseExpression, call: Call, out: Settings) -> None:
    knob = mapping.KNOB_BY_NAME.get(key)
    loc = _loc(mod, expr, call)
    if knob is None:
        out.findings.append(Finding(rule="FM223", location=loc, message=f"{call.target}({key}=...) is not a known Modal keyword",
                                    remediation="check whether it needs a fal setting"))
        return
    try:
        value = mod.literal(expr)
    except NotLiteral:
        value = cst.Module([]).code_for_node(expr)
    if value in (None, False, [], {}) or knob.rule is None:
        return
    severity = "info" if knob.rule in ("FM204", "FM209") else "warning"
    out.findings.append(Finding(rule=knob.rule, severity=severity, location=loc,  # type: ignore[arg-type]
                                message=f"{key}={value!r} has no direct fal equivalent", remediation=knob.note))
