"""``convert --route compat``: a cog project served on fal by cog's own HTTP server, its code unchanged.

Teams leaving Replicate have clients that speak cog's HTTP API (``POST /predictions`` with
``{"input": …}``, answers ``{"status", "output", …}``). This route keeps that API: the image installs the
cog release the project pins (``build.sdk_version`` or a ``cog==`` requirement, else the release
``bases`` mirrors) on the base image the native route uses (the importer's choice, from
``bases.cog_base``), copies the project as it is and starts ``python -m cog.server.http`` (CMD, port 5000,
bound to 0.0.0.0, under tini as in a ``cog build`` image). The spec gets a ``ServerSpec``, so
``routes.plan`` makes the app image-only (``exposed_port``, ``health_check``) and no codemod runs.

``apply`` turns the importer's native spec into that one:

- cog's server generation decides the Python floor, the readiness path fal's health check calls and
  whether the image needs the OpenAPI schema file coglet validates inputs with (``render.cog_schema``);
- the predictor is not rewritten, so what the importer decided about turning it into a fal endpoint does
  not apply: those decisions (located in the predictor or trainer module, or at the ``predict:``/
  ``run:``/``train:`` key) and the findings of ``NATIVE_ONLY_RULES`` are dropped;
- ``concurrency.max`` becomes ``max_multiplexing`` (what fal sends one runner at once) and twice as many
  ``COG_MAX_CONCURRENCY`` slots: cog answers 409 when every slot is busy, and it frees a slot a moment
  after it has answered, so a request fal sends as another completes could find none free. One slot
  (concurrency 1) cannot get a spare — cog refuses more than one for a synchronous predictor — so those
  apps get FM195 saying clients should retry a 409.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from falmigrate.importers.cog import bases, mapping
from falmigrate.spec import (
    AppSpec,
    CogCompat,
    CogDetails,
    Decision,
    Endpoint,
    Finding,
    HealthCheck,
    ImageSpec,
    Location,
    ServerSpec,
)

PORT = 5000  # cog's server port (``$PORT``, default 5000), EXPOSEd by every cog image
SERVER_COMMAND = ["python", "-m", "cog.server.http"]  # cog's CMD
ENTRYPOINT = ["tini", "--"]  # cog's images run the server under tini (signals, zombie reaping)
PREDICTIONS = "/predictions"
SCHEMA_FILE = ".cog/openapi_schema.json"  # where coglet looks, relative to its working directory
# cog's generator (pkg/dockerfile: cogletMinSDKVersion): older SDKs serve with their FastAPI server
COGLET_SINCE = "0.17.0"
# cog < 0.17 runs on Python 3.8+ (the cog 0.16 wheel's Requires-Python)
# Prediction slots per request fal multiplexes onto a runner: the second holds a request that arrives
# while cog is still freeing the slot of one that has just been answered
SLOTS_PER_REQUEST = 2
LEGACY_PYTHON = "3.8"
# Findings about the rewrite into a fal app: none of it happens on this route (the code runs under cog)
NATIVE_ONLY_RULES = frozenset({
    "FM104",  # train: not migrated into a fal app (FM191 says what this route does instead)
    "FM105",  # concurrency as fal multiplexing of a fal endpoint (a decision and FM193 here)
    "FM107", "FM108",  # input/output types without a fal equivalent: cog handles its own types
    "FM109",  # cog API stand-ins in fal_app.py: cog itself is installed
    "FM110", "FM111", "FM114", "FM116", "FM118",  # how inputs and the predictor map onto a fal endpoint
    "FM115",  # streaming as /stream server-sent events
    "FM122", "FM123", "FM126",  # what importing the module in fal's runner changes: cog imports it here
    "FM124",  # the trainer as a fal app
})
_KEYS = ("predict", "run", "train")  # the cog.yaml keys that name the predictor and the trainer
_COG_REQUIREMENT = re.compile(r"^\s*(cog|coglet)\s*(?:[<>=!~;\[]|$)", re.IGNORECASE)


@dataclass(frozen=True)
class ServerGeneration:
    """What a cog release's server needs and offers."""

    name: Literal["coglet", "python"]
    python_floor: str
    health_path: str  # answers 2xx only once setup() has finished, where the server has such a path
    readiness: bool  # whether ``health_path`` really waits for setup()
    schema: bool  # inputs are validated against SCHEMA_FILE (coglet) instead of the predictor's signature


