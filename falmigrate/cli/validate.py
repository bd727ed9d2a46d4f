"""``falmigrate validate TARGET``: recheck an OCI layout from its bytes (exit 4 with every problem)."""

from __future__ import annotations

from typing import Annotated

import typer

from falmigrate.cli import common


def validate_command(
    target: Annotated[str, typer.Argument(help="oci:PATH[:TAG] or a layout directory")],
    json_output: Annotated[bool, typer.Option("--json", help="Print a JSON report.")] = False,
) -> None:
    """Validate every digest, size, diff_id and FlashPack TOC of an OCI layout."""
    from falmigrate.oci.layout import parse_reference
    from falmigrate.oci.validate import validate

    path = parse_reference(target)[0]
    report = common.run(lambda: validate(path), json_output=json_output)
    if json_output:
        common.emit_json(report)
    else:
        common.stdout.print(f"{path}: ok ({len(report['manifests'])} manifests)", markup=False,
                            highlight=False)


def register(app: typer.Typer) -> None:
    app.command("validate")(validate_command)
