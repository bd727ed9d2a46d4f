"""Module sources shaped like real ML repositories: Modal apps, cog predictors, RunPod workers."""

from __future__ import annotations

from pathlib import Path

import libcst as cst

from falmigrate.analysis import EnvRead, Expression, Known, Project
from falmigrate.spec.models import Location
from tests.analysis.conftest import known, node_of, unknown, write_project

MODAL_APP = '''\
"""Stable Diffusion XL on Modal."""
import os
from pathlib import Path

import modal

from common.config import MODEL_ID, REVISION, cache_dir

CUDA_VERSION = "12.4.0"
FLAVOR = "devel"
OS = "ubuntu22.04"
TAG = f"{CUDA_VERSION}-{FLAVOR}-{OS}"
GPU = os.environ.get("GPU", "L4")
TIMEOUT = int(os.getenv("TIMEOUT", "7200"))
MINUTES = 60
KEEP_WARM = 2 if GPU.startswith("H") else 1
PACKAGES = ["torch==2.4.0", "diffusers", "transformers"]
if os.getenv("XFORMERS", "1") == "1":
    PACKAGES += ["xformers"]
WEIGHTS = Path("/models") / MODEL_ID.replace("/", "--")

image = (
    modal.Image.from_registry(f"nvidia/cuda:{TAG}", add_python="3.11")
    .pip_install(*PACKAGES)
    .env({"HF_HOME": str(cache_dir()), "MODEL": MODEL_ID})
)
app = modal.App("sdxl-" + REVISION[:7])


@app.cls(gpu=GPU, timeout=TIMEOUT * MINUTES // 60, keep_warm=KEEP_WARM, image=image)
class Model:
    @modal.enter()
    def load(self):
        self.path = WEIGHTS
'''

COMMON_CONFIG = '''\
import os

MODEL_ID = os.environ.get("MODEL_ID", "stabilityai/stable-diffusion-xl-base-1.0")
REVISION = "462165984030d82259a11f4367a4eed129e94a7b"
CACHE = "/cache"


def cache_dir(sub="hf"):
    return f"{CACHE}/{sub}"
'''

COG_PREDICT = '''\
from typing import List

from cog import BasePredictor, Input, Path
from diffusers import DDIMScheduler, EulerAncestralDiscreteScheduler, PNDMScheduler

MODEL_CACHE = "diffusers-cache"
SCHEDULERS = {
    "DDIM": DDIMScheduler,
    "K_EULER_ANCESTRAL": EulerAncestralDiscreteScheduler,
    "PNDM": PNDMScheduler,
}
MODELS = ("sd-1.5", "sd-2.1")
SIZES = [128 * i for i in range(4, 9)]


class Predictor(BasePredictor):
    def predict(
        self,
        prompt: str = Input(description="Prompt"),
        scheduler: str = Input(default="DDIM", choices=list(SCHEDULERS.keys())),
        model: str = Input(default=MODELS[0], choices=MODELS),
        width: int = Input(default=SIZES[-1], choices=SIZES),
        steps: int = Input(default=50, ge=1, le=500),
    ) -> List[Path]:
        pass
'''

RUNPOD_HANDLER = '''\
import os

import runpod

MAX_CONCURRENCY = int(os.environ.get("MAX_CONCURRENCY", "4"))
MODEL = os.getenv("MODEL_NAME", "meta-llama/Llama-3.1-8B-Instruct")
PORT = int(os.getenv("PORT", 8000))
BASE_URL = f"http://127.0.0.1:{PORT}/v1"
TOKEN = os.environ["HF_TOKEN"]


def concurrency(current):
    return MAX_CONCURRENCY


def handler(job):
    return job["input"]


if __name__ == "__main__":
    runpod.serverless.start({"handler": handler, "concurrency_modifier": concurrency})
'''


def _keyword(call: cst.Call, name: str) -> cst.BaseExpression:
    return next(arg.value for arg in call.args if arg.keyword is not None and arg.keyword.value == name)


def test_modal_app_settings(tmp_path: Path) -> None:
    write_project(tmp_path,
                  {"app.py": MODAL_APP, "common/__init__.py": "", "common/config.py": COMMON_CONFIG})
    context = Project(tmp_path).module("app.py")
    decorator = node_of(context,
                        "app.cls(gpu=GPU, timeout=TIMEOUT * MINUTES // 60, keep_warm=KEEP_WARM, image=image)")
    assert isinstance(decorator, cst.Call)
    gpu = context.evaluate(_keyword(decorator, "gpu"))
    assert gpu == Known("L4", (EnvRead("GPU", "L4", True, Location(file="app.py", line=13)),))
    assert known(context.evaluate(_keyword(decorator, "timeout"))) == 7200
    assert known(context.evaluate(_keyword(decorator, "keep_warm"))) == 1
    assert known(context.evaluate_name("TAG")) == "12.4.0-devel-ubuntu22.04"
    assert known(context.evaluate_name("PACKAGES")) == ["torch==2.4.0", "diffusers",
                                                        "transformers", "xformers"]
    assert str(known(context.evaluate_name("WEIGHTS"))) == "/models/stabilityai--stable-diffusion-xl-base-1.0"
    registry = node_of(context, 'f"nvidia/cuda:{TAG}"')
    assert known(context.evaluate(registry)) == "nvidia/cuda:12.4.0-devel-ubuntu22.04"  # type: ignore[arg-type]
    env = node_of(context, '{"HF_HOME": str(cache_dir()), "MODEL": MODEL_ID}')
    result = context.evaluate(env)  # type: ignore[arg-type]
    assert result == Known({"HF_HOME": "/cache/hf", "MODEL": "stabilityai/stable-diffusion-xl-base-1.0"},
                           (EnvRead("MODEL_ID", "stabilityai/stable-diffusion-xl-base-1.0", True,
                                    Location(file="common/config.py", line=3)),))
    assert known(context.evaluate(node_of(context, '"sdxl-" + REVISION[:7]'))) == "sdxl-4621659"  # type: ignore[arg-type]
    found = unknown(context.evaluate_name("image"))
    assert "modal.Image.from_registry" in found.reason and str(found.location) == "app.py:23"


