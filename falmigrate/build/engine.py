"""Connecting to a Docker engine, and turning its failures into ``EngineError``.

The engine is the local socket or whatever ``DOCKER_HOST`` names (``unix://``, ``tcp://`` with the
usual ``DOCKER_TLS_VERIFY``/``DOCKER_CERT_PATH``, ``ssh://user@host`` through the ssh client), so a
big build can run on an existing build machine. Everything engine-related goes through the docker
SDK's low-level ``APIClient``: it streams build logs and image exports without buffering.
"""

from __future__ import annotations

import os

import docker
from docker.errors import DockerException

from falmigrate.errors import EngineError

# Builds of real apps (pip installs, CUDA layers) can sit silent for a long time on one step.
DEFAULT_TIMEOUT = 3600
HINT = ("start a Docker engine, or point DOCKER_HOST at one (unix:///path/docker.sock, tcp://host:2376, "
        "ssh://user@host)")


def engine_host(host: str | None = None) -> str:
    """The engine address we will talk to (explicit, else ``DOCKER_HOST``, else the default socket)."""
    return host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def connect(host: str | None = None, *, timeout: int = DEFAULT_TIMEOUT) -> docker.APIClient:
    """An API client that has answered a ping; ``EngineError`` (exit 10) when there is no engine."""
    kwargs = docker.utils.kwargs_from_env()
    if host:
        kwargs["base_url"] = host
    base_url = str(kwargs.get("base_url") or "")
    if base_url.startswith("ssh://"):
        kwargs["use_ssh_client"] = True  # the system ssh client: no paramiko dependency
    address = engine_host(base_url or None)
    try:
        client = docker.APIClient(version="auto", timeout=timeout, **kwargs)
        client.ping()
    except DockerException as exc:
        raise EngineError(f"cannot reach the Docker engine at {address}: {_short(exc)}", hint=HINT) from exc
    except OSError as exc:
        raise EngineError(f"cannot reach the Docker engine at {address}: {exc}", hint=HINT) from exc
    return client


def engine_error(action: str, exc: Exception) -> EngineError:
    """Wrap an SDK/transport failure that happened after connecting."""
    return EngineError(f"Docker engine failed to {action}: {_short(exc)}", hint=HINT)


def _short(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:400]
