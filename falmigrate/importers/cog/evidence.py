"""What the project's code and requirements say that cog.yaml does not (read as text/libcst, never run).

- GPU evidence (FM121): CUDA-only packages among the requirements (torch alone runs on CPU too), ``.cuda()``
  calls and ``"cuda"`` devices in the code. cog.yaml without ``build.gpu`` then gets what ``build.gpu: true``
  gives (a GPU machine and cog's CUDA base), with the evidence named; an explicit ``gpu: false`` is kept.
- Module-level ``argparse`` parsing (FM122): ``parser.parse_args()`` at import reads the argv of whatever
  process imports the module — fal's runner, not a command line. The codemod makes it parse ``[]`` in
  the predictor module (the defaults, as under cog); elsewhere the finding says where to do the same.
- Work at import (FM126): weight downloads or model loads at module level run whenever the module is
  imported, including the import ``fal deploy`` triggers to read the app's schema; they belong in setup().
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from falmigrate.importers.cog import mapping
from falmigrate.spec import Finding, Location

# Packages that only work with CUDA. torch itself is not one: cog installs its CPU build when cog.yaml does
# not set build.gpu, and such projects run on CPU on Replicate.
GPU_PACKAGES = ("vllm", "xformers", "flash-attn", "flash_attn", "bitsandbytes", "triton", "auto-gptq",
                "onnxruntime-gpu", "tensorrt", "cupy-cuda12x", "cupy-cuda11x", "exllamav2")
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_CUDA_DEVICE = re.compile(r"^cuda(?::\d+)?$")
_IMPORT_TIME_WORK = {"from_pretrained", "snapshot_download", "hf_hub_download", "pget", "download_weights",
                     "load_state_dict", "download_model_weights", "urlretrieve"}
_SKIP_DIRS = {".git", "__pycache__", ".venv", "venv", "node_modules", ".cog"}


@dataclass(frozen=True)
class Evidence:
    what: str
    location: Location


def _finding(rule: str, message: str, remediation: str, location: Location | None) -> Finding:
    return Finding(rule=rule, severity=mapping.severity(rule), message=message, remediation=remediation,
                   location=location)


def requirement_evidence(lines: list[str], where: Location) -> list[Evidence]:
    found = []
    for line in lines:
        match = _REQUIREMENT_NAME.match(line.split("#", 1)[0])
        name = match.group(1).lower() if match else ""
        if name in GPU_PACKAGES or name.startswith("nvidia-"):
            found.append(Evidence(f"the requirement `{line.strip()}`", where))
    return found


def project_modules(root: Path) -> list[str]:
    """The project's Python files (relative, sorted), junk folders skipped."""
    return sorted(p.relative_to(root).as_posix() for p in Path(root).rglob("*.py")
                  if p.is_file() and not _SKIP_DIRS & set(p.relative_to(root).parts))


