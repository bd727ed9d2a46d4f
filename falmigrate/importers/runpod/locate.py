"""Following names from the worker module into the project's own modules (statically).

RunPod workers often keep the handler or the ``rp_validator`` schema in a sibling module
(``from rp_handler import handler``, ``from rp_schemas import INPUT_SCHEMA``) and name the handler
through a variable (``entry = handler``, ``config["handler"] = entry``). ``find_handler`` follows those
to the function definition; ``find_schema`` to the schema's dict literal. Modules are looked up the way
Python would from the worker's folder (the folder ``python handler.py`` puts first on ``sys.path``),
then from the project root; a name imported from anything else (an installed package) is not followed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import libcst as cst

from falmigrate.errors import SourceError
from falmigrate.importers.runpod.reader import StartCall, WorkerModule, read_worker, resolve_handler

_HOPS = 4


@dataclass
class HandlerRef:
    call: str  # what the fal app calls, as written in the entry module (``handler``, ``impl.handler``)
    mod: WorkerModule  # the module defining the handler (the entry module or a project module)
    fn: cst.FunctionDef


class ProjectModules:
    """The project's Python modules, parsed once each, located relative to the worker module."""

    def __init__(self, root: Path, entry: WorkerModule) -> None:
        self.root = root
        self.entry = entry
        self._parsed: dict[str, WorkerModule] = {entry.path: entry}

    def path_of(self, importer: WorkerModule, module: str) -> str | None:
        """Project-relative path of ``module`` as imported from ``importer``, if it is in the project."""
        here = Path(importer.path).parent
        if module.startswith("."):
            dots = len(module) - len(module.lstrip("."))
            base = here
            for _ in range(dots - 1):
                base = base.parent
            bases = [base]
            module = module.lstrip(".")
        else:
            bases = [here, Path(self.entry.path).parent, Path(".")]
        parts = [p for p in module.split(".") if p]
        if not parts:
            return None
        for base in dict.fromkeys(bases):
            for candidate in (base.joinpath(*parts).with_suffix(".py"), base.joinpath(*parts, "__init__.py")):
                if (self.root / candidate).is_file():
                    return candidate.as_posix()
        return None

    def load(self, rel: str) -> WorkerModule:
        if rel not in self._parsed:
            try:
                text = (self.root / rel).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise SourceError(f"cannot read {rel}: {exc}", file=rel) from exc
            self._parsed[rel] = read_worker(text, rel)
        return self._parsed[rel]

    def imported(self, mod: WorkerModule, local: str) -> tuple[WorkerModule, str] | None:
        """(module, name there) that ``from m import name as local`` in ``mod`` refers to, in the project."""
        target = mod.local_imports.get(local)
        if target is None or target[1] is None:
            return None
        rel = self.path_of(mod, target[0])
        return (self.load(rel), target[1]) if rel is not None else None


def find_handler(modules: ProjectModules, start: StartCall) -> HandlerRef:
    """The function ``start``'s ``"handler"`` names, followed through variables and project imports."""
    mod = modules.entry
    handler = start.config.get("handler")
    if handler is None:
        raise SourceError('the start config has no "handler" key', file=mod.path, line=start.config_line,
                          hint='pass {"handler": your_function}')
    what = mod.module.code_for_node(handler)
    problem = SourceError(f"the handler {what!r} is not a function falmigrate can find (a "
                          f"def in {mod.path} or in a module of this project)", file=mod.path,
                          line=mod.line(handler),
                          hint="name a function defined with def/async def in the worker or "
                               "in a module next to it")
    resolved = resolve_handler(mod, handler, start.line)
    if resolved is None:
        raise problem
    call, module, name = resolved
    if module is None:
        return HandlerRef(call=call, mod=mod, fn=mod.functions[name])
    current = mod
    for _ in range(_HOPS):
        rel = modules.path_of(current, module)
        if rel is None:
            raise problem
        current = modules.load(rel)
        if name in current.functions:
            return HandlerRef(call=call, mod=current, fn=current.functions[name])
        following = current.local_imports.get(name)
        if following is None or following[1] is None:
            raise problem
        module, name = following
    raise problem


def find_schema(modules: ProjectModules, mod: WorkerModule,
                name: str) -> tuple[WorkerModule, cst.BaseExpression] | None:
    """The module-level value bound to the schema ``name`` in ``mod``, or in the
    project module it comes from."""
    for _ in range(_HOPS):
        if name in mod.assignments:
            return mod, mod.assignments[name]
        found = modules.imported(mod, name)
        if found is None:
            return None
        mod, name = found
    return None
