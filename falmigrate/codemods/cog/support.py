"""Text the cog codemod adds to the user's module: helper functions and import bookkeeping.

The helpers are plain production code (no falmigrate import at run time): file inputs are downloaded
with ``fal.toolkit.download_file`` before the body runs (cog did the same), return values are turned
into response data (paths → uploaded ``fal.toolkit.File``), streams are sent as server-sent events.
"""

from __future__ import annotations

import libcst as cst

MARK = "# --- added by falmigrate: request/response models and helpers for the fal app below ---"

HELPERS = '''
_FALMIGRATE_DIR = os.path.dirname(os.path.abspath(__file__))


def _falmigrate_download(url, open_file=False):
    """A request's file URL (http(s) or data: URI) → a local path, downloaded before the body runs (as cog did)."""
    if url is None:
        return None
    if isinstance(url, list):
        return [_falmigrate_download(item, open_file) for item in url]
    path = download_file(url, target_dir=tempfile.mkdtemp(prefix="falmigrate-input-"))
    return open(path, "rb") if open_file else path


def _falmigrate_value(value):
    """A predictor's return value as response data: paths become uploaded fal Files, models become dicts."""
    if isinstance(value, os.PathLike):
        path = os.fspath(value)
        return File.from_path(path, content_type=mimetypes.guess_type(path)[0])
    if hasattr(value, "model_dump") and not isinstance(value, File):
        value = dict(value)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {key: _falmigrate_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)) or hasattr(value, "__next__"):
        return [_falmigrate_value(item) for item in value]
    return value
'''

# When the importer typed the file outputs fal Image (falmigrate.importers.cog.outputs), every returned
# path becomes an Image: an Image is a File, so it also fits any File field of the same response.
IMAGE_PATHS = (
    "    if isinstance(value, os.PathLike):\n"
    "        path = os.fspath(value)\n"
    "        return Image.from_path(path, content_type=mimetypes.guess_type(path)[0])\n"
)
PLAIN_PATHS = IMAGE_PATHS.replace("Image.from_path", "File.from_path")


def helpers(images: bool) -> str:
    """HELPERS, with the Image variant of the path conversion when the response has Image fields."""
    return HELPERS.replace(PLAIN_PATHS, IMAGE_PATHS) if images else HELPERS


WEIGHTS = '''

def _falmigrate_weights():
    """What cog passed to setup(weights): the COG_WEIGHTS environment variable, or None."""
    return os.environ.get("COG_WEIGHTS") or None
'''

EVENTS = '''

def _falmigrate_events(items):
    """Each streamed item as one server-sent event (JSON), as cog streamed outputs."""
    for item in items:
        yield f"data: {json.dumps(jsonable_encoder(_falmigrate_value(item)))}\\n\\n"
'''

AEVENTS = '''

async def _falmigrate_aevents(items):
    """Each item of an async stream as one server-sent event (JSON)."""
    async for item in items:
        yield f"data: {json.dumps(jsonable_encoder(_falmigrate_value(item)))}\\n\\n"
'''

# What each cog name becomes when the rewritten module still uses it: (module, name) to import as
# the same local name. Names mapped to None are dropped (their uses were rewritten away).
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


# cog names with no fal equivalent that fal_app.py defines itself (cog is not installed in the fal image,
# so importing them would fail at startup). They do what cog's own versions do outside a cog prediction:
# nothing. Each use keeps a TODO(falmigrate FM109) marker.
COG_STUBS: dict[str, str] = {
    "emit_metric": '''
def emit_metric(name, value):
    """Stand-in for cog's emit_metric: fal keeps no per-prediction metrics, so this does nothing."""
''',
    "current_scope": '''
class _FalmigrateScope:
    """Stand-in for cog's prediction scope: metrics are accepted and dropped."""

    def __init__(self):
        self.metrics = {}

    def record_metric(self, key, value, mode="replace"):
        return None


def current_scope():
    """Stand-in for cog's current_scope(): fal keeps no per-prediction metrics."""
    return _FalmigrateScope()
''',
    "__version__": '''
__version__ = "unknown"  # cog's version; cog is not installed in the fal image
''',
    "ExperimentalFeatureWarning": '''
class ExperimentalFeatureWarning(Warning):
    """Stand-in for cog's warning category, so warnings filters keep working."""
''',
}

RECORD_METRIC = '''
def record_metric(self, key, value, mode="replace"):
    """Stand-in for cog's BaseRunner.record_metric: fal keeps no per-prediction metrics."""
'''


def stub_statements(name: str) -> list[cst.BaseStatement]:
    """The stand-in for cog name ``name``, led by two blank lines."""
    body = list(cst.parse_module(COG_STUBS[name].lstrip("\n")).body)
    blank = [cst.EmptyLine(indent=False), cst.EmptyLine(indent=False)]
    return [body[0].with_changes(leading_lines=blank), *body[1:]]


def import_statement(module: str, name: str | None, alias: str | None = None) -> cst.SimpleStatementLine:
    if name is None:
        return cst.parse_statement(f"import {module}" + (f" as {alias}" if alias else ""))
    suffix = f" as {alias}" if alias and alias != name else ""
    return cst.parse_statement(f"from {module} import {name}{suffix}")


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