def generation(cog_version: str, max_concurrency: int) -> ServerGeneration:
    """coglet (cog >= 0.17): /openapi.json answers 503 until setup() has finished (and after a failed
    setup), while /health-check answers 200 with ``STARTING``/``SETUP_FAILED`` in the body; the older
    FastAPI server has no such path, so fal's check uses /health-check and passes during setup()."""
    if bases.version_key(cog_version) < bases.version_key(COGLET_SINCE):
        return ServerGeneration("python", LEGACY_PYTHON, "/health-check", readiness=False, schema=False)
    python = bases.table()["python"]
    floor = python["minimum_for_concurrency"] if max_concurrency > 1 else python["minimum"]
    return ServerGeneration("coglet", str(floor), "/openapi.json", readiness=True, schema=True)


def _finding(rule: str, message: str, remediation: str, location: Location | None) -> Finding:
    return Finding(rule=rule, severity=mapping.severity(rule), message=message, remediation=remediation,
                   location=location)


def _cog_version(details: CogDetails) -> tuple[str, str]:
    """(the cog release the image installs, why)."""
    if details.cog_version:
        return details.cog_version, f"the project pins cog {details.cog_version}"
    mirrored = bases.mirrored_cog_version()
    return mirrored, (f"no cog pin (build.sdk_version or a cog== requirement): cog {mirrored}, the release "
                      "falmigrate's cog tables mirror")


def _python(image: ImageSpec, server: ServerGeneration, config: str) -> tuple[str, list[Finding]]:
    current = image.python or bases.table()["python"]["default"]
    if bases.version_key(current) >= bases.version_key(server.python_floor):
        return current, []
    return server.python_floor, [_finding(
        "FM190",
        f"cog's {server.name} server needs Python >= {server.python_floor}; the project pins {current}, "
        f"so the image gets {server.python_floor}",
        "check the dependencies on the newer Python, or pin an older cog "
        f"(build.sdk_version) whose server runs on {current}", Location(file=config))]


def _image(image: ImageSpec, python: str, compat: CogCompat) -> ImageSpec:
    """cog's runtime on the importer's image: the cog wheel after the project's own packages (cog's order),
    tini, the server's settings as cog's generator writes them (ENV after the build steps), its CMD."""
    requirements = [r for r in image.python_requirements if not _COG_REQUIREMENT.match(r)]
    settings = [f'ENV COG_PREDICT_TYPE_STUB="{compat.predictor_ref}"']
    if compat.slots > 1:
        settings.append(f"ENV COG_MAX_CONCURRENCY={compat.slots}")
    extra = [
        "# cog's server starts its worker process as `python`: make sure the name exists",
        'RUN command -v python >/dev/null || ln -s "$(command -v python3)" /usr/local/bin/python',
        *settings,
    ]
    packages = image.system_packages if "tini" in image.system_packages else [*image.system_packages, "tini"]
    return image.model_copy(update={
        "python": python, "python_requirements": [*requirements, f"cog=={compat.cog_version}"],
        "system_packages": packages, "dockerfile_extra": [*image.dockerfile_extra, *extra],
        "fal_runtime": False, "code_dirs": [], "exposed_port": PORT, "entrypoint": list(ENTRYPOINT),
        "cmd": list(SERVER_COMMAND)})


