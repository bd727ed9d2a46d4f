"""Exporting an image from the engine as a docker-archive tar, streamed to disk.

``docker save`` output is copied chunk by chunk into a temporary file next to the destination and
renamed into place when complete, so a multi-gigabyte image never sits in memory and a failed export
leaves nothing behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import docker
import requests
from docker.errors import DockerException, ImageNotFound

from falmigrate import progress
from falmigrate.build.engine import engine_error
from falmigrate.errors import ImageError

CHUNK = 4 * 1024 * 1024


def image_size(client: docker.APIClient, image: str) -> int | None:
    try:
        return int(client.inspect_image(image).get("Size") or 0) or None
    except ImageNotFound:
        raise ImageError(f"the engine has no image {image!r}",
                         hint="check the name with `docker images`, or build it first") from None
    except (DockerException, requests.RequestException) as exc:
        raise engine_error("inspect the image", exc) from exc


def save_image(client: docker.APIClient, image: str, dest: Path) -> Path:
    """Write ``docker save IMAGE`` to ``dest`` atomically; returns ``dest``."""
    total = image_size(client, image)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, progress.task(f"exporting {image}", total) as bar:
            for chunk in client.get_image(image, chunk_size=CHUNK):
                out.write(chunk)
                bar.advance(len(chunk))
        os.replace(tmp_name, dest)
    except ImageNotFound:
        _unlink(tmp_name)
        raise ImageError(f"the engine has no image {image!r}") from None
    except (DockerException, requests.RequestException, OSError) as exc:
        _unlink(tmp_name)
        if isinstance(exc, OSError) and not isinstance(exc, requests.RequestException):
            raise ImageError(f"cannot write the exported image to {dest}: {exc}") from exc
        raise engine_error("export the image", exc) from exc
    except BaseException:
        _unlink(tmp_name)
        raise
    return dest


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
