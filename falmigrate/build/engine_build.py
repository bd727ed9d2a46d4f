"""Running one Dockerfile build on the engine: the SDK path, and the BuildKit CLI path for secrets.

Default path: the docker SDK's low-level ``build`` (the engine's classic builder on Docker 20.10),
streaming its JSON messages into ``BuildLog``. The SDK tars the context itself, honouring
``.dockerignore`` with its own matcher, into a temporary file (no context in RAM).

Secrets: the classic builder cannot mount secrets (``RUN --mount=type=secret`` needs BuildKit) and
the SDK cannot open the BuildKit session that carries them. Builds with ``--secret`` therefore run
the docker CLI with BuildKit — ``docker buildx build --load`` when buildx is installed, else
``DOCKER_BUILDKIT=1 docker build`` of a CLI older than 23 (which still has BuildKit built in) —
against the same engine, with the same redacted log handling. Note that the engine's BuildKit needs
a network for RUN steps: on an engine started with ``--bridge=none`` pass ``--network host``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import docker
import requests
from docker.errors import APIError, DockerException

from falmigrate.build.buildlog import BuildLog
from falmigrate.build.engine import engine_error
from falmigrate.build.secrets import Secret
from falmigrate.errors import EngineError

_CLASSIC_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_SUCCESS = re.compile(r"^Successfully built ([0-9a-f]{12,64})$")
_KIT_STEP = re.compile(r"^#(\d+) (\[[^\]]*\d+/\d+\] .*)$")
_KIT_ERROR = re.compile(r"^#(\d+) ERROR: (.*)$")
_KIT_NOISE = re.compile(r"^#\d+ sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class BuildRequest:
    context: Path
    dockerfile: Path  # absolute; may be a temporary edited copy outside the context
    tag: str | None = None
    build_args: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    network_mode: str | None = None
    platform: str | None = None
    secrets: tuple[Secret, ...] = ()
    no_cache: bool = False


def build_with_sdk(client: docker.APIClient, request: BuildRequest, log: BuildLog) -> str:
    """Build through the SDK; returns the image id (``sha256:…``)."""
    image_id = None
    try:
        stream = client.build(
            path=str(request.context), dockerfile=str(request.dockerfile), tag=request.tag,
            buildargs=request.build_args or None, labels=request.labels or None,
            network_mode=request.network_mode, platform=request.platform, nocache=request.no_cache,
            rm=True, forcerm=True, pull=False, decode=True,
        )
        for message in stream:
            found = _classic_message(message, log)
            # Each stage of a multi-stage build reports its own aux ID: the last one is the image.
            # The final "Successfully built <short id>" comes after it and names the same image.
            if found and not (image_id and image_id.startswith("sha256:") and image_id[7:].startswith(found)):
                image_id = found
    except APIError as exc:
        if exc.response is not None and 400 <= exc.response.status_code < 500:
            raise log.failed(str(exc.explanation or exc)) from None
        raise engine_error("build", exc) from exc
    except (DockerException, requests.RequestException, OSError) as exc:
        raise engine_error("build", exc) from exc
    if not image_id:
        raise log.failed("the engine finished without reporting an image id")
    try:
        return str(client.inspect_image(image_id)["Id"])  # the full id, also after "Successfully built"
    except (DockerException, requests.RequestException) as exc:
        raise engine_error("inspect the built image", exc) from exc


def _classic_message(message: dict, log: BuildLog) -> str | None:
    if "error" in message or "errorDetail" in message:
        detail = (message.get("errorDetail") or {}).get("message") or message.get("error") or "unknown error"
        raise log.failed(str(detail))
    found = None
    for line in str(message.get("stream", "")).splitlines():
        step = _CLASSIC_STEP.match(line.strip())
        if step:
            log.start_step(f"step {step.group(1)}/{step.group(2)}: {step.group(3)}")
        success = _SUCCESS.match(line.strip())
        if success:
            found = success.group(1)
        log.line(line)
    if message.get("status"):
        log.line(" ".join(str(message[k]) for k in ("status", "id", "progress") if message.get(k)))
    aux = message.get("aux") or {}
    return aux.get("ID") or found


def build_with_cli(request: BuildRequest, log: BuildLog, host: str | None) -> str:
    """Build through the docker CLI with BuildKit (used for secrets); returns the image id."""
    argv, extra_env = find_buildkit_cli()
    with tempfile.TemporaryDirectory(prefix="falmigrate-secrets-") as tmp:
        iidfile = Path(tmp) / "iid"
        argv += ["--progress", "plain", "--iidfile", str(iidfile), "-f", str(request.dockerfile)]
        for key, value in sorted(request.build_args.items()):
            argv += ["--build-arg", f"{key}={value}"]
        for key, value in sorted(request.labels.items()):
            argv += ["--label", f"{key}={value}"]
        for secret in request.secrets:
            argv += ["--secret", f"id={secret.id},src={_secret_file(secret, Path(tmp))}"]
        if request.tag:
            argv += ["--tag", request.tag]
        if request.network_mode:
            argv += ["--network", request.network_mode]
        if request.platform:
            argv += ["--platform", request.platform]
        if request.no_cache:
            argv.append("--no-cache")
        argv.append(str(request.context))
        env = dict(os.environ, **extra_env)
        if host:
            env["DOCKER_HOST"] = host
        _run_cli(argv, env, log)
        image_id = iidfile.read_text().strip() if iidfile.is_file() else ""
    if not image_id:
        raise log.failed("docker build finished without writing an image id")
    return image_id


def _secret_file(secret: Secret, tmp: Path) -> Path:
    if secret.src is not None:
        return secret.src.resolve()
    path = tmp / f"secret-{len(list(tmp.iterdir()))}"
    path.touch(mode=0o600)
    path.write_bytes(secret.value())
    return path


def _run_cli(argv: list[str], env: dict[str, str], log: BuildLog) -> None:
    steps: dict[str, str] = {}
    errors: list[str] = []
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True,
                                errors="replace")
    except OSError as exc:
        raise EngineError(f"cannot run {argv[0]}: {exc}") from exc
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = raw.rstrip("\n")
        step = _KIT_STEP.match(line)
        if step and step.group(1) not in steps:
            steps[step.group(1)] = step.group(2)
            log.start_step(step.group(2))
        error = _KIT_ERROR.match(line)
        if error:
            log.step = steps.get(error.group(1), log.step)
            errors.append(error.group(2))
        if not _KIT_NOISE.match(line):
            log.line(line)
    code = proc.wait()
    if code != 0:
        last = errors[-1] if errors else (log.tail[-1] if log.tail else f"docker build exited with {code}")
        if "Cannot connect" in last or "error during connect" in last:
            raise EngineError(f"docker build could not reach the engine: {last}")
        raise log.failed(last)


def find_buildkit_cli() -> tuple[list[str], dict[str, str]]:
    """argv prefix + env for a BuildKit build with the first capable docker CLI found."""
    candidates = [os.environ.get("FALMIGRATE_DOCKER_CLI"), shutil.which("docker"), "/usr/bin/docker"]
    seen = []
    for cli in candidates:
        if not cli or cli in seen or not Path(cli).exists():
            continue
        seen.append(cli)
        if _quiet([cli, "buildx", "version"]):
            return [cli, "buildx", "build", "--load"], {}
        major = _cli_major(cli)
        if major is not None and major < 23:
            return [cli, "build"], {"DOCKER_BUILDKIT": "1"}
    raise EngineError(
        "--secret needs a BuildKit build, but no docker CLI with BuildKit was found "
        f"(checked: {', '.join(seen) or 'none'})",
        hint="install docker-buildx (or a docker CLI < 23), or set FALMIGRATE_DOCKER_CLI to one",
    )


def _quiet(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, check=False, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _cli_major(cli: str) -> int | None:
    try:
        out = subprocess.run([cli, "--version"], check=False, capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"version (\d+)\.", out)
    return int(found.group(1)) if found else None
