"""The base image cog builds a project on, for the cog release ``data/cog_bases.json`` mirrors.

cog's rules (``pkg/config`` of that release): a GPU project gets the nvidia/cuda cuDNN **devel** image
of its CUDA — ``build.cuda`` when given, else the newest CUDA the pinned ``torch`` was built for, else
cog's default CUDA — with the newest cuDNN for that CUDA unless ``build.cudnn`` names one, the newest
patch release and Ubuntu; a CPU project gets ``python:<version>-slim``. Python is ``build.python_version``
or cog's default. ``cog_base`` answers that question alone (no cog.yaml needed), so other routes can
reuse it; the importer turns its notes into findings and decisions.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA_FILE = Path(__file__).resolve().parent / "data" / "cog_bases.json"


@functools.cache
def table() -> dict[str, Any]:
    """The decision table (``data/cog_bases.json``)."""
    return json.loads(DATA_FILE.read_text(encoding="utf-8"))


def mirrored_cog_version() -> str:
    """The cog release whose tables ``data/cog_bases.json`` mirrors."""
    return str(table()["cog_version"])


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version))


def major_minor(version: str) -> str:
    parts = re.findall(r"\d+", version)
    return ".".join(parts[:2]) if len(parts) >= 2 else (parts[0] if parts else version)


def _matches(wanted: str, actual: str) -> bool:
    """cog's ``version.Matches``: every component ``wanted`` names equals ``actual``'s (12.1 ~ 12.1.1)."""
    want, have = version_key(wanted), version_key(actual)
    return bool(want) and want == have[: len(want)]


@dataclass(frozen=True)
class CogBase:
    """What cog builds on: the FROM image, the Python it installs, the CUDA/cuDNN of a GPU base, and
    why (``reasons``); ``problems`` are choices cog would warn about or refuse (no base for a CUDA, a
    torch without wheels for the Python, a CUDA the pinned torch was not built for)."""

    image: str
    python: str
    gpu: bool
    cuda: str | None = None  # full version of the base image, e.g. "12.1.1"
    cudnn: str | None = None
    ubuntu: str | None = None
    devel: bool = False
    torch: str | None = None
    torch_cuda: str | None = None  # the CUDA build of torch pip should install (cu121 …); None on CPU
    reasons: tuple[str, ...] = ()
    problems: tuple[str, ...] = field(default=())

    @property
    def cuda_minor(self) -> str | None:
        return major_minor(self.cuda) if self.cuda else None


def _images() -> list[dict[str, str]]:
    return list(table()["cuda_images"])


def _has_image(cuda: str) -> bool:
    return any(_matches(cuda, image["cuda"]) for image in _images())


def torch_cudas(torch: str) -> list[str]:
    """The CUDA builds of a pinned torch that have a base image (cog's ``cudasFromTorch``), sorted."""
    rows = [info for version, info in table()["torch"].items() if _matches(torch, version)]
    found = {cuda for info in rows for cuda in info["cuda"] if _has_image(cuda)}
    return sorted(found, key=version_key)


def torch_pythons(torch: str) -> list[str]:
    rows = [info for version, info in table()["torch"].items() if _matches(torch, version)]
    return sorted({p for info in rows for p in info["python"]}, key=version_key)


def _cudnn_for(cuda: str) -> list[str]:
    return sorted({i["cudnn"] for i in _images() if _matches(cuda, i["cuda"])}, key=int, reverse=True)


def _image_for(cuda: str, cudnn: str) -> dict[str, str] | None:
    """cog's ``CUDABaseImageFor``: the newest CUDA patch, then the newest Ubuntu, of that CUDA and cuDNN."""
    found = [i for i in _images() if _matches(cuda, i["cuda"]) and i["cudnn"] == cudnn]
    found.sort(key=lambda i: (version_key(i["cuda"]), version_key(i["ubuntu"])), reverse=True)
    return found[0] if found else None


def _pick_cuda(cuda: str | None, torch: str | None, reasons: list[str], problems: list[str]) -> str:
    cudas = torch_cudas(torch) if torch else []
    if cuda:
        reasons.append(f"build.cuda {cuda}")
        if torch and cudas and not any(major_minor(c) == major_minor(cuda) for c in cudas):
            problems.append(f"CUDA {cuda} is not one torch {torch} was built for ({', '.join(cudas)}); "
                            f"cog warns and suggests {cudas[-1]}")
        return cuda
    if cudas:
        reasons.append(f"the newest CUDA torch {torch} was built for ({', '.join(cudas)})")
        return cudas[-1]
    if torch:
        problems.append(f"cog knows no CUDA build of torch {torch}; cog asks for build.cuda")
    default = str(table()["cuda_default"])
    reasons.append(f"cog's default CUDA {default}")
    return default


def _gpu_image(cuda: str, cudnn: str | None, reasons: list[str],
               problems: list[str]) -> dict[str, str] | None:
    available = _cudnn_for(cuda)
    if not available:
        problems.append(f"cog has no base image for CUDA {cuda}")
        return None
    if cudnn and cudnn not in available:
        problems.append(f"CUDA {cuda} has no cuDNN {cudnn} base (cog refuses it; it has "
                        f"{', '.join(available)})")
        cudnn = None
    if cudnn:
        reasons.append(f"build.cudnn {cudnn}")
    else:
        cudnn = available[0]
        reasons.append(f"the newest cuDNN for CUDA {cuda} ({cudnn})")
    return _image_for(cuda, cudnn)


def _nearest_cuda(cuda: str) -> str:
    """A CUDA with a base image when ``cuda`` has none: the newest of the same major not above it."""
    same = [i["cuda"] for i in _images() if version_key(i["cuda"])[:1] == version_key(cuda)[:1]
            and version_key(i["cuda"]) <= version_key(cuda)]
    return major_minor(max(same, key=version_key)) if same else str(table()["cuda_default"])


def cog_base(*, gpu: bool, python: str | None = None, cuda: str | None = None, cudnn: str | None = None,
             torch: str | None = None) -> CogBase:
    """The base cog chooses for a project: ``gpu`` (build.gpu), ``python`` (build.python_version),
    ``cuda``/``cudnn`` (build.cuda/cudnn), ``torch`` (the pinned torch version, e.g. "2.3.1")."""
    data = table()
    reasons: list[str] = []
    problems: list[str] = []
    if python:
        reasons.append(f"build.python_version {python}")
    else:
        python = str(data["python"]["default"])
        reasons.append(f"cog's default Python {python}")
    if torch and torch_pythons(torch) and major_minor(python) not in torch_pythons(torch):
        problems.append(f"torch {torch} has no wheels for Python {python} "
                        f"({', '.join(torch_pythons(torch))})")
    if not gpu:
        return CogBase(image=str(data["cpu_base"]).format(python=major_minor(python)), python=python,
                       gpu=False, torch=torch, reasons=tuple(reasons), problems=tuple(problems))
    chosen = _pick_cuda(cuda, torch, reasons, problems)
    image = _gpu_image(chosen, cudnn, reasons, problems)
    if image is None:
        chosen = _nearest_cuda(chosen)
        reasons.append(f"CUDA {chosen}, the nearest cog has a base image for")
        image = _gpu_image(chosen, None, reasons, problems)
    assert image is not None, "cog_bases.json has no image for its own default CUDA"
    torch_cuda = _torch_build(torch, image["cuda"]) if torch else None
    return CogBase(image=f"nvidia/cuda:{image['tag']}", python=python, gpu=True, cuda=image["cuda"],
                   cudnn=image["cudnn"], ubuntu=image["ubuntu"], devel="-devel-" in image["tag"], torch=torch,
                   torch_cuda=torch_cuda, reasons=tuple(reasons), problems=tuple(problems))


def _torch_build(torch: str, cuda: str) -> str | None:
    """cog's ``torchGPUPackage``: the newest CUDA build of ``torch`` not above the image's CUDA."""
    fitting = [c for c in torch_cudas(torch) if version_key(c) <= version_key(major_minor(cuda))]
    return fitting[-1] if fitting else None


def torch_index(build: str | None) -> str:
    """PyTorch's wheel index for a CUDA build (``12.1`` → ``…/cu121``), or the CPU index for None."""
    tag = f"cu{build.replace('.', '')}" if build else "cpu"
    return str(table()["torch_index"]).format(tag=tag)


def input_none_required(cog_version: str | None, cog_runtime: bool = False) -> bool:
    """Whether ``Input(default=None)`` on a non-Optional type is required under that cog release (None:
    the release the table mirrors); ``cog_runtime``: the project opted into coglet (cog 0.16)."""
    since = str(table()["input_default_none"]["required_since"])
    return cog_runtime or cog_version is None or version_key(cog_version) >= version_key(since)


def chosen_images() -> list[tuple[str, str, str]]:
    """(CUDA major.minor, cuDNN, the image cog picks for them), for every pair the table has."""
    pairs = sorted({(major_minor(i["cuda"]), i["cudnn"]) for i in _images()},
                   key=lambda pair: (version_key(pair[0]), int(pair[1])))
    chosen = [(cuda, cudnn, _image_for(cuda, cudnn)) for cuda, cudnn in pairs]
    return [(cuda, cudnn, f"nvidia/cuda:{image['tag']}") for cuda, cudnn, image in chosen if image]
