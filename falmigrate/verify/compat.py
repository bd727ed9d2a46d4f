"""The fal side of ``falmigrate verify`` for a cog app on the compatibility route: its image, its server.

A compat app has no ``fal_app.py``: fal runs the image's own server, cog's. So this side builds OUT's
Dockerfile on the Docker engine (``falmigrate build``'s engine stage, with its ``--base-image``,
``--replace-image`` and ``--network``), starts the image as fal does — its own ENTRYPOINT and CMD, nothing
added — without a network, and calls it from a second container of the same image that shares the
server's network namespace (``replicate_client.py``, standard library only), exactly as a Replicate client
calls a cog server: ``POST /predictions`` with ``{"input": …}``. Up to the app's ``max_multiplexing``
cases go at once, as fal sends them to one runner. Each answer is shaped like the other sides' values:
a succeeded prediction's ``output``; ``{"error", "kind": "refused"}`` for HTTP 422 (cog's input check);
``{"error", "kind": "failed"}`` for a prediction that raised.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from falmigrate import progress
from falmigrate.errors import VerifyError
from falmigrate.spec import AppSpec, CogDetails
from falmigrate.verify.normalize import normalize

CLIENT = Path(__file__).with_name("replicate_client.py")
CLIENT_DIR = "/tmp/falmigrate-verify"
STARTUP_TIMEOUT = 600.0


@dataclass(frozen=True)
class ImageOptions:
    """How to build OUT's image: as ``falmigrate build`` does (an unreachable base swapped, a network)."""

    base_image: str | None = None
    replace_images: dict[str, str] = field(default_factory=dict)
    network: str | None = None
    docker_host: str | None = None


@dataclass(frozen=True)
class ServerAnswers:
    """What the image's server said: its ``/health-check`` body and one ``{"status", "body"}`` per case."""

    health: Any
    answers: list[dict[str, Any]]


def applies(spec: AppSpec) -> bool:
    """Whether ``spec`` is a cog app served by cog's own server (``convert --route compat``)."""
    details = spec.details_as(CogDetails)
    return details is not None and details.compat is not None and spec.server is not None


def answer_value(answer: dict[str, Any]) -> Any:
    """A server answer as a comparable value (see the module docstring)."""
    status, body = answer["status"], answer["body"]
    outcome = body.get("status") if isinstance(body, dict) else None
    if status == 200 and outcome == "succeeded":
        return normalize(body.get("output"))
    if status == 200 and outcome == "failed":  # the prediction ran and raised
        return {"error": str(body.get("error")), "kind": "failed"}
    if status == 422:
        return {"error": "HTTP 422", "kind": "refused", "body": body}
    return {"error": f"HTTP {status}", "body": body}  # e.g. 409: every prediction slot busy


def _archive(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(f"{CLIENT_DIR.lstrip('/')}/{name}")
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _state(client: Any, container: str) -> dict[str, Any]:
    return client.inspect_container(container).get("State", {})


def _wait_for_client(client: Any, server: str, probe: str, timeout: float) -> None:
    """Until the client container exits; VerifyError with the server's log when the server stops first."""
    deadline = time.monotonic() + timeout
    while _state(client, probe).get("Running"):
        state = _state(client, server)
        if not state.get("Running"):
            tail = client.logs(server, tail=40).decode(errors="replace")
            raise VerifyError(f"the image's server exited with code {state.get('ExitCode')} "
                              f"before answering\n{tail}")
        if time.monotonic() > deadline:
            raise VerifyError(f"the image's server did not answer the cases within {timeout:.0f}s")
        time.sleep(0.2)


def server_answers(client: Any, image: str, spec: AppSpec, inputs: list[dict[str, Any]], *,
                   timeout: float = STARTUP_TIMEOUT) -> ServerAnswers:
    """Start ``image`` as fal does (no network), send ``inputs`` from a container in its network namespace."""
    assert spec.server is not None
    details = spec.require_details(CogDetails)
    job = {"port": spec.server.port, "ready_path": spec.server.health.path, "timeout": timeout,
           "parallel": details.compat.max_concurrency if details.compat else 1, "inputs": inputs}
    name = f"falmigrate-verify-{uuid.uuid4().hex[:12]}"
    server = client.create_container(image, name=name,
                                     host_config=client.create_host_config(network_mode="none"))
    probe = None
    try:
        client.start(server["Id"])
        probe = client.create_container(
            image, entrypoint=["python3", f"{CLIENT_DIR}/client.py", f"{CLIENT_DIR}/job.json"],
            host_config=client.create_host_config(network_mode=f"container:{server['Id']}"))
        client.put_archive(probe["Id"], "/", _archive({"client.py": CLIENT.read_bytes(),
                                                       "job.json": json.dumps(job).encode()}))
        client.start(probe["Id"])
        _wait_for_client(client, server["Id"], probe["Id"], timeout)
        output = client.logs(probe["Id"], stdout=True, stderr=False).decode(errors="replace").strip()
        if _state(client, probe["Id"]).get("ExitCode") or not output:
            error = client.logs(probe["Id"], stdout=False, stderr=True).decode(errors="replace").strip()
            raise VerifyError(f"calling the image's server failed: {error[-2000:]}")
        payload = json.loads(output.splitlines()[-1])
    finally:
        for container in (probe, server):
            if container is not None:
                client.remove_container(container["Id"], force=True)
    return ServerAnswers(health=payload["health"], answers=payload["answers"])


def run_fal_side(out: Path, spec: AppSpec, cases: list[dict[str, Any]], options: ImageOptions, *,
                 timeout: float = STARTUP_TIMEOUT) -> list[Any]:
    """Build OUT's image, serve the cases from it, remove it; one comparable value per case."""
    from falmigrate.build import engine
    from falmigrate.build.pipeline import BuildOptions, build_image
    from falmigrate.build.secrets import Redactor

    client = engine.connect(options.docker_host)
    tag = f"falmigrate-verify/{spec.name}:{uuid.uuid4().hex[:12]}"
    build = BuildOptions(directory=Path(out), tag=tag, base_image=options.base_image,
                         replace_images=dict(options.replace_images), network=options.network,
                         docker_host=options.docker_host)
    image_id, _ = build_image(client, build, Redactor([]))
    try:
        with progress.task(f"calling {spec.name}'s server like a Replicate client"):
            served = server_answers(client, image_id, spec, [dict(c.get("input") or {}) for c in cases],
                                    timeout=timeout)
    finally:
        client.remove_image(tag, force=True)
    return [answer_value(answer) for answer in served.answers]
