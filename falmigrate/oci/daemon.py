"""The ``docker-daemon:NAME`` transport: images that live in a Docker engine.

``falmigrate pack docker-daemon:myapp:latest oci:out`` exports the image from the engine that
``DOCKER_HOST`` names (streamed ``docker save`` into a temporary docker-archive tar, never the whole
image in memory) and then reads it exactly like ``docker-archive:PATH``. Loaded lazily by
``oci/transports.py`` so the docker SDK is only imported when this transport is used. It talks to the
engine with the docker SDK itself (``oci`` imports nothing from ``build``); engine failures are
``EngineError`` (exit 10) like the build's.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from falmigrate import progress
from falmigrate.errors import EngineError, ImageError, UsageError
from falmigrate.oci import sources

if TYPE_CHECKING:
    import docker

PREFIX = "docker-daemon:"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._/:@-]*$", re.IGNORECASE)
CHUNK = 4 << 20
HINT = "start the engine or point DOCKER_HOST at one"


def parse(reference: str) -> str:
    """The engine-side image name of ``docker-daemon:NAME`` (a name, name:tag, or image id)."""
    name = reference.removeprefix(PREFIX)
    if not name or not _NAME.match(name):
        raise UsageError(f"not a docker-daemon reference: {reference!r}",
                         hint="use docker-daemon:NAME[:TAG] or docker-daemon:sha256:ID")
    return name


def _connect(host: str | None) -> docker.APIClient:
    import docker
    from docker.errors import DockerException
    from docker.utils import kwargs_from_env

    kwargs = kwargs_from_env()
    if host:
        kwargs["base_url"] = host
    try:
        client = docker.APIClient(version="auto", **kwargs)
        client.ping()
    except (DockerException, OSError) as exc:
        raise EngineError(f"cannot reach the Docker engine: {str(exc).splitlines()[0][:300]}",
                          hint=HINT) from exc
    return client


def export_archive(reference: str, dest: Path, *, host: str | None = None) -> Path:
    """Save the engine's image ``reference`` as a docker-archive tar at ``dest``
    (atomically); returns ``dest``."""
    import requests
    from docker.errors import DockerException, ImageNotFound

    name = parse(reference)
    client = _connect(host)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, progress.task(f"exporting {name}", None) as bar:
            for chunk in client.get_image(name, chunk_size=CHUNK):
                out.write(chunk)
                bar.advance(len(chunk))
        os.replace(tmp, dest)
    except ImageNotFound:
        raise ImageError(f"the engine has no image {name!r}",
                         hint="check the name with `docker images`, or build it first") from None
    except (DockerException, requests.RequestException) as exc:
        raise EngineError(f"Docker engine failed to export {name}: {str(exc).splitlines()[0][:300]}",
                          hint=HINT) from exc
    finally:
        client.close()
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def open_image(reference: str, workdir: Path, *, host: str | None = None) -> sources.SourceImage:
    """The image as the docker-archive reader sees it, exported into ``workdir`` (caller cleans up)."""
    archive = export_archive(reference, workdir / "docker-daemon.tar", host=host)
    return sources.from_archive(f"docker-archive:{archive}")
