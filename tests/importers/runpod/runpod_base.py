"""A local stand-in for RunPod's base images, so converted workers' Dockerfiles build here offline.

RunPod workers start ``FROM runpod/base:…``/``runpod/pytorch:…``/``python:3.11-slim`` (Docker Hub,
unreachable here); ``falmigrate build --base-image`` swaps in this image. Like those bases it has a
``pip`` that installs into the system Python (no PEP 668 marker), ``python3.11``, curl and fal. Every
``pip install`` of a fixture build is answered offline from a wheelhouse baked into the image
(``PIP_NO_INDEX`` + ``PIP_FIND_LINKS``): the runpod SDK, fal and what they need, downloaded once on
this machine, plus a stand-in ``torch`` wheel of a few hundred bytes (``torch.cuda.is_available()`` is
False) so a Dockerfile that pins torch through an ARG installs "torch" without 800 MB.
Built once per engine and wheelhouse content (the tag carries a hash), serialised by a file lock.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.helpers.build_once import build_once

PACKAGES = ["runpod==1.10.0", "fal==1.83.0"]
TORCH_STANDIN_VERSION = "2.4.0"
REPOSITORY = "runpod-fixtures/base"
_TORCH_INIT = '''"""A stand-in for torch in falmigrate's RunPod fixture images (no CUDA, no tensors)."""

__version__ = "{version}"


class cuda:  # noqa: N801 - torch's own spelling
    @staticmethod
    def is_available() -> bool:
        return False
'''


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def torch_standin_wheel(folder: Path) -> Path:
    """A valid wheel named torch-<version> holding only ``torch/__init__.py``."""
    version = TORCH_STANDIN_VERSION
    dist = f"torch-{version}.dist-info"
    files = {
        "torch/__init__.py": _TORCH_INIT.format(version=version).encode(),
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: torch\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": (b"Wheel-Version: 1.0\nGenerator: falmigrate-tests\n"
                          b"Root-Is-Purelib: true\nTag: py3-none-any\n"),
    }
    record = "\n".join(_record_line(name, data) for name, data in files.items()) + f"\n{dist}/RECORD,,\n"
    path = folder / f"torch-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)
        wheel.writestr(f"{dist}/RECORD", record)
    return path


def _download(dest: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "download", "-q", *PACKAGES, "--only-binary=:all:",
                           "-d", str(dest)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pip download {' '.join(PACKAGES)} failed:\n{done.stderr[-2000:]}")


def _tag(fal_base: str) -> str:
    key = hashlib.sha256(f"{fal_base} {PACKAGES} {TORCH_STANDIN_VERSION} "
                         f"{_TORCH_INIT} {DOCKERFILE}".encode()).hexdigest()[:12]
    return f"{REPOSITORY}:{key}"


# The wheels of what is installed here are dropped afterwards: fixture builds find those installed
# (a venv made with --system-site-packages too), and a smaller image is faster to copy for every layer.
DOCKERFILE = """FROM {base}
COPY wheels/ /opt/wheelhouse/
RUN rm -f /usr/lib/python3*/EXTERNALLY-MANAGED \\
    && python3 -m pip install --no-index --find-links /opt/wheelhouse runpod fal \\
    && python3 -c 'import runpod, fal' \\
    && find /opt/wheelhouse -name '*.whl' ! -name 'torch-*' -delete
ENV PIP_NO_INDEX=1 PIP_FIND_LINKS=/opt/wheelhouse PIP_DISABLE_PIP_VERSION_CHECK=1
"""


def ensure_runpod_base(client, fal_base: str) -> str:
    """The tag of the RunPod stand-in base built on ``fal_base`` (built when the engine lacks it)."""

    def make(context: Path) -> None:
        (context / "wheels").mkdir()
        _download(context / "wheels")
        torch_standin_wheel(context / "wheels")
        (context / "Dockerfile").write_text(DOCKERFILE.format(base=fal_base))

    return build_once(client, _tag(fal_base), make)
