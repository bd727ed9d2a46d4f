"""The base-image decision table (``importers/cog/data/cog_bases.json``) answers as cog 0.23.1 does.

Expected values are cog's own choices for that release (``pkg/config``: ``CUDABaseImageFor`` picks the
newest patch release and Ubuntu of a CUDA/cuDNN pair among the cuDNN *devel* images; ``cudasFromTorch``
and ``latestCUDAFrom`` pick a pinned torch's newest CUDA that has a base image; the default CUDA is 11.8
and the default Python 3.13). When cog is upgraded, this test names the release to re-read.
"""

from __future__ import annotations

from importlib import metadata

import pytest

from falmigrate.importers.cog import bases
from falmigrate.importers.cog.bases import cog_base

MIRRORED = "0.23.1"


def test_the_table_mirrors_the_installed_cog_release() -> None:
    assert bases.mirrored_cog_version() == MIRRORED
    assert metadata.version("cog") == MIRRORED, ("cog was upgraded: re-read its pkg/config "
                                                 "tables into cog_bases.json")


@pytest.mark.parametrize("kwargs, image", [
    ({"gpu": True}, "nvidia/cuda:11.8.0-cudnn8-devel-ubuntu22.04"),  # cog's default CUDA
    ({"gpu": True, "torch": "2.3.1", "python": "3.11"}, "nvidia/cuda:12.1.1-cudnn8-devel-ubuntu22.04"),
    ({"gpu": True, "torch": "2.4.0", "python": "3.12"}, "nvidia/cuda:12.4.1-cudnn-devel-ubuntu22.04"),
    ({"gpu": True, "torch": "2.7.1"}, "nvidia/cuda:12.8.1-cudnn-devel-ubuntu24.04"),
    ({"gpu": True, "torch": "2.9.0"}, "nvidia/cuda:12.8.1-cudnn-devel-ubuntu24.04"),  # 13.0 has no base image
    # 2.1 matches 2.1.x
    ({"gpu": True, "torch": "2.1", "python": "3.11"}, "nvidia/cuda:12.1.1-cudnn8-devel-ubuntu22.04"),
    ({"gpu": True, "cuda": "12.1"}, "nvidia/cuda:12.1.1-cudnn8-devel-ubuntu22.04"),
    ({"gpu": True, "cuda": "12.1.0"}, "nvidia/cuda:12.1.0-cudnn8-devel-ubuntu22.04"),
    ({"gpu": True, "cuda": "12.3"}, "nvidia/cuda:12.3.2-cudnn9-devel-ubuntu22.04"),
    ({"gpu": True, "cuda": "11.3"}, "nvidia/cuda:11.3.1-cudnn8-devel-ubuntu20.04"),
    ({"gpu": False, "python": "3.11"}, "python:3.11-slim-bookworm"),
    ({"gpu": False}, "python:3.13-slim-bookworm"),  # cog's default Python
])
def test_cog_chooses(kwargs: dict, image: str) -> None:
    base = cog_base(**kwargs)
    assert base.image == image
    assert base.devel is kwargs["gpu"] and not base.problems


def test_build_cuda_wins_over_the_torch_pin_with_cogs_warning() -> None:
    base = cog_base(gpu=True, cuda="12.6", torch="2.3.1", python="3.11")
    assert base.image == "nvidia/cuda:12.6.3-cudnn-devel-ubuntu24.04"
    assert base.problems == (("CUDA 12.6 is not one torch 2.3.1 was built for (11.8, 12.1); cog "
                              "warns and suggests 12.1"),)


def test_python_and_torch_builds() -> None:
    base = cog_base(gpu=True, python="3.11", torch="2.3.1")
    assert (base.python, base.cuda, base.cudnn, base.torch_cuda) == ("3.11", "12.1.1", "8", "12.1")
    assert bases.torch_index(base.torch_cuda) == "https://download.pytorch.org/whl/cu121"
    assert bases.torch_index(None) == "https://download.pytorch.org/whl/cpu"
    # an explicit CUDA newer than any torch build: pip takes the newest build not above it (torchGPUPackage)
    assert cog_base(gpu=True, cuda="12.6", torch="2.3.1", python="3.11").torch_cuda == "12.1"
    assert "11.8" in bases.torch_cudas("2.0.1") and bases.torch_pythons("2.0.1") == ["3.10", "3.11"]


@pytest.mark.parametrize("kwargs, problem", [
    ({"gpu": True, "cuda": "12.1", "cudnn": "9"}, "no cuDNN 9 base"),
    ({"gpu": True, "cuda": "12.7"}, "no base image for CUDA 12.7"),
    ({"gpu": True, "cuda": "12.1", "torch": "2.0.1", "python": "3.11"}, "not one torch 2.0.1 was built for"),
    ({"gpu": False, "python": "3.13", "torch": "2.1.2"}, "torch 2.1.2 has no wheels for Python 3.13"),
    ({"gpu": True, "torch": "0.4.1"}, "knows no CUDA build of torch 0.4.1"),
])
def test_what_cog_would_warn_about_is_reported(kwargs: dict, problem: str) -> None:
    base = cog_base(**kwargs)
    assert any(problem in text for text in base.problems), base.problems
    assert base.image.startswith("nvidia/cuda:" if kwargs["gpu"] else "python:")


def test_a_cuda_without_base_falls_back_to_the_nearest_of_its_major() -> None:
    assert cog_base(gpu=True, cuda="12.7").image == "nvidia/cuda:12.6.3-cudnn-devel-ubuntu24.04"


def test_every_gpu_base_is_a_devel_image_and_every_cuda_pair_has_one() -> None:
    chosen = bases.chosen_images()
    assert chosen and all("-devel-" in image for _, _, image in chosen)
    assert ("12.1", "8", "nvidia/cuda:12.1.1-cudnn8-devel-ubuntu22.04") in chosen


@pytest.mark.parametrize("version, runtime, required", [
    (None, False, True), ("0.23.1", False, True), ("0.17.0", False, True),
    ("0.16.10", False, False), ("0.9.4", False, False), ("0.16.10", True, True),
])
def test_input_default_none_requiredness_follows_the_cog_release(version, runtime, required) -> None:
    assert bases.input_none_required(version, runtime) is required
