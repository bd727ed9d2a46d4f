"""``falmigrate pack SRC DST``: recompress an image (every layer) as FlashPack, zstd or gzip."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from falmigrate.cli import common
from falmigrate.cli.push import Ca, Config, Insecure, client_options
from falmigrate.errors import UsageError


def do_pack(src: str, dst: str, compression: str, profile: Path | None,
            registry_options: dict | None = None) -> dict:
    from falmigrate.oci.transports import repack

    prefetch = None
    if profile is not None:
        if not profile.is_file():
            raise UsageError(f"startup profile {profile} not found")
        prefetch = [line.strip().lstrip("/") for line in profile.read_text().splitlines() if line.strip()]
    return {"ok": True, **repack(src, dst, compression, prefetch, registry_options)}


def pack_command(
    src: Annotated[str,
                   typer.Argument(help="oci:PATH[:TAG] | docker-archive:PATH | dir-tree:PATH | docker://REF "
                                       "| docker-daemon:NAME")],
    dst: Annotated[str, typer.Argument(help="oci:PATH[:TAG] | docker://REF")],
    compression: Annotated[str, typer.Option("--compression", help="flashpack | zstd | gzip")] = "flashpack",
    startup_profile: Annotated[Path | None,
                               typer.Option("--startup-profile",
                                            help="File of paths read at start (one a "
                                                 "line); packed first.")] = None,
    insecure: Insecure = False,
    ca: Ca = None,
    config: Config = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Repack SRC into DST with every layer recompressed (docker:// to docker:// converts an image in a
    registry, like `nydusify convert`)."""
    summary = common.run(lambda: do_pack(src, dst, compression, startup_profile,
                                         client_options(insecure, ca, config)),
                         json_output=json_output)
    if json_output:
        common.emit_json(summary)
    else:
        pushed = summary.get("push")
        sent = (f"; sent {pushed['bytes_sent']} B, skipped {pushed['bytes_skipped']} B, "
                f"mounted {pushed['bytes_mounted']} B") if pushed else ""
        common.stdout.print(f"{summary['destination']} {summary['digest']} ({len(summary['layers'])} layers, "
                            f"{summary['layers_reused']} reused, {summary['seconds']}s{sent})",
                            markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.command("pack")(pack_command)