class _CodeScan(cst.CSTVisitor):
    """CUDA use anywhere; argparse parsing and model loading at module level (outside defs, classes and
    ``if __name__ == "__main__":``)."""

    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, file: str) -> None:
        self.file = file
        self.cuda: list[Evidence] = []
        self.argparse: list[Location] = []
        self.import_work: list[Evidence] = []
        self.depth = 0  # > 0 inside a def, class or __main__ block

    def _loc(self, node: cst.CSTNode) -> Location:
        pos = self.get_metadata(PositionProvider, node).start
        return Location(file=self.file, line=pos.line, column=pos.column + 1)

    def _enter(self, node: cst.CSTNode) -> bool:
        self.depth += 1
        return True

    def _leave(self, node: cst.CSTNode) -> None:
        self.depth -= 1

    visit_FunctionDef = visit_ClassDef = visit_Lambda = _enter
    leave_FunctionDef = leave_ClassDef = leave_Lambda = _leave

    def visit_If(self, node: cst.If) -> bool:
        main = "__name__" in cst.Module([]).code_for_node(node.test) and "__main__" in \
            cst.Module([]).code_for_node(node.test)
        self.depth += main
        return True

    def leave_If(self, node: cst.If) -> None:
        main = "__name__" in cst.Module([]).code_for_node(node.test) and "__main__" in \
            cst.Module([]).code_for_node(node.test)
        self.depth -= main

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        value = node.evaluated_value
        if isinstance(value, str) and _CUDA_DEVICE.match(value):
            self.cuda.append(Evidence(f'the device "{value}"', self._loc(node)))

    def visit_Call(self, node: cst.Call) -> None:
        name = node.func.attr.value if isinstance(node.func, cst.Attribute) else \
            node.func.value if isinstance(node.func, cst.Name) else ""
        if name == "cuda" and isinstance(node.func, cst.Attribute):
            self.cuda.append(Evidence("a `.cuda()` call", self._loc(node)))
        if self.depth:
            return
        if name in ("parse_args", "parse_known_args") and not node.args:
            self.argparse.append(self._loc(node))
        elif name in _IMPORT_TIME_WORK:
            self.import_work.append(Evidence(f"`{cst.Module([]).code_for_node(node.func)}(…)`",
                                             self._loc(node)))


def scan(root: Path, file: str) -> _CodeScan | None:
    try:
        module = cst.parse_module((Path(root) / file).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, cst.ParserSyntaxError):
        return None
    visitor = _CodeScan(file)
    MetadataWrapper(module).visit(visitor)
    return visitor


@dataclass
class CodeFacts:
    cuda: list[Evidence]
    argparse: list[Location]
    import_work: list[Evidence]


def code_facts(root: Path) -> CodeFacts:
    facts = CodeFacts([], [], [])
    for file in project_modules(root):
        found = scan(root, file)
        if found is not None:
            facts.cuda += found.cuda
            facts.argparse += found.argparse
            facts.import_work += found.import_work
    return facts


def gpu_finding(said: object, evidence: list[Evidence], machine: str) -> Finding | None:
    """FM121 when the code needs CUDA and cog.yaml does not say ``gpu: true``."""
    if said is True or not evidence:
        return None
    named = "; ".join(f"{e.what} ({e.location})" for e in evidence[:3]) + (" …" if len(evidence) > 3 else "")
    if said is False:
        return _finding("FM121",
                        f"cog.yaml says build.gpu: false, but the project uses CUDA: {named}; kept on a CPU "
                        "machine as cog.yaml says",
                        "set build.gpu: true in cog.yaml if the model needs a GPU, "
                        "then convert again", evidence[0].location)
    return _finding("FM121",
                    f"cog.yaml does not set build.gpu, but the project uses CUDA: {named}; the app gets a "
                    f"GPU machine ({machine}) and cog's CUDA base, as with build.gpu: true",
                    "set build.gpu: true in cog.yaml to say so (or build.gpu: false and "
                    "convert again if the model runs on CPU); choose the GPU with "
                    "machine_type in pyproject.toml", evidence[0].location)


def argparse_findings(locations: list[Location], predictor_file: str) -> list[Finding]:
    found = []
    for where in locations:
        fixed = where.file == predictor_file
        found.append(_finding(
            "FM122",
            "argument parsing at import reads the argv of the process that imports the module (fal's "
            "runner), not a command line"
            + ("; fal_app.py parses an empty list instead: the parser's "
               "defaults, as under cog" if fixed else ""),
            "read settings from environment variables or constants"
            + ("" if fixed else "; or pass [] to parse_args() here"), where))
    return found


def import_work_findings(evidence: list[Evidence]) -> list[Finding]:
    return [_finding("FM126",
                     f"{e.what} runs when the module is imported: fal imports the app once per deploy to "
                     "read its schema, and on every runner before setup()",
                     "move it into setup() (or behind a function setup() calls)", e.location)
            for e in evidence]
