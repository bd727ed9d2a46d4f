"""``falmigrate pull docker://REF``: fetch an image into the local store, optionally unpack a rootfs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from falmigrate.cli import common
from falmigrate.cli.push import Ca, Config, Insecure, Json, client_options
from falmigrate.errors import OutputExistsError, UsageError


def do_pull(source: str, to: Path | None, store: Path | None, options: dict, *, platform: str | None,
            partial: bool, force: bool, allow_devices: bool) -> dict:
    from falmigrate.oci.remote import reference
    from falmigrate.oci.remote.client import RegistryClient
    from falmigrate.oci.remote.pull import pull
    from falmigrate.oci.remote.store import Store, default_store

    if not source.startswith("docker://"):
        raise UsageError(f"source {source!r} must be docker://REGISTRY/REPO[:TAG|@DIGEST]")
    if to is not None and to.exists() and not to.is_dir():
        raise UsageError(f"--to {to} exists and is not a directory")
    if to is not None and to.exists() and any(to.iterdir()) and not force:
        raise OutputExistsError(f"{to} exists and is not empty", hint="pass --force to unpack over it")
    ref = reference.parse(source)
    with RegistryClient(ref.api_host, **options) as client:
        result = pull(ref, Store(store or default_store()), client, to=to, platform=platform,
                      partial=partial, allow_devices=allow_devices)
    return {"ok": True, "store": str(store or default_store()), **result.report()}


def pull_command(
    source: Annotated[str, typer.Argument(help="docker://REGISTRY/REPO[:TAG|@DIGEST]")],
    to: Annotated[Path | None,
                  typer.Option("--to", help="Unpack the image's rootfs into this directory.")] = None,
    store: Annotated[Path | None,
                     typer.Option("--store",
                                  help="Local content store (default ~/.cache/falmigrate/store).")] = None,
    platform: Annotated[str | None, typer.Option("--platform", help="os/arch to pick from an index.")] = None,
    no_partial: Annotated[bool,
                          typer.Option("--no-partial", help="Download whole FlashPack layers.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Unpack into a non-empty --to directory.")] = False,
    allow_devices: Annotated[bool, typer.Option("--allow-devices",
                                                help="Create device nodes when unpacking.")] = False,
    insecure: Insecure = False,
    ca: Ca = None,
    config: Config = None,
    json_output: Json = False,
) -> None:
    """Pull an image (FlashPack layers partially: only files the store lacks, from any image) and optionally
    unpack it (the image's startup-profile files first)."""
    summary = common.run(lambda: do_pull(source, to, store, client_options(insecure, ca, config),
                                         platform=platform,
                                         partial=not no_partial, force=force, allow_devices=allow_devices),
                         json_output=json_output)
    if json_output:
        common.emit_json(summary)
    else:
        where = f" into {summary['rootfs']}" if summary.get("rootfs") else ""
        early = (f"; {summary['startup_files']} startup files ready after {summary['startup_ready_seconds']}s"
                 if summary.get("startup_ready_seconds") is not None else "")
        common.stdout.print(f"pulled {summary['reference']}{where} in {summary['seconds']}s (fetched "
                            f"{summary['bytes_fetched']} B, reused {summary['bytes_reused']} B{early})",
                            markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.command("pull")(pull_command)
