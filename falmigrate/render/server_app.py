"""``fal_app.py`` for an app that runs an existing HTTP server (``spec.server``) behind fal.

fal's "external Docker server" guide, proxy-app form: a ``fal.App`` whose ``setup()`` starts the
server command from the Dockerfile, waits on its health path, and forwards every request to it.
The template is ``templates/fal_app_server.py.j2``; this module only prepares literal values.
``render(spec)`` returns the file's text without the generated-file header (the caller adds it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2

from falmigrate.spec import AppSpec, DockerDetails

TEMPLATE = "fal_app_server.py.j2"
_SETTINGS = (
    ("machine_type", "hardware"), ("num_gpus", "hardware"),
    ("keep_alive", "scaling"), ("min_concurrency", "scaling"), ("max_concurrency", "scaling"),
    ("concurrency_buffer", "scaling"), ("concurrency_buffer_perc", "scaling"), ("max_multiplexing", "scaling"),
    ("scaling_delay", "scaling"), ("startup_timeout", "scaling"), ("request_timeout", "scaling"),
    ("skip_retry_conditions", "scaling"),
)
DEFAULT_STARTUP_TIMEOUT = 600


def _template_dirs() -> list[Path]:
    here = Path(__file__).resolve().parent
    return [here.parent.parent / "templates", here.parent / "_templates"]


def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(p) for p in _template_dirs()]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def _literal(value: Any) -> str:
    """Python source for a JSON-like value, double-quoted strings."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return repr(value)


def settings_lines(spec: AppSpec) -> list[str]:
    lines = []
    groups = {"hardware": spec.hardware, "scaling": spec.scaling}
    for name, group in _SETTINGS:
        value = getattr(groups[group], name)
        if value is None or (name == "machine_type" and value == "S"):
            continue
        lines.append(f"{name} = {_literal(value)}")
    if spec.secrets:
        lines.append(f"secrets = {_literal(sorted(spec.secrets))}")
    return lines


def server_dir(spec: AppSpec) -> str:
    """Where the server's code sits in the generated image: the workdir (+ the code folder)."""
    sub = spec.require_details(DockerDetails).server_dir
    workdir = spec.image.workdir.rstrip("/") or "/"
    return f"{workdir}/{sub}" if sub else workdir


def context(spec: AppSpec) -> dict[str, Any]:
    server = spec.server
    if server is None:
        raise ValueError("server_app.render needs spec.server")
    docker = spec.require_details(DockerDetails)
    startup = spec.scaling.startup_timeout or DEFAULT_STARTUP_TIMEOUT
    return {
        "title": spec.name,
        "kind": server.kind,
        "dockerfile": docker.dockerfile,
        "started_by": f"ENTRYPOINT ({docker.via})" if docker.via else "CMD",
        "health_path": server.health_path,
        "health_path_literal": _literal(server.health_path),
        "command": _literal(list(server.command)),
        "port": server.port,
        "server_dir": _literal(server_dir(spec)),
        "startup_timeout": float(startup),
        "class_name": spec.class_name,
        "settings": settings_lines(spec),
    }


def render(spec: AppSpec) -> str:
    return environment().get_template(TEMPLATE).render(**context(spec))
