"""Test images built once per engine: the first test process to need a tag builds it under a file lock,
the others wait for the lock and then find the tag."""

from __future__ import annotations

import fcntl
import hashlib
import tempfile
from collections.abc import Callable
from pathlib import Path


def build_once(client, tag: str, make: Callable[[Path], None]) -> str:
    """``tag``, made by ``make(context_dir)`` (a Dockerfile + files) once per engine under a file lock."""
    import docker.errors

    key = hashlib.sha256(f"{client.api.base_url} {tag}".encode()).hexdigest()[:16]
    with (Path(tempfile.gettempdir()) / f"falmigrate-image-{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            client.images.get(tag)
            return tag
        except docker.errors.ImageNotFound:
            pass
        with tempfile.TemporaryDirectory(prefix="fm-image-") as tmp:
            make(Path(tmp))
            client.images.build(path=tmp, tag=tag, rm=True, forcerm=True, network_mode="none")
    return tag
