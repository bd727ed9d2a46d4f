"""``falmigrate inspect SRC``: print the app spec an importer reads from SRC;
``--schema``: its JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from falmigrate import platforms
from falmigrate.cli import common
from falmigrate.errors import UsageError


def inspect_command(
    src: Annotated[Path | None, typer.Argument(help="The source project directory.")] = None,
    source_platform: Annotated[
        str, typer.Option("--from", help=platforms.from_help())
    ] = "auto",
    schema: Annotated[bool, typer.Option("--schema", help="Print the AppSpec JSON Schema instead.")] = False,
    json_output: Annotated[bool,
                           typer.Option("--json",
                                        help="Wrap the output as {\"ok\", \"spec\"|\"schema\"}.")] = False,
) -> None:
    """Print the app spec (JSON) read from SRC, or the spec's JSON Schema."""

    def body() -> None:
        from falmigrate import importers, spec

        if schema:
            data = spec.json_schema()
            key = "schema"
        else:
            if src is None:
                raise UsageError("inspect needs SRC (or --schema)")
            if source_platform != "auto" and platforms.find(source_platform) is None:
                raise UsageError(f"unknown platform {source_platform!r}; choose one of: auto, "
                                 f"{', '.join(platforms.NAMES)}")
            data = importers.load(src, source_platform).model_dump(mode="json")
            key = "spec"
        if json_output:
            common.emit_json({"ok": True, key: data})
        else:
            common.stdout.out(json.dumps(data, indent=2, sort_keys=True), highlight=False)

    common.run(body, json_output=json_output)


def register(app: typer.Typer) -> None:
    app.command("inspect")(inspect_command)
