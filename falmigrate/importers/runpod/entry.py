"""Which module of a repository is the RunPod worker: ``--entry``, or the only one that calls ``start``.

A repository may hold several workers (one per folder, each with its Dockerfile and requirements);
without ``--entry`` that is an error listing them (exit 2). One module may call ``start`` more than
once (a branch on an environment variable, a debug path) when every call names the same handler:
the calls' settings are merged, the first one written wins for a key both set.
"""

from __future__ import annotations

from pathlib import Path

from falmigrate import platforms
from falmigrate.errors import SourceError
from falmigrate.importers.runpod.reader import StartCall, WorkerModule, mentions_start, read_worker

SKIP_DIRS = platforms.get("runpod").skip_dirs
_OTHER_PLATFORMS = {"cog.yaml": "a cog project file", "Dockerfile": "a Dockerfile"}


def python_files(root: Path) -> list[Path]:
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if any(part in SKIP_DIRS or part.startswith(".") for part in rel.parts[:-1]):
            continue
        out.append(path)
    return out


def workers(root: Path) -> list[WorkerModule]:
    """Every module under ``root`` that calls ``runpod.serverless.start`` (parsed), in path order."""
    found = []
    for path in python_files(root):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if mentions_start(text):
            mod = read_worker(text, path.relative_to(root).as_posix())
            if mod.starts:
                found.append(mod)
    return found


def _not_a_worker_file(root: Path, entry: str) -> SourceError | None:
    path = root / entry
    name = path.name
    if not path.is_file():
        return SourceError(f"--entry {entry}: no such file in the source directory", file=entry,
                           hint="give the worker module's path relative to the source directory")
    what = _OTHER_PLATFORMS.get(name) or ("a Dockerfile" if name.startswith("Dockerfile") else None)
    if what is None and path.suffix != ".py":
        what = f"a {path.suffix or 'extensionless'} file"
    if what is None:
        text = path.read_text(encoding="utf-8", errors="replace")
        if "import modal" in text or "from modal " in text:
            what = "a Modal app file"
        elif "from cog import" in text or "import cog" in text:
            what = "a cog predictor"
    if what is not None:
        return SourceError(f"--entry {entry} is {what}, not a RunPod worker module", file=entry,
                           hint="name the .py file that calls runpod.serverless.start (or convert with the "
                                "platform that file belongs to)")
    return None


def entry_module(root: Path, entry: str) -> WorkerModule:
    """The module ``--entry`` names, parsed (it may serve HTTP instead of calling ``start``)."""
    problem = _not_a_worker_file(root, entry)
    if problem is not None:
        raise problem
    rel = (root / entry).resolve().relative_to(root.resolve()).as_posix()
    return read_worker((root / rel).read_text(encoding="utf-8"), rel)


def choose(root: Path) -> WorkerModule | None:
    """The one worker module of the repository; None when there is none; an error listing them when
    there are several."""
    found = workers(root)
    if len(found) > 1:
        where = ", ".join(f"{mod.path}:{mod.starts[0].line}" for mod in found)
        raise SourceError(f"{len(found)} RunPod workers in this repository ({where}); say "
                          "which one to convert",
                          file=found[1].path, line=found[1].starts[0].line,
                          hint="pass --entry PATH (relative to the source directory), e.g. --entry "
                               f"{found[0].path}")
    return found[0] if found else None


def merged_start(mod: WorkerModule) -> StartCall:
    """The module's start call; several calls must name the same handler (their settings are merged)."""
    first = mod.starts[0]
    handler = first.config.get("handler")
    shown = mod.module.code_for_node(handler) if handler is not None else None
    config = dict(first.config)
    for other in mod.starts[1:]:
        named = other.config.get("handler")
        other_shown = mod.module.code_for_node(named) if named is not None else None
        if other_shown != shown:
            raise SourceError(f"runpod.serverless.start is called with handler {other_shown} "
                              f"here and {shown} at line {first.line}; a worker serves one handler",
                              file=mod.path, line=other.line,
                              hint="split the handlers into separate workers (one module each) and pick one "
                                   "with --entry")
        for key, value in other.config.items():
            config.setdefault(key, value)
    return StartCall(node=first.node, line=first.line, config=config, config_line=first.config_line)
