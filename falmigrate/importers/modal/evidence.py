"""GPU evidence for apps whose Modal code asks for no ``gpu=``: never a silent CPU machine.

Strong evidence — a CUDA base image, GPU-only packages (vllm, flash-attn, xformers, bitsandbytes…),
``.cuda()`` / ``device="cuda"`` / ``.to("cuda")`` in the app's own code — gives the app a GPU machine
type with a warning naming the evidence. ``torch`` alone keeps the CPU machine Modal used (torch runs
on CPUs too), with a warning naming it, so the choice is always visible.
"""

from __future__ import annotations

import re

import libcst as cst

from falmigrate.spec import Finding, HardwareSpec, ImageSpec, Location

EVIDENCE_RULE = "FM238"
EVIDENCE_GPU = "GPU-A6000"  # the smallest fal GPU class
GPU_PACKAGES = ("vllm", "flash-attn", "flash_attn", "xformers", "bitsandbytes", "sglang", "tensorrt",
                "auto-gptq", "exllamav2", "deepspeed", "triton")
CPU_CAPABLE = ("torch", "tensorflow", "jax", "diffusers", "transformers")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+")
_CUDA_BASE = re.compile(r"(nvidia/cuda|cuda[:\-_]|pytorch/pytorch|nvcr\.io/)", re.IGNORECASE)


def _package(requirement: str) -> str:
    match = _NAME.match(requirement.strip())
    return match.group(0).lower().replace("_", "-") if match else ""


class _CudaCalls(cst.CSTVisitor):
    def __init__(self) -> None:
        self.nodes: list[cst.CSTNode] = []

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Attribute) and node.func.attr.value == "cuda" and not node.args:
            self.nodes.append(node)
            return
        for arg in node.args:
            value = arg.value
            cuda = isinstance(value, cst.SimpleString) and value.evaluated_value in ("cuda", "cuda:0")
            if cuda and (arg.keyword is None or arg.keyword.value == "device"):
                self.nodes.append(node)
                return


def code_evidence(nodes: list[cst.CSTNode], location: object) -> list[str]:
    """``.cuda()`` / ``device="cuda"`` / ``.to("cuda")`` in the given code, as "file:line: text" strings."""
    found = []
    for node in nodes:
        visitor = _CudaCalls()
        node.visit(visitor)
        for call in visitor.nodes:
            where = location(call)  # type: ignore[operator]
            code = cst.Module([]).code_for_node(call).splitlines()[0]
            found.append(f"`{code}` ({where})")
    return found


def image_evidence(image: ImageSpec, packages: list[str]) -> tuple[list[str], list[str]]:
    """(strong, weak) evidence from the image: its base and the packages it installs."""
    strong, weak = [], []
    if image.base and _CUDA_BASE.search(image.base):
        strong.append(f"the CUDA base image {image.base}")
    names = {_package(p) for p in [*packages, *image.python_requirements]}
    strong += [f"the {n} package" for n in sorted(names)
               if any(n.startswith(g.replace("_", "-")) for g in GPU_PACKAGES)]
    weak += [f"the {n} package" for n in sorted(names) if n in CPU_CAPABLE]
    return strong, weak


def apply(hardware: HardwareSpec, strong: list[str], weak: list[str], name: str,
          where: Location | None) -> tuple[HardwareSpec, Finding | None]:
    """The app's hardware given the evidence (only for apps without an explicit gpu=)."""
    if hardware.gpu:
        return hardware, None
    if strong:
        return HardwareSpec(machine_type=EVIDENCE_GPU, gpu=True), Finding(
            rule=EVIDENCE_RULE, severity="warning", location=where,
            message=f"{name} asks Modal for no GPU, but {', '.join(strong)} need one: it gets {EVIDENCE_GPU}",
            remediation="set machine_type in pyproject.toml to the GPU the app needs (or to a CPU "
                        "type if the GPU code is never reached)")
    if weak:
        return hardware, Finding(
            rule=EVIDENCE_RULE, severity="warning", location=where,
            message=f"{name} asks Modal for no GPU and uses {', '.join(weak)}: it stays on a CPU machine "
                    f"({hardware.machine_type}) as on Modal",
            remediation="set machine_type in pyproject.toml to a GPU type (e.g. GPU-A6000) if the "
                        "app should run on one")
    return hardware, None
