"""The one place that uses fal's private API (checked against fal 1.83), for our own checks only.

Generated apps never use it. ``falmigrate verify`` and the in-image checks build an app's ASGI app
without fal's cloud (``App(_allow_init=True)``, ``App._build_app()``) and keep file outputs in
memory (``data:`` URLs instead of fal's CDN); ``falmigrate build --profile`` starts the apps of an
image the way a fal runner does before its first request (create the class, run ``setup()``). A fal
release that renames any of these breaks this module and its test, ``tests/verify/test_falsdk.py``,
and nothing else.

Standard library + fal only, no falmigrate import: ``build --profile`` copies this file into the image
and runs ``python3 falsdk.py start MODULE [CLASS ...]`` there.
"""

import asyncio
import importlib
import inspect
import sys


def new_app(app_class):
    """An instance of a ``fal.App`` subclass outside fal's runner (fal refuses plain instantiation)."""
    return app_class(_allow_init=True)


def asgi_app(app):
    """The app's FastAPI application: its endpoints plus fal's /health; its lifespan runs setup()."""
    return app._build_app()


def use_in_memory_files():
    """Make fal.toolkit's default file repositories return ``data:`` URLs (no network, no credentials)."""
    from fal.toolkit.file import file as file_module
    from fal.toolkit.file.providers.fal import InMemoryRepository

    for key in ("fal", "fal_v3"):
        file_module.BUILT_IN_REPOSITORIES[key] = InMemoryRepository


def app_classes(module):
    """Every ``fal.App`` subclass defined in ``module`` or exported by its ``__all__`` (a generated module
    that imports the apps from the package module they live in), in definition order."""
    import fal

    exported = set(getattr(module, "__all__", ()))
    return [value for name, value in vars(module).items()
            if inspect.isclass(value) and issubclass(value, fal.App) and value is not fal.App
            and (value.__module__ == module.__name__ or name in exported)]


def start(module_name, class_names=()):
    """What a fal runner does before the first request: import the entry module by name, create each
    app (those named, else every one the module defines) and run its ``setup()`` (awaited if async)."""
    module = importlib.import_module(module_name)
    classes = [getattr(module, name) for name in class_names] or app_classes(module)
    for app_class in classes:
        app = new_app(app_class)
        started = app.setup() if callable(getattr(app, "setup", None)) else None
        if inspect.isawaitable(started):
            asyncio.run(started)


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] != "start":
        raise SystemExit("usage: python3 falsdk.py start MODULE [CLASS ...]")
    start(sys.argv[2], sys.argv[3:])
