"""How each converted app is deployed on fal: the route, its name, its Python and the fal it pins.

fal deploys a pyproject app by name in one of two ways (``docs/ci.md``): **entry point**
(``python_entry_point = "fal_app:<Class>"`` + ``image``: the module is imported only inside the image)
for model code, and **image only** (``image`` + ``exposed_port`` + ``health_check``: fal runs the
image's own server, no Python wrapper) for apps that already are HTTP servers. This module decides,
per served app, which one applies and what the image must then provide, so importers never have to:

- the route: image-only for servers (unless ``--native`` rewrites their routes as fal endpoints);
- the deploy name: kebab-case, unique, overridable with ``--name`` (fal takes a name, not a file);
- the image's Python: fal needs >= 3.10 inside the image; older pins are raised with a warning;
- the fal version the image installs: the one the user converts with, or ``--fal-version``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import metadata

from falmigrate.errors import UsageError
from falmigrate.render.dockerfile import DEFAULT_PYTHON, TARGET_FAL_VERSION
from falmigrate.spec import AppSpec, Decision, Finding, Location, ServedApp

MIN_PYTHON = (3, 10)
# python_entry_point with an image table first read from pyproject.toml in this fal release.
MIN_FAL_VERSION = (1, 83)
PYTHON_RAISED_RULE = "FM010"
NO_LOCAL_FAL_RULE = "FM011"
_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_MAX_NAME = 63
_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?(?:(?:a|b|rc)\d+|\.post\d+|\.dev\d+)?$")


@dataclass(frozen=True)
class RouteOptions:
    """What the user chose on the command line (None: derive it)."""

    native: bool = False
    name: str | None = None


def kebab(name: str) -> str:
    """``MyModel`` / ``my_model`` / ``My Model!`` → ``my-model``: the spelling fal accepts for app names."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", name)
    return re.sub(r"[^a-z0-9]+", "-", spaced.lower()).strip("-")[:_MAX_NAME].strip("-")


def check_name(name: str, *, option: str = "--name") -> str:
    """``name`` when fal's deploy-by-name accepts it (kebab-case, not a file name), else a usage error."""
    if not _NAME.match(name) or len(name) > _MAX_NAME:
        raise UsageError(f"{option} {name!r}: fal app names are kebab-case (lower-case letters, digits and "
                         f"single dashes, at most {_MAX_NAME} characters)",
                         hint=f"for example {kebab(name) or 'my-app'!r}")
    return name


def fal_version(requested: str | None) -> tuple[str, list[Finding]]:
    """The fal version generated images install: ``requested``, else the installed one, else the target."""
    if requested is not None:
        match = _VERSION.match(requested)
        if not match:
            raise UsageError(f"--fal-version {requested!r} is not a fal release number (like "
                             f"{TARGET_FAL_VERSION})")
        if (int(match[1]), int(match[2])) < MIN_FAL_VERSION:
            raise UsageError(f"--fal-version {requested}: fal before {'.'.join(map(str, MIN_FAL_VERSION))} "
                             "cannot deploy a pyproject app from an image by name",
                             hint=f"use {TARGET_FAL_VERSION} or newer")
        return requested, []
    try:
        return metadata.version("fal"), []
    except metadata.PackageNotFoundError:
        return TARGET_FAL_VERSION, [Finding(
            rule=NO_LOCAL_FAL_RULE, severity="info",
            message=f"fal is not installed here; the image installs fal=={TARGET_FAL_VERSION}",
            remediation="pass --fal-version to pin the fal you deploy with")]


def _route(app: ServedApp, native: bool) -> ServedApp:
    route = "image_only" if app.server is not None and not native else "entry_point"
    return app.model_copy(update={"route": route})


def _names(spec: AppSpec, requested: str | None) -> tuple[str, list[str]]:
    primary = check_name(requested) if requested else (kebab(spec.name) or "app")
    others = []
    for index, app in enumerate(spec.more_apps, 2):
        own = kebab(app.class_name) or str(index)
        others.append(own if own.startswith(f"{primary}-") else f"{primary}-{own}")
    taken: set[str] = {primary}
    unique = []
    for name in others:
        candidate, n = name, 2
        while candidate in taken:
            candidate, n = f"{name}-{n}", n + 1
        taken.add(candidate)
        unique.append(candidate)
    return primary, unique


def _python(spec: AppSpec) -> tuple[str, list[Finding], list[Decision]]:
    """The image's Python, raised to fal's minimum when an entry-point app runs in it."""
    python = spec.image.python or DEFAULT_PYTHON
    needs_fal = any(app.route == "entry_point" for app in spec.served_apps())
    try:
        version = tuple(int(part) for part in python.split(".")[:2])
    except ValueError:
        return python, [], []
    if not needs_fal or version >= MIN_PYTHON:
        return python, [], []
    raised = ".".join(map(str, MIN_PYTHON))
    where = Location(file=spec.source.entry_file) if spec.source.entry_file else None
    finding = Finding(
        rule=PYTHON_RAISED_RULE, severity="warning", location=where,
        message=f"the project pins Python {python}; fal runs apps on Python >= {raised}, so "
                f"the image gets {raised}",
        remediation=f"check what changed since {python} for your dependencies: pins that have no "
                    f"wheel for {raised}, removed stdlib modules (e.g. distutils in 3.12+ only), deprecated "
                    "asyncio loop arguments")
    decision = Decision(source=f"Python {python}", target=f"Python {raised} in the image",
                        note="fal's runner needs Python >= 3.10 in the image")
    return raised, [finding], [decision]


def plan(spec: AppSpec, options: RouteOptions) -> AppSpec:
    """``spec`` with each app's route and name set and its image's Python fit for that route."""
    primary = _route(spec, options.native)
    name, other_names = _names(spec, options.name)
    more = [_route(app, options.native).model_copy(update={"name": other})
            for app, other in zip(spec.more_apps, other_names, strict=True)]
    spec = spec.model_copy(update={"route": primary.route, "name": name, "more_apps": more})
    python, findings, decisions = _python(spec)
    image = spec.image.model_copy(update={"python": python})
    decisions += [_route_decision(app) for app in spec.served_apps()]
    return spec.model_copy(update={"image": image, "findings": [*spec.findings, *findings],
                                   "decisions": [*spec.decisions, *decisions]})


def _route_decision(app: ServedApp) -> Decision:
    if app.route == "image_only":
        assert app.server is not None
        return Decision(source=f"{app.server.kind} server on port {app.server.port}",
                        target=f"fal app `{app.name}`: the image's own server "
                               f"(exposed_port {app.server.port}, health check GET {app.server.health.path})",
                        note="no Python wrapper: fal forwards requests to the server as "
                             "they are (streams, SSE and websockets included)")
    return Decision(source=f"class {app.class_name}", target=f"fal app `{app.name}`: python_entry_point "
                    f"fal_app:{app.class_name}",
                    note="imported only inside the image; `fal deploy` imports nothing of the app locally")
