"""``--native`` for Docker servers: the user's FastAPI/Flask module rewritten into a fal app.

Instead of deploying the image's own server (the default, image-only route), ``fal_app.py`` becomes
the user's own module plus a ``fal.App`` whose endpoints are the module's routes, deployed on the
entry-point route (``python_entry_point = "fal_app:<Class>"``; deploy settings live in pyproject.toml):

- FastAPI (``fastapi.py``): ``app = FastAPI()`` and the route decorators go; each route handler stays a
  plain function and gets a ``@fal.endpoint`` method with the same parameters (so path, query and
  body parsing, validation and response models behave as before).
- Flask (``flask.py``): the Flask app stays; each route gets a ``@fal.endpoint`` that dispatches the
  request through Flask in-process (hooks, error handlers, ``request`` all work).

fal endpoints answer POST only: a GET (PUT, DELETE…) route becomes a POST endpoint on the same path
whose query parameters arrive as JSON body fields (FM451, with what clients do now); the original
methods are not registered (that would need fal's private hooks) — deploy without ``--native`` to keep
them. The user's Dockerfile stays the image; fal's runtime is appended to it by the renderer
(``render.userdockerfile``), recorded here as decisions. Rules FM451–FM458 (texts in the rule
registry, ``falmigrate/rules/rules.toml``); anything that does not carry over gets a
``# TODO(falmigrate FMxxx)`` marker and a Finding.
"""

from __future__ import annotations

from pathlib import Path

from falmigrate.codemods import RewriteResult
from falmigrate.errors import SourceError, UsageError
from falmigrate.spec import AppSpec, Decision, DockerDetails, Finding, Location


def transform_source(source: str, path: str, spec: AppSpec) -> RewriteResult:
    """Rewrite one module's text (FastAPI or Flask, per the spec's framework)."""
    framework = spec.require_details(DockerDetails).framework
    app_name = (spec.server.native_module or ":app").partition(":")[2] if spec.server else "app"
    if framework == "fastapi":
        from falmigrate.codemods.docker_native.fastapi import rewrite_fastapi

        return rewrite_fastapi(source, path, spec.class_name, app_name)
    from falmigrate.codemods.docker_native.flask import rewrite_flask

    return rewrite_flask(source, path, spec.class_name, app_name)


def _refusal(spec: AppSpec) -> UsageError:
    details = spec.require_details(DockerDetails)
    what = " ".join(spec.server.command[:3]) if spec.server else "the server"
    return UsageError(f"--native: the server ({what}) is not a FastAPI or Flask app in the repository",
                      file=spec.source.entry_file or details.dockerfile,
                      hint="convert without --native: the image's own server is deployed as it is")


def image_decisions(spec: AppSpec) -> tuple[list[Decision], list[Finding]]:
    """What the entry-point route adds to the user's Dockerfile, and what its ENTRYPOINT does then."""
    details = spec.require_details(DockerDetails)
    image = spec.image
    where = Location(file=details.dockerfile)
    code_dir = (image.code_dirs or [image.workdir])[0]
    decisions = [Decision(source=f"{details.dockerfile} (end of the final stage)",
                          target=f"fal's runtime appended: curl, fal (pinned), COPY fal_app.py {code_dir}/, "
                                 f"a .pth file listing {', '.join(image.code_dirs or [code_dir])}",
                          note="fal's runner imports fal_app from the image (python_entry_point)",
                          location=where)]
    findings: list[Finding] = []
    if image.entrypoint is not None:
        decisions.append(Decision(source="the image's ENTRYPOINT", target="ENTRYPOINT [] appended",
                                  note="it starts the server itself, which would wrap fal's own command",
                                  location=where))
    if details.via and image.entrypoint is not None:
        findings.append(Finding(rule="FM458", severity="warning", location=Location(file=details.via),
                                message=f"the ENTRYPOINT script {details.via} no longer runs: fal's runner "
                                        "starts the app",
                                remediation="move what it prepares (environment, folders, downloads) into "
                                            "setup()"))
    return decisions, findings


def rewrite(spec: AppSpec, root: Path, **options: object) -> RewriteResult:
    server = spec.server
    framework = spec.require_details(DockerDetails).framework
    entry = spec.source.entry_file
    native = server is not None and server.native_module is not None and framework in ("fastapi", "flask")
    if not native or entry is None:
        raise _refusal(spec)
    path = Path(root) / entry
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read {entry}: {exc}", file=entry) from exc
    result = transform_source(source, entry, spec)
    decisions, findings = image_decisions(spec)
    result.decisions += decisions
    result.findings += findings
    return result
