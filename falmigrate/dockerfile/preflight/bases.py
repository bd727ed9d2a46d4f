"""What is known about the Python of well-known base images and of the steps that install one.

Only what is certain enough to act on: images known to ship no Python (CUDA, plain distributions),
images known to ship one, the version a tag names (``python:3.9-slim``, ``…-py3.10-…``), the
``python3`` of each Ubuntu/Debian release, and the RUN commands that install a Python (apt, apk,
dnf/yum, uv, conda, pyenv, the conda installers, a python.org source build). Anything else is
"unknown" and no rule fires on it.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from falmigrate.dockerfile.shell import words

NO_PYTHON = frozenset({
    "nvidia/cuda", "nvcr.io/nvidia/cuda", "nvidia/cudagl", "ubuntu", "debian", "alpine", "busybox", "scratch",
    "rockylinux", "rockylinux/rockylinux", "almalinux", "gcr.io/distroless/static", "gcr.io/distroless/base",
    "gcr.io/distroless/cc", "gcr.io/distroless/static-debian12", "gcr.io/distroless/base-debian12",
    "gcr.io/distroless/cc-debian12",
})
WITH_PYTHON = frozenset({
    "python", "pytorch/pytorch", "nvcr.io/nvidia/pytorch", "runpod/base", "runpod/pytorch",
    "continuumio/miniconda3",
    "continuumio/anaconda3", "condaforge/miniforge3", "condaforge/mambaforge", "tensorflow/tensorflow",
    "vllm/vllm-openai", "ghcr.io/huggingface/text-generation-inference", "pytorch/torchserve",
    "nvcr.io/nvidia/tritonserver", "huggingface/transformers-pytorch-gpu", "bitnami/python",
})
# pytorch/pytorch images before 1.13 were built on a conda Python older than 3.10
PYTORCH_IMAGE_PYTHON = {"1.8": "3.8", "1.9": "3.7", "1.10": "3.7", "1.11": "3.8", "1.12": "3.7"}
# what `apt-get install python3` gives on each release
DISTRO_PYTHON = {
    "ubuntu18.04": "3.6", "ubuntu20.04": "3.8", "ubuntu22.04": "3.10", "ubuntu24.04": "3.12",
    "debian10": "3.7", "debian11": "3.9", "debian12": "3.11", "debian13": "3.13",
}
_CODENAMES = {"bionic": "ubuntu18.04", "focal": "ubuntu20.04", "jammy": "ubuntu22.04", "noble": "ubuntu24.04",
              "buster": "debian10", "bullseye": "debian11", "bookworm": "debian12", "trixie": "debian13"}
_TAG_PYTHON = re.compile(r"(?:^|[-_.])(?:py|python|cp)3\.?(\d{1,2})(?=$|[-_.])")
_CONDA_INSTALLER = re.compile(r"(?:Miniconda|Miniforge|Mambaforge|Anaconda)3?(?:-py3\.?(\d{1,2}))?",
                              re.IGNORECASE)
_SOURCE_BUILD = re.compile(r"Python-3\.(\d+)\.\d+")
_APT_INSTALL = re.compile(r"\b(?:apt-get|apt|apk|dnf|yum|microdnf)\s+(?:-\S+\s+)*(?:install|add)\b")


@dataclass(frozen=True)
class Python:
    """What a stage's Python is at some point: whether there is one, its version, where it came from."""

    present: bool | None  # None: unknown
    version: str | None  # "3.9"
    line: int | None
    origin: str


def split_image(image: str) -> tuple[str, str]:
    """(repository without docker.io/library, tag) of an image reference; the digest is dropped."""
    ref = image.split("@", 1)[0]
    name, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "")
    for prefix in ("docker.io/", "index.docker.io/", "registry-1.docker.io/", "library/"):
        name = name.removeprefix(prefix)
    return name.lower(), tag


def _tag_version(repo: str, tag: str) -> str | None:
    if repo == "python" and (m := re.match(r"(\d+)\.(\d+)", tag)):
        return f"{m.group(1)}.{m.group(2)}"
    if repo == "pytorch/pytorch" and (m := re.match(r"(\d+\.\d+)", tag)):
        return PYTORCH_IMAGE_PYTHON.get(m.group(1))
    m = _TAG_PYTHON.search(tag)
    return f"3.{m.group(1)}" if m else None


def base_python(image: str, line: int) -> Python:
    repo, tag = split_image(image)
    version = _tag_version(repo, tag)
    if repo in NO_PYTHON:
        return Python(False, None, line, f"the base image {image} has no Python")
    if repo in WITH_PYTHON or repo.startswith("r8.im/") or version:
        return Python(True, version, line, f"the base image {image}")
    return Python(None, None, line, f"the base image {image}")


def distro(image: str) -> str | None:
    """``ubuntu22.04``/``debian12`` for the distribution an image is built on, when its name says so."""
    repo, tag = split_image(image)
    if m := re.search(r"ubuntu(\d\d\.\d\d)", tag):
        return f"ubuntu{m.group(1)}"
    if repo == "ubuntu" and re.match(r"\d\d\.\d\d$", tag):
        return f"ubuntu{tag}"
    if repo == "debian" and (m := re.match(r"(\d+)", tag)):
        return f"debian{m.group(1)}"
    for codename, name in _CODENAMES.items():
        if codename in tag:
            return name
    return None


def _package_python(segment: str, release: str | None) -> str | None:
    """The version a package install of python gives ("" when it gives one of unknown version)."""
    if not _APT_INSTALL.search(segment):
        return None
    found: str | None = None
    for word in words(segment):
        if m := re.match(r"python3\.?(\d{1,2})(?:-|$)", word):
            return f"3.{m.group(1)}"  # an explicit version wins over the release's python3
        if re.match(r"(?:python3|py3-pip|python-is-python3)(?:-|$)", word):
            found = DISTRO_PYTHON.get(release or "", "")
    return found


def _tool_python(segment: str) -> str | None:
    """uv, conda/mamba, pyenv: the version they install ("" when unknown)."""
    w = words(segment)
    if not w:
        return None
    tool = posixpath.basename(w[0])  # ~/.local/bin/uv, /opt/conda/bin/conda
    version = next((m.group(1) for x in w if (m := re.match(r"(?:python[=<>~]*=?)?(3\.\d+)", x))), None)
    if (tool == "uv" and w[1:2] in (["venv"], ["sync"], ["python"])) or (tool == "pyenv" and "install" in w):
        return version or ""
    if tool in ("conda", "mamba", "micromamba") and any(x.startswith("python") for x in w):
        return version or ""
    return None


def provided_python(segment: str, release: str | None) -> str | None:
    """The Python a simple command installs: its version, "" for one of unknown version, None for none."""
    for found in (_package_python(segment, release), _tool_python(segment)):
        if found is not None:
            return found
    if (m := _CONDA_INSTALLER.search(segment)) and re.search(r"\b(?:ba)?sh\b", segment):
        return f"3.{m.group(1)}" if m.group(1) else ""
    if m := _SOURCE_BUILD.search(segment):
        return f"3.{m.group(1)}"
    return None


def older_than_310(version: str | None) -> bool:
    if not version or not re.match(r"3\.\d+$", version):
        return False
    return int(version.split(".")[1]) < 10