def _superseded(decision: Decision, details: CogDetails) -> bool:
    """A decision that does not hold here: about rewriting the predictor (or trainer) into fal code —
    located in those modules or at the cog.yaml key naming them — or one this route makes differently
    (concurrency, cog installed for other modules)."""
    where = decision.location
    if decision.source.startswith(("concurrency.max", "modules that import cog")):
        return True
    modules = {details.file, details.train_file} - {None}
    return where is not None and (where.file in modules or decision.source.split(":", 1)[0] in _KEYS)


def _located(spec: AppSpec, details: CogDetails, *sources: str) -> Location:
    """Where the importer's decision about one of ``sources`` points (cog.yaml's line), else cog.yaml."""
    found = [d.location for d in spec.decisions if d.location and d.source.split(":", 1)[0] in sources]
    return found[0] if found else Location(file=details.config)


def apply(spec: AppSpec) -> AppSpec:
    """``spec`` (the importer's native reading of a cog project) for the compatibility route."""
    details = spec.require_details(CogDetails)
    max_concurrency = spec.scaling.max_multiplexing or 1
    version, why = _cog_version(details)
    server = generation(version, max_concurrency)
    slots = max_concurrency * SLOTS_PER_REQUEST if max_concurrency > 1 else 1
    compat = CogCompat(cog_version=version, server=server.name, max_concurrency=max_concurrency, slots=slots,
                       predictor_ref=f"{details.file}:{details.class_name or details.method}",
                       schema_file=SCHEMA_FILE if server.schema else None,
                       file_outputs=any(_returns_files(e) for e in spec.endpoints))
    python, findings = _python(spec.image, server, details.config)
    findings += _findings(spec, details, compat, server)
    kept = [f for f in spec.findings if f.rule not in NATIVE_ONLY_RULES]
    decisions = [d for d in spec.decisions if not _superseded(d, details)]
    endpoints = [_predictions(e) for e in spec.endpoints]
    return spec.model_copy(update={
        "server": ServerSpec(command=list(SERVER_COMMAND), port=PORT,
                             health=HealthCheck(path=server.health_path), kind="cog"),
        "image": _image(spec.image, python, compat), "endpoints": endpoints, "more_apps": [],
        "details": details.model_copy(update={"compat": compat}),
        "findings": [*kept, *findings],
        "decisions": [*_decisions(spec, details, compat, server, why), *decisions]})


def _predictions(endpoint: Endpoint) -> Endpoint:
    return endpoint.model_copy(update={"path": PREDICTIONS, "method": "POST"})


def _findings(spec: AppSpec, details: CogDetails, compat: CogCompat,
              server: ServerGeneration) -> list[Finding]:
    config = Location(file=details.config)
    endpoint = spec.endpoints[0] if spec.endpoints else None
    found = []
    if details.train:
        found.append(_finding(
            "FM191",
            f"train: {details.train} is not served: the compat app answers POST /predictions only (cog "
            "serves trainings from a separate container started with --x-mode train)",
            "train elsewhere, or convert without --route compat: the native route makes the "
            "trainer its own fal app with a /train endpoint", config))
    if not server.readiness:
        found.append(_finding(
            "FM192",
            f"cog {compat.cog_version}'s server has no path that waits for setup(): fal's health check "
            "(GET /health-check) passes while setup() still runs, and predictions sent then are refused",
            f"pin cog >= {COGLET_SINCE} (build.sdk_version), whose server answers "
            "/openapi.json only once setup() has finished, or keep setup() short", config))
    if server.name == "coglet":
        found.append(_busy_finding(compat, endpoint))
    if compat.max_concurrency > 1 and endpoint is not None and not endpoint.is_async:
        found.append(_finding(
            "FM193", f"COG_MAX_CONCURRENCY={compat.slots} needs an async {endpoint.handler}(): cog's "
                     "server refuses to start a synchronous predictor with more than one prediction slot",
            f"make {endpoint.handler}() `async def`, or drop concurrency.max", endpoint.location))
    if compat.file_outputs:
        found.append(_finding(
            "FM194",
            "file outputs come back inside the response as data: URLs (base64): the server has no upload "
            "URL, and Replicate's file hosting is not there",
            "keep outputs small, or start the server with `--upload-url` (image.cmd in "
            "pyproject.toml) to PUT each file to your storage and return its URL", endpoint.location))
    return found


