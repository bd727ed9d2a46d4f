"""``--native`` for Docker servers: the user's FastAPI/Flask module rewritten into a fal app.

Instead of starting the server and forwarding to it, ``fal_app.py`` becomes the user's own module
plus a ``fal.App`` whose endpoints are the module's routes:

- FastAPI (``fastapi.py``): ``app = FastAPI()`` and the route decorators go; each route handler stays a
  plain function and gets a ``@fal.endpoint`` method with the same parameters (so path, query and
  body parsing, validation and response models behave as before; every route answers POST).
- Flask (``flask.py``): the Flask app stays; each route gets a ``@fal.endpoint`` that dispatches the
  request through Flask in-process (hooks, error handlers, ``request`` all work).

Rules FM450–FM459 (texts in the rule registry, ``falmigrate/rules/rules.toml``). Anything that does
not carry over gets a ``# TODO(falmigrate FMxxx)`` marker and a Finding.
"""

from __future__ import annotations

from pathlib import Path

from falmigrate import rules
from falmigrate.codemods import RewriteResult
from falmigrate.errors import SourceError
from falmigrate.spec import AppSpec, Decision, DockerDetails, Finding, Location


def _settings(spec: AppSpec) -> list[str]:
    from falmigrate.render.server_app import settings_lines

    return settings_lines(spec)


def transform_source(source: str, path: str, spec: AppSpec) -> RewriteResult:
    """Rewrite one module's text (FastAPI or Flask, per the spec's framework)."""
    framework = spec.require_details(DockerDetails).framework
    app_name = (spec.server.native_module or ":app").partition(":")[2] if spec.server else "app"
    settings = _settings(spec)
    if framework == "fastapi":
        from falmigrate.codemods.docker_native.fastapi import rewrite_fastapi

        return rewrite_fastapi(source, path, spec.class_name, app_name, settings)
    from falmigrate.codemods.docker_native.flask import rewrite_flask

    return rewrite_flask(source, path, spec.class_name, app_name, settings)


def _fallback(spec: AppSpec) -> RewriteResult:
    from falmigrate.render.server_app import render

    where = spec.server.command[0] if spec.server and spec.server.command else "the server"
    finding = Finding(rule="FM450", severity="warning", message=f"--native: {rules.title('FM450')} ({where})",
                      remediation="native rewrites need a FastAPI or Flask app module in the repository",
                      location=Location(file=spec.require_details(DockerDetails).dockerfile))
    return RewriteResult(code=render(spec), findings=[finding],
                         decisions=[Decision(source="--native", target="pass-through server app")])


def rewrite(spec: AppSpec, root: Path, **options: object) -> RewriteResult:
    server = spec.server
    framework = spec.require_details(DockerDetails).framework
    if server is None or server.native_module is None or framework not in ("fastapi", "flask"):
        return _fallback(spec)
    entry = spec.source.entry_file
    if entry is None:
        return _fallback(spec)
    path = Path(root) / entry
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read {entry}: {exc}", file=entry) from exc
    result = transform_source(source, entry, spec)
    sub = spec.require_details(DockerDetails).server_dir
    if sub:
        result.findings.append(Finding(
            rule="FM453", severity="warning", location=Location(file=entry),
            message=f"the module lived in {sub}/; imports of its sibling modules need {sub}/ on sys.path",
            remediation=f"set ENV PYTHONPATH=/app/{sub} in the Dockerfile if the module imports its neighbours"))
    return result
