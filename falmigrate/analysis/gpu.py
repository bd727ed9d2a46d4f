"""Whether an app needs a GPU, from what its project shows, and the machine type that follows.

Real projects rarely say "GPU" in a setting fal can read: a Dockerfile builds on a CUDA image, the
requirements pin torch or vllm, the code moves tensors with ``.cuda()`` or ``device="cuda"``. An app
that needs a GPU and lands on fal's CPU default fails at its first request (or runs hours per call),
so every importer asks this module instead of leaving the default: each piece of evidence keeps its
file:line, and the choice is always reported — a GPU machine type with a warning that names the
evidence, or the CPU default with a decision saying nothing pointed at a GPU.

Static only: requirement lines and image references are read as text, Python code with ``ast``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from falmigrate.spec import Decision, Finding, Location

GPU_RULE = "FM030"
CPU_MACHINE = "S"
GPU_MACHINE = "GPU-A100"  # the one fal GPU with room for most models when nothing says which
EvidenceKind = Literal["base_image", "dependency", "code"]

# Distributions that only make sense with an NVIDIA GPU, or whose default wheels bring CUDA along.
GPU_PACKAGES = frozenset({
    "torch", "torchvision", "torchaudio", "vllm", "xformers", "flash-attn", "flash-attention", "bitsandbytes",
    "triton", "tensorrt", "tensorrt-llm", "onnxruntime-gpu", "faiss-gpu", "deepspeed", "auto-gptq",
    "exllamav2", "sglang", "paddlepaddle-gpu", "mmcv-full", "spconv", "nvidia-dali",
})
_GPU_PREFIXES = ("cupy-cuda", "nvidia-", "jax-cuda", "tensorflow-gpu")
# Images that carry CUDA whatever their tag says.
GPU_IMAGES = ("nvidia/cuda", "nvcr.io/", "vllm/vllm-openai", "ghcr.io/huggingface/text-generation-inference",
              "runpod/pytorch", "runpod/worker-vllm", "lmsysorg/sglang")
_CUDA_TAG = re.compile(r"(?:^|[-_:.])(?:cuda|cu\d{2,3}|gpu)(?:[-_.\d]|$)", re.IGNORECASE)
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?")
_CPU_BUILD = re.compile(r"\+cpu\b|/whl/cpu\b|--cpu\b")
_CUDA_DEVICE = re.compile(r"^cuda(?::\d+)?$")


@dataclass(frozen=True)
class GpuEvidence:
    """One sign that the app runs on an NVIDIA GPU, and where it was seen."""

    kind: EvidenceKind
    detail: str  # the image reference, the requirement name, or the code construct
    location: Location | None = None

    def describe(self) -> str:
        labels = {"base_image": "CUDA base image", "dependency": "dependency", "code": "CUDA in code"}
        label = labels[self.kind]
        where = f" ({self.location})" if self.location is not None else ""
        return f"{label} {self.detail}{where}"


@dataclass(frozen=True)
class MachineChoice:
    """The machine type to deploy on and how the report explains it."""

    machine_type: str | list[str]
    gpu: bool
    evidence: tuple[GpuEvidence, ...]
    findings: tuple[Finding, ...] = ()
    decisions: tuple[Decision, ...] = ()


def base_image_evidence(image: str, location: Location | None = None) -> GpuEvidence | None:
    """A base image that brings CUDA (``nvidia/cuda:…``, ``pytorch/pytorch:…-cuda12.1…``, ``…-gpu``)."""
    name = image.split("@", 1)[0].removeprefix("docker.io/")
    repository, _, tag = name.rpartition(":") if ":" in name.rsplit("/", 1)[-1] else (name, "", "")
    if name.startswith(GPU_IMAGES) or _CUDA_TAG.search(tag) or "cuda" in repository.rsplit("/", 1)[-1]:
        return GpuEvidence("base_image", image, location)
    return None


def requirement_name(line: str) -> str | None:
    """The normalised distribution name of a requirement line (``Torch[extra]>=2`` → ``torch``)."""
    text = line.split("#", 1)[0].strip()
    if not text or text.startswith("-"):
        return None
    match = _NAME.match(text)
    return re.sub(r"[._]+", "-", match.group(1)).lower() if match else None


def dependency_evidence(requirement: str, location: Location | None = None) -> GpuEvidence | None:
    """A requirement that needs a GPU; CPU builds (``torch==2.2+cpu``, the ``/whl/cpu`` index) don't count."""
    name = requirement_name(requirement)
    if name is None or _CPU_BUILD.search(requirement):
        return None
    extras = _NAME.match(requirement.strip())
    cuda_extra = bool(extras and extras.group(2) and "cuda" in extras.group(2).lower())
    if name in GPU_PACKAGES or name.startswith(_GPU_PREFIXES) or cuda_extra:
        return GpuEvidence("dependency", name, location)
    return None