def _busy_finding(compat: CogCompat, endpoint: Endpoint | None) -> Finding:
    """FM195: cog frees a prediction slot a moment after answering; a request arriving then gets 409."""
    where = endpoint.location if endpoint else None
    if compat.slots > 1:
        return _finding(
            "FM195",
            f"cog's server frees a prediction slot a moment after it answers; with {compat.slots} slots for "
            f"fal's {compat.max_concurrency} requests at once a 409 Conflict (\"At "
            "capacity\") is rare, but it can still reach a client",
            "let clients retry a 409 (Replicate's platform retried "
            "them for you), or use the native route", where)
    return _finding(
        "FM195", "cog's server frees its one prediction slot a moment after it answers: a request fal sends "
                 "in that moment gets 409 Conflict (\"At capacity\"); in tests a few in a "
                 "hundred back-to-back requests did. Replicate's platform retried those; fal "
                 "passes them to the client",
        "let clients retry a 409; or make predict() `async def` and set concurrency.max, so the image gets "
        "spare slots; or use the native route", where)


def _returns_files(endpoint: Endpoint) -> bool:
    pending = [endpoint.output]
    while pending:
        ref = pending.pop()
        if ref.kind in ("file", "image"):
            return True
        pending += [ref.item] if ref.item is not None else []
        pending += [f.type for f in ref.fields or []]
    return False


def _decisions(spec: AppSpec, details: CogDetails, compat: CogCompat, server: ServerGeneration,
               why: str) -> list[Decision]:
    config = _located(spec, details, "predict", "run")
    flavour = "coglet, cog's Rust server" if server.name == "coglet" else "cog's FastAPI server"
    made = [
        Decision(source=f"the predictor `{compat.predictor_ref}`",
                 target=f"`{' '.join(SERVER_COMMAND)}` in the image ({flavour}, port {PORT}, under tini)",
                 note="the predictor runs unchanged, as in a `cog build` image: clients keep calling POST "
                      '/predictions with {"input": …} and get {"status", "output", …}', location=config),
        Decision(source=why, target=f"`cog=={compat.cog_version}` installed after the project's packages",
                 note="the same base image as the native route (cog's own choice)",
                 location=Location(file=config.file)),
        _health_decision(server),
    ]
    if server.schema:
        made.append(Decision(
            source="the predictor's inputs (types, defaults, ge/le, choices, lengths, regex)",
            target=f"`{SCHEMA_FILE}`, cog's OpenAPI schema",
            note="coglet validates every request against it (HTTP 422 for invalid input) as in a `cog build` "
                 "image, which writes the same file",
            location=spec.endpoints[0].location if spec.endpoints else None))
    if compat.max_concurrency > 1:
        made.append(Decision(
            source=f"concurrency.max: {compat.max_concurrency}",
            target=f"`max_multiplexing = {compat.max_concurrency}` and `ENV "
                   f"COG_MAX_CONCURRENCY={compat.slots}`",
            note=f"fal sends a runner at most {compat.max_concurrency} requests at once; cog "
                 "answers 409 when every slot is busy and frees a slot a moment after "
                 "answering, so the spare slots take a request that arrives in that moment",
            location=_located(spec, details, "concurrency.max")))
    return made


def _health_decision(server: ServerGeneration) -> Decision:
    if server.readiness:
        return Decision(source="cog's readiness", target=f"fal's health check: GET {server.health_path}",
                        note="coglet answers it with 503 until setup() has finished (and "
                             "after a failed setup); /health-check answers 200 with "
                             "STARTING or SETUP_FAILED in its body, so fal would send requests "
                             "too early. Clients may still call /health-check")
    return Decision(source="cog's health check", target=f"fal's health check: GET {server.health_path}",
                    note="it answers 200 while setup() runs (FM192)")
