"""GPU evidence: CUDA base images, GPU dependencies, CUDA calls in code → a GPU machine with a warning naming
the evidence; no evidence → the CPU default as a recorded decision, never silently."""

from __future__ import annotations

import pytest

from falmigrate.analysis.gpu import (
    CPU_MACHINE,
    GPU_MACHINE,
    GPU_RULE,
    GpuEvidence,
    base_image_evidence,
    choose_machine,
    code_evidence,
    dependency_evidence,
    requirement_name,
    requirements_evidence,
)
from falmigrate.spec import Location


@pytest.mark.parametrize("image", [
    "nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04", "docker.io/nvidia/cuda:11.8.0-base-ubuntu22.04",
    "pytorch/pytorch:2.3.1-cuda12.1-cudnn8-runtime",
    "runpod/pytorch:2.1.0-py3.10-cuda11.8.0-devel-ubuntu22.04",
    "tensorflow/tensorflow:2.15.0-gpu", "vllm/vllm-openai:v0.6.3",
    "ghcr.io/huggingface/text-generation-inference:2.4",
    "nvcr.io/nvidia/pytorch:24.01-py3", "myorg/base:cu121-py311", "registry.local:5000/team/cuda-base:1",
])
def test_cuda_images(image):
    hit = base_image_evidence(image, Location(file="Dockerfile", line=1))
    assert hit is not None and hit.kind == "base_image" and hit.detail == image


@pytest.mark.parametrize("image", [
    "python:3.11-slim", "ubuntu:22.04", "pytorch/torchserve:0.9.0-cpu", "node:20-bookworm-slim",
    "registry.local:5000/team/api:1.2", "debian:bookworm-slim", "nvidiaish/cudnn-free:latest",
])
def test_plain_images(image):
    assert base_image_evidence(image) is None


@pytest.mark.parametrize(("line", "name"), [
    ("torch==2.3.1", "torch"), ("Flash_Attn>=2.5 ; platform_system == 'Linux'", "flash-attn"),
    ("vllm", "vllm"), ("nvidia-cudnn-cu12==8.9", "nvidia-cudnn-cu12"), ("cupy-cuda12x", "cupy-cuda12x"),
    ("jax[cuda12]==0.4.30", "jax"), ("onnxruntime-gpu", "onnxruntime-gpu"),
])
def test_gpu_dependencies(line, name):
    hit = dependency_evidence(line)
    assert hit is not None and hit.detail == name


@pytest.mark.parametrize("line",
                         ["fastapi", "jax==0.4.30", "torch==2.2.0+cpu", "onnxruntime", "numpy", "# torch",
                                  "-r base.txt", ""])
def test_not_gpu_dependencies(line):
    assert dependency_evidence(line) is None


def test_requirement_names():
    assert requirement_name("Pillow[extra] >= 10  # images") == "pillow"
    assert requirement_name("--extra-index-url https://x") is None


def test_requirements_file_with_a_cpu_index_cancels_torch_only():
    text = "--index-url https://download.pytorch.org/whl/cpu\ntorch==2.3.1\nbitsandbytes\n"
    found = requirements_evidence(text, "requirements.txt")
    assert [(e.detail, str(e.location)) for e in found] == [("bitsandbytes", "requirements.txt:3")]


def test_code_evidence_with_lines():
    source = ("import torch\n\nDEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'\n"
              "def setup():\n    model = load().cuda()\n    x = torch.zeros(3, device='cuda:0')\n"
              "    y = x.to('cuda')\n    return torch.device('cuda')\n")
    found = code_evidence(source, "app.py")
    assert [(e.detail, e.location.line) for e in found] == [
        ('DEVICE = "cuda"', 3), (".cuda()", 5), ('device="cuda:0"', 6), ('to("cuda")', 7),
        ('device("cuda")', 8)]


def test_code_without_cuda_and_broken_code():
    assert code_evidence("import torch\nx = torch.zeros(3).to('cpu')\nok = torch.cuda.is_available()\n",
                         "a.py") == []
    assert code_evidence("def (:\n", "broken.py") == []


def test_gpu_chosen_from_evidence_is_a_warning_naming_it():
    evidence = [base_image_evidence("nvidia/cuda:12.1.1-runtime-ubuntu22.04",
                                    Location(file="Dockerfile", line=2)),
                dependency_evidence("torch", Location(file="requirements.txt", line=1)),
                dependency_evidence("torch", Location(file="other.txt", line=9))]
    choice = choose_machine(evidence, source="the Dockerfile")
    assert choice.machine_type == GPU_MACHINE and choice.gpu
    assert len(choice.evidence) == 2  # the same requirement twice counts once
    (finding,) = choice.findings
    assert (finding.rule == GPU_RULE and finding.severity == "warning"
            and str(finding.location) == "Dockerfile:2")
    assert "nvidia/cuda:12.1.1" in finding.message and "torch (requirements.txt:1)" in finding.message
    assert choice.decisions[0].target == f"machine_type {GPU_MACHINE}"


def test_no_evidence_is_the_cpu_default_as_a_decision():
    choice = choose_machine([])
    assert choice.machine_type == CPU_MACHINE and not choice.gpu and choice.findings == ()
    assert "no GPU evidence" in choice.decisions[0].source


def test_a_declared_machine_wins_without_findings():
    evidence = [GpuEvidence("code", ".cuda()", Location(file="a.py", line=1))]
    choice = choose_machine(evidence, declared="GPU-H100")
    assert (choice.machine_type == "GPU-H100" and choice.gpu and choice.findings == ()
            and choice.decisions == ())
    assert not choose_machine([], declared=["S", "M"]).gpu
