"""The ``docker-daemon:NAME`` transport: images that live in a Docker engine.

``falmigrate pack docker-daemon:myapp:latest oci:out`` exports the image from the engine that
``DOCKER_HOST`` names (streamed ``docker save`` into a temporary docker-archive tar, never the whole
image in memory) and then reads it exactly like ``docker-archive:PATH``. Loaded lazily by
``oci/transports.py`` so the docker SDK is only imported when this transport is used.
"""

from __future__ import annotations

import re
from pathlib import Path

from falmigrate.errors import UsageError

PREFIX = "docker-daemon:"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._/:@-]*$", re.IGNORECASE)


def parse(reference: str) -> str:
    """The engine-side image name of ``docker-daemon:NAME`` (a name, name:tag, or image id)."""
    name = reference.removeprefix(PREFIX)
    if not name or not _NAME.match(name):
        raise UsageError(f"not a docker-daemon reference: {reference!r}",
                         hint="use docker-daemon:NAME[:TAG] or docker-daemon:sha256:ID")
    return name


def export_archive(reference: str, dest: Path, *, host: str | None = None) -> Path:
    """Save the engine's image ``reference`` as a docker-archive tar at ``dest``; returns ``dest``."""
    from falmigrate.build import engine, export

    name = parse(reference)
    client = engine.connect(host)
    try:
        return export.save_image(client, name, dest)
    finally:
        client.close()


def open_image(reference: str, workdir: Path, *, host: str | None = None):
    """The image as the docker-archive reader sees it, exported into ``workdir`` (caller cleans up)."""
    from falmigrate.oci import transports

    archive = export_archive(reference, workdir / "docker-daemon.tar", host=host)
    return transports.open_image(f"docker-archive:{archive}")
