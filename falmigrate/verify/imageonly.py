"""The fal side of ``verify`` for image-only apps: the output's own server, started the way its image
starts it.

An image-only app has no Python wrapper: on fal, the image's ENTRYPOINT/CMD runs and requests go to
``exposed_port``. So the fal side reads the output's Dockerfile (the user's, as patched) with the Docker
importer — what the image runs, where, with which ENV, on which port — and runs that command from the
output folder (the image's build context) with the Docker runner, without building the image. Any
difference a patch makes (an added ``--host``, a reset ENTRYPOINT) is therefore exercised.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from falmigrate.errors import FalmigrateError, VerifyError
from falmigrate.spec import AppSpec


def output_spec(out: Path) -> AppSpec:
    """The spec of the output folder's own image, read like a Docker project."""
    from falmigrate.importers import get_importer

    try:
        return get_importer("docker").load(Path(out))
    except FalmigrateError as exc:
        raise VerifyError(f"the output's Dockerfile cannot be read as a server image: {exc}") from exc


def run(out: Path, spec: AppSpec, cases: list[dict[str, Any]]) -> list[Any]:
    """One value per case, from the output image's server (``spec`` is the converted app's)."""
    from falmigrate.verify.runners import docker

    served = output_spec(out)
    if spec.server is not None and served.server is not None and served.server.port != spec.server.port:
        raise VerifyError(f"the output image serves port {served.server.port}, but its pyproject exposes "
                          f"{spec.server.port}")
    return docker.run_source(Path(out), served, cases)
