"""The ``docker://REF`` transport: images that live in a registry, for ``oci/transports.py``.

Reading: the image (all of its blobs, verified) is pulled into an OCI layout in a work directory and
then read like any ``oci:PATH:TAG`` image. Writing: an image already written to an OCI layout is
pushed from there. So ``falmigrate pack docker://A docker://B`` = pull A into a layout, repack,
push the layout to B; blobs B's registry already has are skipped or mounted. Loaded lazily so httpx
is only imported when a registry is involved. Client options (``insecure``, ``ca``,
``docker_config``) pass through to ``RegistryClient``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from falmigrate.oci import sources
from falmigrate.oci.remote import reference as reference_mod
from falmigrate.oci.remote.pull import PullResult, pull_reference
from falmigrate.oci.remote.push import PushResult, push_layout

PREFIX = reference_mod.PREFIX


def parse(reference: str) -> reference_mod.Reference:
    return reference_mod.parse(reference)


def pull_to_layout(reference: str, layout: Path, **client_options: Any) -> tuple[str, PullResult]:
    """Fetch the whole image into the OCI layout ``layout``; returns (its tag there, result)."""
    ref = parse(reference)
    result = pull_reference(ref, Path(layout), **client_options)
    return ref.tag or result.digest, result


def open_image(reference: str, workdir: Path, **client_options: Any) -> sources.SourceImage:
    """The image as the OCI-layout reader sees it, pulled into ``workdir`` (caller cleans up)."""
    layout = Path(workdir) / "docker-layout"
    tag, _ = pull_to_layout(reference, layout, **client_options)
    return sources.from_layout(f"oci:{layout}:{tag}")


def write_image(layout: Path, tag: str | None, reference: str, **client_options: Any) -> PushResult:
    """Push image ``tag`` of the OCI layout at ``layout`` to the registry ``reference``."""
    return push_layout(Path(layout), tag, parse(reference), **client_options)
