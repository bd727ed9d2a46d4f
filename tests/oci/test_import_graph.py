"""oci/ stands alone: it imports nothing from build/ (or any fal-specific package), and its modules
import each other without cycles — counting imports inside functions, which hide cycles from Python
but still tie the modules together."""

from __future__ import annotations

import ast
from pathlib import Path

import falmigrate

PACKAGE = Path(falmigrate.__file__).parent
OCI = PACKAGE / "oci"
ALLOWED_OUTSIDE = {"falmigrate.errors", "falmigrate.progress", "falmigrate"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The falmigrate modules ``path`` imports: ``from pkg import sub`` counts as ``pkg.sub`` when that
    is a module (a submodule taking its siblings from the package is no dependency on the package)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
    return {name for name in found if name.startswith("falmigrate")}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    oci = {name: path for name, path in modules.items() if name.startswith("falmigrate.oci")}
    return {name: {dep for dep in _imports(path, modules) if dep in oci and dep != name}
            for name, path in oci.items()}


def test_oci_imports_nothing_outside_itself_but_errors_and_progress():
    outside = {}
    modules = _modules()
    for path in OCI.rglob("*.py"):
        bad = {d for d in _imports(path, modules)
               if not d.startswith("falmigrate.oci") and d not in ALLOWED_OUTSIDE}
        if bad:
            outside[str(path.relative_to(PACKAGE))] = sorted(bad)
    assert outside == {}


def test_no_import_cycles_inside_oci():
    graph = _graph()
    # packages import their own submodules only through the names above; an __init__ that imports a
    # submodule which imports the package back is a cycle too, so nothing is excluded.
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, [*stack, dep])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_the_graph_sees_lazy_imports():
    """The checker counts imports inside functions (the docker:// transport is imported lazily)."""
    assert "falmigrate.oci.remote.transport" in _graph()["falmigrate.oci.transports"]
