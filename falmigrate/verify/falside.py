"""The fal side of offline checks: load a generated ``fal_app.py`` and call its endpoints without fal's cloud.

The private fal API this needs (``App(_allow_init=True)``, ``App._build_app()``, the in-memory file
repository) is reached only through ``falmigrate.falsdk``. File outputs go to fal's in-memory
repository (``data:`` URLs) instead of the CDN: generated code stays normal production code, only this
process is patched.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from falmigrate import falsdk
from falmigrate.errors import VerifyError


def load_module(path: Path, name: str = "fal_app") -> ModuleType:
    """Import ``path`` as a module (its directory first on sys.path, like ``fal run`` does)."""
    path = Path(path).resolve()
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise VerifyError(f"cannot load {path}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    module_spec.loader.exec_module(module)
    return module


def import_entry_module(name: str) -> ModuleType:
    """Import ``name`` the way fal's runner resolves ``python_entry_point``: ``importlib.import_module``
    from wherever the process runs, with the sys.path the interpreter starts with."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise VerifyError(f"cannot import {name!r} the way fal's runner would: {exc}",
                          hint="the image must make the module importable from site-packages (.pth)") from exc


app_classes = falsdk.app_classes
use_in_memory_files = falsdk.use_in_memory_files


@contextlib.contextmanager
def client(app_class: type) -> Iterator[Any]:
    """A fastapi TestClient on the app's ASGI app; entering runs the lifespan, i.e. ``setup()``."""
    from fastapi.testclient import TestClient

    asgi = falsdk.asgi_app(falsdk.new_app(app_class))
    with TestClient(asgi, raise_server_exceptions=False) as test_client:
        yield test_client


def pick_app(module: ModuleType, name: str | None = None) -> type:
    classes = app_classes(module)
    if name is not None:
        for cls in classes:
            if cls.__name__ == name:
                return cls
        raise VerifyError(f"no fal.App subclass named {name!r} in {module.__file__}")
    if not classes:
        raise VerifyError(f"no fal.App subclass in {module.__file__}")
    return classes[0]
