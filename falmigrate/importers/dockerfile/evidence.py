"""What a Docker project shows beyond its server: GPU needs, side services, extra processes, missing files.

Feeds the shared analyses (``falmigrate.analysis.gpu``, ``falmigrate.analysis.sidecars``) with what a
Dockerfile project has: the final image's base, the pip installs of its RUN lines and the requirement
files they name, the Python code the image copies in, the compose file next to it, the ENTRYPOINT
script and a shell-form CMD. Image-only apps keep their launcher, so its extra processes come along
(one copy per runner).
"""

from __future__ import annotations

import os
from pathlib import Path

from falmigrate.analysis import gpu, sidecars
from falmigrate.dockerfile import ParsedDockerfile, installs
from falmigrate.dockerfile.shell import run_script
from falmigrate.importers.dockerfile.layout import image_path, project_file
from falmigrate.importers.dockerfile.server import Recognised
from falmigrate.spec import Finding, Location

_MAX_FILES = 200
_SHELLS = frozenset({"sh", "bash", "dash"})
_SKIP = frozenset({".git", "node_modules", ".venv", "venv", "__pycache__", "tests", "test"})


def python_files(folder: Path, root: Path) -> dict[str, str]:
    """The Python files under ``folder`` (paths relative to ``root``), tests and junk skipped, capped."""
    found: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP)
        for name in sorted(filenames):
            if name.endswith(".py") and len(found) < _MAX_FILES:
                path = Path(dirpath) / name
                found[path.relative_to(root).as_posix()] = path.read_text(encoding="utf-8", errors="replace")
    return found


def _requirement_evidence(parsed: ParsedDockerfile, context: Path, root: Path) -> list[gpu.GpuEvidence]:
    out = []
    for stage in parsed.chain():
        for ins in stage.instructions:
            if ins.instruction != "RUN":
                continue
            _, packages, files = installs(run_script(ins))
            where = Location(file=parsed.path, line=ins.line)
            out += [hit for p in packages if (hit := gpu.dependency_evidence(p, where)) is not None]
            for name in files:
                path = project_file(parsed, context, image_path(ins.workdir, name)) or context / name
                if path.is_file():
                    text = path.read_text(encoding="utf-8", errors="replace")
                    out += gpu.requirements_evidence(text, path.relative_to(root).as_posix())
    return out


def machine(parsed: ParsedDockerfile, context: Path, root: Path, code: dict[str, str]) -> gpu.MachineChoice:
    """The machine type from the final image's base, its pip installs and the code's CUDA calls."""
    base_stage = parsed.base_stage()
    evidence = []
    if (hit := gpu.base_image_evidence(base_stage.base, Location(file=parsed.path, line=base_stage.line))):
        evidence.append(hit)
    evidence += _requirement_evidence(parsed, context, root)
    for path, text in code.items():
        evidence += gpu.code_evidence(text, path)
    return gpu.choose_machine(evidence, source="the Dockerfile project")


def _built_paths(parsed: ParsedDockerfile) -> str:
    """The text of every RUN and VOLUME of the final image: paths named there exist at run time."""
    return "\n".join(ins.value for stage in parsed.chain() for ins in stage.instructions
                     if ins.instruction in ("RUN", "VOLUME"))


def missing_files(parsed: ParsedDockerfile, context: Path, root: Path, code: dict[str, str],
                  workdir: Path) -> list[Finding]:
    """Data files the code names that neither the project nor the build provides."""
    built = _built_paths(parsed)

    def exists(literal: str, module: str) -> bool:
        if literal.startswith("/"):
            return project_file(parsed, context, literal, folders=True) is not None or literal in built
        folder = (root / module).parent
        return any((base / literal).exists() for base in (workdir, folder, context)) or literal in built

    return sidecars.missing_file_findings(code, exists)


def side_findings(parsed: ParsedDockerfile, rec: Recognised, context: Path, root: Path,
                  rel: str) -> list[Finding]:
    """Compose services that are not this app, and the processes its launcher starts next to the server."""
    found = sidecars.compose_findings(root, rel)
    if rec.via:
        script = (context / rec.via).read_text(encoding="utf-8", errors="replace")
        where = (context / rec.via).relative_to(root).as_posix()
        found += sidecars.process_findings(script, where, kept=True)
    else:
        entry, cmd = parsed.command()
        command = entry or cmd
        argv = command.argv if command is not None else []
        shell = len(argv) >= 3 and argv[0].rsplit("/", 1)[-1] in _SHELLS and argv[1] == "-c"
        if command is not None and shell:
            found += sidecars.process_findings(argv[2], parsed.path, kept=True, line=command.line)
    return found
