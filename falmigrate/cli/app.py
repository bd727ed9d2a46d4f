"""The typer application: global options and command registration.

Each command lives in its own thin module under ``falmigrate.cli`` exposing ``register(app)``.
"""

from __future__ import annotations

import importlib

import typer

from falmigrate import __version__

COMMAND_MODULES = (
    "convert", "inspect_cmd", "verify", "pack", "validate", "push", "pull", "build", "rules",
)

app = typer.Typer(
    name="falmigrate",
    help="Migrate ML apps to fal and build fast-pulling FlashPack images.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"falmigrate {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Show the version."),
) -> None:
    """falmigrate: convert | inspect | verify | build | pack | push | pull | validate | rules."""


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        module_name = f"falmigrate.cli.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # command not built yet
            raise
        module.register(app)


_register_commands()


def main() -> None:
    app()