def requirements_evidence(text: str, path: str) -> list[GpuEvidence]:
    """Evidence from a requirements file; a file-wide CPU index (``--index-url …/whl/cpu``) cancels torch."""
    cpu_index = any(_CPU_BUILD.search(line) for line in text.splitlines() if line.strip().startswith("-"))
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        hit = dependency_evidence(line, Location(file=path, line=number))
        if hit is not None and not (cpu_index and hit.detail.startswith("torch")):
            found.append(hit)
    return found


def _is_cuda(node: ast.AST) -> bool:
    is_text = isinstance(node, ast.Constant) and isinstance(node.value, str)
    return is_text and bool(_CUDA_DEVICE.match(node.value))  # type: ignore[attr-defined]


def _call_evidence(call: ast.Call) -> str | None:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    if name == "cuda" and isinstance(func, ast.Attribute):
        return ".cuda()"
    if name in ("to", "device") and call.args and _is_cuda(call.args[0]):
        return f'{name}("{call.args[0].value}")'  # type: ignore[attr-defined]
    for keyword in call.keywords:
        if keyword.arg in ("device", "device_map") and _is_cuda(keyword.value):
            return f'{keyword.arg}="{keyword.value.value}"'  # type: ignore[attr-defined]
    return None


def _assign_evidence(node: ast.Assign | ast.AnnAssign) -> str | None:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    names = [t.id for t in targets if isinstance(t, ast.Name)]
    values = [node.value] if node.value is not None else []
    if isinstance(node.value, ast.IfExp):  # DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
        values = [node.value.body, node.value.orelse]
    for name in names:
        if "device" in name.lower() and any(_is_cuda(v) for v in values):
            return f'{name} = "cuda"'
    return None


def code_evidence(source: str, path: str) -> list[GpuEvidence]:
    """``.cuda()``, ``.to("cuda")``, ``torch.device("cuda")``, ``device="cuda"`` and ``DEVICE = "cuda"`` in
    ``source``; a file that does not parse has none (the importer reports syntax errors itself)."""
    try:
        tree = ast.parse(source, filename=path)
    except (SyntaxError, ValueError):
        return []
    found: dict[str, GpuEvidence] = {}
    for node in ast.walk(tree):
        detail = None
        if isinstance(node, ast.Call):
            detail = _call_evidence(node)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            detail = _assign_evidence(node)
        if detail is not None and detail not in found:
            where = Location(file=path, line=getattr(node, "lineno", None))
            found[detail] = GpuEvidence("code", detail, where)
    return sorted(found.values(), key=lambda e: e.location.line if e.location and e.location.line else 0)


def _unique(evidence: Iterable[GpuEvidence]) -> tuple[GpuEvidence, ...]:
    seen: dict[tuple[str, str], GpuEvidence] = {}
    for item in evidence:
        seen.setdefault((item.kind, item.detail), item)
    return tuple(seen.values())


def choose_machine(evidence: Sequence[GpuEvidence], *, declared: str | list[str] | None = None,
                   source: str = "the project") -> MachineChoice:
    """The machine type: what the project declared, else a GPU when there is evidence, else the CPU
    default — never silently: a GPU chosen from evidence is a warning naming it, the CPU default a
    decision saying nothing pointed at a GPU."""
    items = _unique(evidence)
    if declared is not None:
        gpu = any(str(t).startswith("GPU") for t in ([declared] if isinstance(declared, str) else declared))
        return MachineChoice(declared, gpu, items)
    if not items:
        decision = Decision(source=f"no GPU evidence in {source}", target=f"machine_type {CPU_MACHINE} (CPU)",
                            note="no CUDA base image, GPU dependency (torch, vllm, …) or CUDA call was found")
        return MachineChoice(CPU_MACHINE, False, items, decisions=(decision,))
    named = "; ".join(item.describe() for item in items[:5]) + ("; …" if len(items) > 5 else "")
    finding = Finding(
        rule=GPU_RULE, severity="warning", location=items[0].location,
        message=f"{source} names no machine, but it needs a GPU: {named}; machine_type {GPU_MACHINE} "
                "was chosen",
        remediation="set machine_type in pyproject.toml to the GPU the model needs (GPU-A6000 for 48 GB, "
                    "GPU-A100, GPU-H100 for the largest models)")
    decision = Decision(source=items[0].describe(), target=f"machine_type {GPU_MACHINE}",
                        note=f"{len(items)} piece(s) of GPU evidence", location=items[0].location)
    return MachineChoice(GPU_MACHINE, True, items, findings=(finding,), decisions=(decision,))
