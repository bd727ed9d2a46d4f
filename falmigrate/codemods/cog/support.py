"""What the cog codemod adds to the user's module, and how cog's names map to fal's.

Helper code comes from real modules (``falmigrate/apptemplates/cog_io.py``, ``cog_images.py``,
``cog_stubs.py``) through ``falmigrate.render.snippets``: only the definitions the rewritten module
calls are copied, with exactly the imports they use, so the output stays ruff-F clean.
"""

from __future__ import annotations

import libcst as cst
from libcst.codemod.visitors import ImportItem

from falmigrate.render import snippets

MARK = "# --- added by falmigrate: request/response models and helpers for the fal app below ---"
IO_MODULE = "cog_io"
IMAGES_MODULE = "cog_images"
STUBS_MODULE = "cog_stubs"
HELPER_PREFIX = "_falmigrate_"
UPLOAD = "_falmigrate_upload"  # the one helper with an Image variant (cog_images.py)
ENTER_PROJECT = "_falmigrate_enter_project"  # called after the imports, not copied with the others

# cog names with a plain-Python/fal equivalent when the rewritten module still uses it: (module, name) to
# import as the same local name. Names mapped to None are dropped (their uses were rewritten away).
COG_NAMES: dict[str, tuple[str, str] | None] = {
    "BasePredictor": None,
    "BaseRunner": None,
    "Input": None,
    "concurrent": None,
    "Path": ("pathlib", "Path"),
    "BaseModel": ("pydantic", "BaseModel"),
    "Secret": ("pydantic", "SecretStr"),
    "ConcatenateIterator": ("collections.abc", "Iterator"),
    "AsyncConcatenateIterator": ("collections.abc", "AsyncIterator"),
}

# cog names with no fal equivalent that fal_app.py defines itself (apptemplates/cog_stubs.py): cog is not
# installed in the fal image, so importing them would fail at startup. Each use keeps a TODO(FM109).
COG_STUBS = frozenset({"emit_metric", "current_scope", "__version__", "ExperimentalFeatureWarning"})
RECORD_METRIC = "record_metric"


def helper_names() -> frozenset[str]:
    """Every helper ``cog_io`` defines (what a rewritten module may call)."""
    return snippets.defined_names(IO_MODULE)


def helpers(used: set[str], *, images: bool) -> snippets.Snippet:
    """The helpers ``used`` (names the rewritten module calls) with their imports; with ``images`` the
    upload helper is cog_images' (returned paths become fal Images)."""
    wanted = used & helper_names() - {ENTER_PROJECT}
    if not wanted:
        return snippets.Snippet()
    provided = {UPLOAD} if images else set()
    found = snippets.emit(IO_MODULE, wanted, provided=provided)
    if images and UPLOAD in _calls(found.code):
        image = snippets.emit(IMAGES_MODULE, {UPLOAD})
        found = snippets.Snippet(code=image.code + "\n\n" + found.code,
                                 imports=[*image.imports, *found.imports])
    return found


def enter_project() -> snippets.Snippet:
    """The helper that makes the module's folder the working directory, as cog's /src was (called first)."""
    return snippets.emit(IO_MODULE, {ENTER_PROJECT})


def stubs(names: set[str]) -> snippets.Snippet:
    return snippets.emit(STUBS_MODULE, names) if names else snippets.Snippet()


def _calls(code: str) -> set[str]:
    return {node.value for node in _names(cst.parse_module(code))}


class _NameCollector(cst.CSTVisitor):
    def __init__(self) -> None:
        self.found: list[cst.Name] = []

    def visit_Name(self, node: cst.Name) -> None:
        self.found.append(node)


def _names(node: cst.CSTNode) -> list[cst.Name]:
    collector = _NameCollector()
    node.visit(collector)
    return collector.found


def used_helpers(module: cst.Module) -> set[str]:
    """The ``_falmigrate_*`` names a module refers to."""
    return {n.value for n in _names(module) if n.value.startswith(HELPER_PREFIX)}


def statements(code: str, *, blank: int = 2) -> list[cst.BaseStatement]:
    """The top-level statements of ``code``, each led by ``blank`` empty lines (PEP 8 between definitions)."""
    body = list(cst.parse_module(code).body) if code.strip() else []
    lines = [cst.EmptyLine(indent=False)] * blank
    return [statement.with_changes(leading_lines=lines) for statement in body]


def record_metric_method() -> cst.FunctionDef:
    """cog_stubs' ``record_metric`` as a method for the app class (led by one blank line)."""
    node = cst.parse_module(snippets.emit(STUBS_MODULE, {RECORD_METRIC}).code).body[0]
    assert isinstance(node, cst.FunctionDef)
    return node.with_changes(leading_lines=[cst.EmptyLine(indent=False)])


def existing_bindings(module: cst.Module) -> set[tuple[str, str | None, str]]:
    """(module, imported name or None, local name) of every top-level import."""
    found: set[tuple[str, str | None, str]] = set()
    for statement in module.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if isinstance(small, cst.Import):
                for alias in small.names:
                    dotted = cst.Module([]).code_for_node(alias.name)
                    local = alias.asname.name.value if alias.asname else dotted.split(".")[0]
                    found.add((dotted, None, local))
            elif isinstance(small, cst.ImportFrom) and small.module is not None \
                    and not isinstance(small.names, cst.ImportStar):
                dotted = cst.Module([]).code_for_node(small.module)
                for alias in small.names:
                    name = alias.name.value
                    found.add((dotted, name, alias.asname.name.value if alias.asname else name))
    return found


def import_item(module: str, name: str | None, local: str | None = None) -> ImportItem:
    """An import of ``name`` from ``module`` (or of the module) bound to ``local``."""
    bound = name if name is not None else module.split(".")[0]
    return ImportItem(module, name, local if local and local != bound else None)