def test_modal_image_chain_is_followed_not_evaluated(tmp_path: Path) -> None:
    write_project(tmp_path,
                  {"app.py": MODAL_APP, "common/__init__.py": "", "common/config.py": COMMON_CONFIG})
    context = Project(tmp_path).module("app.py")
    image = context.expression_of(_image_argument(context))
    assert isinstance(image, Expression) and str(image.location) == "app.py:23"
    assert image.code.startswith("(\n    modal.Image.from_registry")


def _image_argument(context) -> cst.BaseExpression:  # type: ignore[no-untyped-def]
    decorator = node_of(context,
                        "app.cls(gpu=GPU, timeout=TIMEOUT * MINUTES // 60, keep_warm=KEEP_WARM, image=image)")
    return _keyword(decorator, "image")  # type: ignore[arg-type]


def test_cog_choices_from_module_constants(tmp_path: Path) -> None:
    write_project(tmp_path, {"predict.py": COG_PREDICT})
    context = Project(tmp_path).module("predict.py")
    inputs = {}
    for name in ("scheduler", "model", "width"):
        call = node_of(context, next(line.strip().split(" = ", 1)[1].rstrip(",")
                                     for line in COG_PREDICT.splitlines()
                                     if line.strip().startswith(f"{name}:")))
        assert isinstance(call, cst.Call)
        inputs[name] = (known(context.evaluate(_keyword(call, "default"))),
                        known(context.evaluate(_keyword(call, "choices"))))
    assert inputs == {
        "scheduler": ("DDIM", ["DDIM", "K_EULER_ANCESTRAL", "PNDM"]),
        "model": ("sd-1.5", ("sd-1.5", "sd-2.1")),
        "width": (1024, [512, 640, 768, 896, 1024]),
    }
    found = unknown(context.evaluate_name("SCHEDULERS"))
    assert "`diffusers.DDIMScheduler` comes from outside the project" in found.reason
    assert str(found.location) == "predict.py:8"


def test_runpod_worker_settings(tmp_path: Path) -> None:
    write_project(tmp_path, {"src/handler.py": RUNPOD_HANDLER})
    script = Project(tmp_path).module("src/handler.py", main=True)
    assert known(script.evaluate_name("MAX_CONCURRENCY")) == 4
    assert known(script.evaluate_name("BASE_URL")) == "http://127.0.0.1:8000/v1"
    concurrency = next(s for s in script.module.body
                       if isinstance(s, cst.FunctionDef) and s.name.value == "concurrency")
    returned = concurrency.body.body[0].body[0].value  # type: ignore[attr-defined]
    assert known(script.evaluate(returned)) == 4  # a function body reads the module after it loaded
    token = unknown(script.evaluate_name("TOKEN"))
    assert "HF_TOKEN" in token.reason and str(token.location) == "src/handler.py:9"
    start = script.binding("handler",
                           at=node_of(script, '{"handler": handler, "concurrency_modifier": concurrency}'))
    assert start.kind == "function" and str(start.location) == "src/handler.py:16"  # type: ignore[union-attr]


MODAL_WITH_IMPORTS = '''\
import os

import modal

os.environ["HF_HUB_ENABLE_HF_TRANSFER"] = "1"
MODEL_DIR = "/models"
os.environ["HF_HOME"] = MODEL_DIR + "/hf"
image = modal.Image.debian_slim(python_version="3.11").pip_install("torch", "hf_transfer")

with image.imports():
    import torch
    from transformers import AutoModel

if torch.cuda.is_available():
    os.environ["CUDA_VISIBLE_DEVICES"] = "0"

CACHE = os.environ.get("HF_HOME", "/root/.cache/huggingface")
GPU = os.getenv("GPU", "A10G")
app = modal.App("llm", image=image)
'''


def test_modal_app_with_image_imports_and_environment_writes(tmp_path: Path) -> None:
    write_project(tmp_path, {"app.py": MODAL_WITH_IMPORTS})
    context = Project(tmp_path).module("app.py")
    assert context.evaluate_name("CACHE") == Known("/models/hf")  # set by the module itself: no read
    gpu = context.evaluate_name("GPU")
    assert gpu == Known("A10G", (EnvRead("GPU", "A10G", True, Location(file="app.py", line=18)),))
    image = context.expression_of(node_of(context, 'modal.App("llm", image=image)').args[1].value)  # type: ignore[attr-defined]
    assert isinstance(image, Expression) and str(image.location) == "app.py:8"
    assert context.binding("AutoModel").kind == "import"  # type: ignore[union-attr]
