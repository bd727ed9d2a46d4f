"""A test base image that meets fal's custom-container requirements, made offline.

Generated Dockerfiles end with fal's runtime needs (``curl``, then ``pip install fal``; see
``falmigrate/render/dockerfile.py``). On the plain Debian+Python test base those steps would need
the network (apt, PyPI), which test builds do not have. This image is that base plus what those steps
find already present: this machine's own curl (same Debian release; the binary and the shared
libraries ``ldd`` names, started through a wrapper on their own loader so the base's libraries are
not replaced) and ``fal`` installed from a wheelhouse ``pip download`` fills on this machine. The
generated ``command -v curl || …`` and ``pip install fal`` then find both and need no network.
Built once per engine (the tag is reused), serialised by a file lock across test processes.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from tests.helpers.build_once import build_once

TAG_SUFFIX = "-fal"
CURL_DIR = "/opt/falmigrate-curl"


def fal_ready_tag(base: str) -> str:
    name, _, tag = base.rpartition(":")
    if not name or "/" in tag:
        name, tag = base, "latest"
    return f"{name}{TAG_SUFFIX}:{tag}"


def ensure_fal_ready_image(client, base: str) -> str:
    """The tag of ``base`` + curl + fal, building it when the engine does not have it yet."""

    def make(context: Path) -> None:
        _download_fal(context / "wheels")
        (context / "curl.tar").write_bytes(_curl_bundle())
        (context / "Dockerfile").write_text(
            f"FROM {base}\n"
            "ADD curl.tar /\n"
            "COPY wheels/ /tmp/wheels/\n"
            "RUN python3 -m pip install --break-system-packages --no-index --find-links /tmp/wheels fal"
            " && rm -rf /tmp/wheels && curl --version && python3 -c 'import fal'\n"
        )

    return build_once(client, fal_ready_tag(base), make)


def _download_fal(dest: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "fal", "--only-binary=:all:",
                           "-d", str(dest)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pip download fal failed:\n{done.stderr[-2000:]}")


def _curl_bundle() -> bytes:
    """A tar with this machine's curl + its libraries under CURL_DIR and /usr/local/bin/curl to run it."""
    curl = shutil.which("curl")
    if not curl:
        raise RuntimeError("curl is not installed on this machine")
    files = {"curl": curl}
    for line in subprocess.run(["ldd", curl], capture_output=True, text=True, check=True).stdout.splitlines():
        parts = line.split()
        path = parts[2] if "=>" in parts and len(parts) > 2 else (parts[0] if parts else "")
        if path.startswith("/"):
            files[os.path.basename(path)] = path
    loader = next(name for name in files if name.startswith(("ld-linux", "ld64")))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, path in sorted(files.items()):
            info = tar.gettarinfo(os.path.realpath(path), arcname=f"{CURL_DIR.lstrip('/')}/{name}")
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            with open(os.path.realpath(path), "rb") as handle:
                tar.addfile(info, handle)
        wrapper = (f'#!/bin/sh\nexec {CURL_DIR}/{loader} --library-path {CURL_DIR} '
                   f'{CURL_DIR}/curl "$@"\n').encode()
        info = tarfile.TarInfo("usr/local/bin/curl")
        info.size, info.mode = len(wrapper), 0o755
        tar.addfile(info, io.BytesIO(wrapper))
    return buffer.getvalue()
