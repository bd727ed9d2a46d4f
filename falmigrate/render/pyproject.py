"""``pyproject.toml``: one ``[tool.fal.apps.<name>]`` table per converted app, the one place for deploy
settings, so ``fal deploy <name>`` works from the output folder on a machine that has only ``fal``.

Keys and their meaning follow fal's own reader (``fal.cli._utils.get_app_data_from_toml``, fal 1.83):
entry-point apps get ``python_entry_point`` + ``python_version`` (the image's Python) and image-only apps
get ``exposed_port`` + ``health_check``; both get an ``image`` table — the Dockerfile next to this file,
or a pushed image by digest with registry credentials as ``$SECRET`` references (fal reads the value
from the fal secret of that name; no credential is ever written). A source project's own
pyproject.toml is kept as it is and the tables are appended to it.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

from falmigrate.errors import SourceError
from falmigrate.render.dockerfile import DEFAULT_PYTHON
from falmigrate.spec import AppSpec, ServedApp

FILE = "pyproject.toml"
ENTRY_MODULE = "fal_app"
REGISTRY_USER_SECRET = "FAL_IMAGE_REGISTRY_USERNAME"
REGISTRY_PASSWORD_SECRET = "FAL_IMAGE_REGISTRY_PASSWORD"
_KNOBS = (
    ("hardware", "machine_type"), ("hardware", "num_gpus"),
    ("scaling", "keep_alive"), ("scaling", "min_concurrency"), ("scaling", "max_concurrency"),
    ("scaling", "concurrency_buffer"), ("scaling", "concurrency_buffer_perc"),
    ("scaling", "max_multiplexing"),
    ("scaling", "scaling_delay"), ("scaling", "startup_timeout"), ("scaling", "request_timeout"),
    ("scaling", "skip_retry_conditions"),
)
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _string(text: str) -> str:
    """A TOML basic string: quote, backslash and control characters escaped, the rest as it is."""
    escaped = "".join(f"\\u{ord(ch):04x}" if ord(ch) < 0x20 or ord(ch) == 0x7F else ch
                      for ch in text.replace("\\", "\\\\").replace('"', '\\"'))
    return f'"{escaped}"'


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else _string(name)


def toml_value(value: Any) -> str:
    """A TOML value: strings as basic strings, tables inline."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(str(k))} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML spelling for {type(value).__name__}")


def registry_of(reference: str) -> str:
    """The registry host of an image reference (``host[:port]/repo@sha256:…``)."""
    first = reference.split("/", 1)[0]
    return (first if "/" in reference and ("." in first or ":" in first or first == "localhost")
            else "docker.io")


def image_table_for_ref(reference: str, *, credentials: bool) -> dict[str, Any]:
    """The ``image`` table of a pushed image; credentials are fal secret names, never values."""
    table: dict[str, Any] = {"image": reference}
    if credentials:
        table["registries"] = {registry_of(reference): {"username": f"${REGISTRY_USER_SECRET}",
                                                        "password": f"${REGISTRY_PASSWORD_SECRET}"}}
    return table


def image_table(spec: AppSpec, *, image_ref: str | None, credentials: bool) -> dict[str, Any]:
    if image_ref:
        return image_table_for_ref(image_ref, credentials=credentials)
    table: dict[str, Any] = {"dockerfile": "Dockerfile"}
    secrets = build_secret_ids(spec)
    if secrets:
        table["secrets"] = {secret: f"${secret}" for secret in secrets}
    return table


def build_secret_ids(spec: AppSpec) -> list[str]:
    """The BuildKit secret ids the image build needs (their values come from fal secrets of that name)."""
    image = spec.image
    return sorted({*image.build_secrets, *(s.id for step in image.run_steps for s in step.secrets)})


def app_settings(spec: AppSpec, app: ServedApp) -> dict[str, Any]:
    """The table of one app, in the order a reader expects: route, identity, machine, scaling, secrets."""
    table: dict[str, Any] = {}
    if app.route == "entry_point":
        table["python_entry_point"] = f"{ENTRY_MODULE}:{app.class_name}"
        table["python_version"] = spec.image.python or DEFAULT_PYTHON
    table["auth"] = app.auth
    groups = {"hardware": app.hardware, "scaling": app.scaling}
    for group, name in _KNOBS:
        value = getattr(groups[group], name)
        if value is not None:
            table[name] = value
    if app.route == "image_only" and app.server is not None:
        table["exposed_port"] = app.server.port
    if app.secrets:
        table["secrets"] = sorted(app.secrets)
    mounts = sorted({volume.fal_path for volume in app.volumes})
    if mounts:
        table["data_mounts"] = mounts
    if app.regions:
        table["regions"] = list(app.regions)
    table["app_scale_settings"] = True
    return table


def _health_table(app: ServedApp) -> dict[str, Any] | None:
    if app.route != "image_only" or app.server is None:
        return None
    health = app.server.health.model_dump(exclude_none=True)
    return health


def tables(spec: AppSpec, *, image_ref: str | None = None, credentials: bool = False) -> str:
    """The ``[tool.fal.apps.*]`` tables for every app of ``spec``."""
    blocks = []
    image = image_table(spec, image_ref=image_ref, credentials=credentials)
    default_cmd = _dockerfile_cmd(spec)
    for app in spec.served_apps():
        lines = [f"[tool.fal.apps.{_key(app.name)}]"]
        lines += [f"{_key(k)} = {toml_value(v)}" for k, v in app_settings(spec, app).items()]
        health = _health_table(app)
        if health is not None:
            lines.append(f"health_check = {toml_value(health)}")
        own = image
        if (app.route == "image_only" and app.server is not None and app.server.launcher
                and app.server.command != default_cmd):
            # several servers share the image: each its own CMD
            own = {**image, "cmd": list(app.server.command)}
        lines.append(f"image = {toml_value(own)}")
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def _dockerfile_cmd(spec: AppSpec) -> list[str] | None:
    """The CMD the generated Dockerfile writes (see ``render.dockerfile.context``)."""
    from falmigrate.render.dockerfile import launched_servers

    launched = launched_servers(spec)
    return spec.image.cmd if spec.image.cmd is not None or not launched else launched[0].command


def render(spec: AppSpec, header: str, *, existing: str | None = None, image_ref: str | None = None,
           credentials: bool = False) -> str:
    """The whole pyproject.toml: the project's own (``existing``) with the fal tables appended."""
    if existing is not None:
        _check_existing(existing, spec)
    intro = (f"{header}\n# Deploy from this folder with `fal deploy <name> --yes` (see MIGRATION.md); "
             "these tables are the app's deploy settings.\n")
    body = tables(spec, image_ref=image_ref, credentials=credentials)
    if existing is None:
        return intro + "\n" + body
    return existing.rstrip("\n") + "\n\n" + intro + "\n" + body


def _check_existing(text: str, spec: AppSpec) -> None:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SourceError(f"{FILE} is not valid TOML: {exc}", file=FILE) from exc
    apps = data.get("tool", {}).get("fal", {}).get("apps", {})
    clash = sorted(set(apps) & {app.name for app in spec.served_apps()})
    if clash:
        raise SourceError(f"{FILE} already has [tool.fal.apps.{clash[0]}]", file=FILE,
                          hint="remove it, or convert with --name to deploy under another name")
