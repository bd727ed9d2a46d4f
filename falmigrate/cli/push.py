"""``falmigrate push SRC docker://REF``: upload an image to a registry with byte counters."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from falmigrate.cli import common
from falmigrate.errors import UsageError

Insecure = Annotated[bool,
                     typer.Option("--insecure", help="Allow plain HTTP / unverified TLS (non-loopback).")]
Ca = Annotated[Path | None,
               typer.Option("--ca", help="PEM file of the CA that signed the registry's certificate.")]
Config = Annotated[Path | None,
                   typer.Option("--config", help="Docker config.json with credentials (default ~/.docker).")]
Json = Annotated[bool, typer.Option("--json", help="Print a JSON summary.")]


def client_options(insecure: bool, ca: Path | None, config: Path | None) -> dict:
    if ca is not None and not ca.is_file():
        raise UsageError(f"--ca {ca}: no such file")
    return {"insecure": insecure, "ca": str(ca) if ca else None,
            "docker_config": str(config) if config else None}


def do_push(source: str, dest: str, options: dict, mount_from: list[str], jobs: int,
            chunk_size: int | None = None) -> dict:
    from falmigrate.oci.remote import pull as pull_mod
    from falmigrate.oci.remote import push as push_mod
    from falmigrate.oci.remote import reference

    if not dest.startswith("docker://"):
        raise UsageError(f"destination {dest!r} must be docker://REGISTRY/REPO[:TAG]")
    ref = reference.parse(dest)
    upload = {"chunk_size": chunk_size, "monolithic_limit": chunk_size} if chunk_size else {}
    if chunk_size is not None and chunk_size < 1:
        raise UsageError(f"--chunk-size {chunk_size}: must be a positive number of bytes")
    if source.startswith("docker://"):
        src_ref = reference.parse(source)
        with tempfile.TemporaryDirectory(prefix="falmigrate-copy-") as tmp:
            pulled = pull_mod.pull_reference(src_ref, Path(tmp), **options)
            if src_ref.registry == ref.registry:
                mount_from = [*mount_from, src_ref.repository]
            result = push_mod.push_layout(Path(tmp), src_ref.tag or pulled.digest, ref,
                                          mount_from=mount_from, jobs=jobs, **upload, **options)
    elif source.split(":", 1)[0] in ("docker-archive", "dir-tree", "docker-daemon"):
        raise UsageError(f"push sends an existing OCI layout or registry image; {source!r} "
                         "has to be packed first",
                         hint=f"falmigrate pack {source} {dest} (compresses its layers, FlashPack by "
                              "default, and pushes)")
    else:
        from falmigrate.oci.layout import parse_reference

        path, tag = parse_reference(source)
        result = push_mod.push_layout(path, tag, ref, mount_from=mount_from, jobs=jobs, **upload, **options)
    return {"ok": True, **result.report()}


def push_command(
    source: Annotated[str, typer.Argument(help="oci:PATH[:TAG] (an OCI layout) or docker://REF.")],
    dest: Annotated[str, typer.Argument(help="docker://REGISTRY/REPO[:TAG]")],
    insecure: Insecure = False,
    ca: Ca = None,
    config: Config = None,
    mount_from: Annotated[list[str] | None,
                          typer.Option("--mount-from",
                                       help="Repository of the same registry to mount "
                                            "blobs from (repeatable).")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Parallel blob uploads.")] = 4,
    chunk_size: Annotated[int | None,
                          typer.Option("--chunk-size",
                                       help="Upload blobs larger than this many bytes in PATCH chunks of "
                                            "this size (default 16 MiB chunks above 32 MiB); a killed "
                                            "chunked upload resumes on the next push.")] = None,
    json_output: Json = False,
) -> None:
    """Push an image to a registry (blobs it has are skipped, blobs in a sibling repo mounted)."""
    summary = common.run(lambda: do_push(source, dest, client_options(insecure, ca, config), mount_from or [],
                                         jobs, chunk_size), json_output=json_output)
    if json_output:
        common.emit_json(summary)
    else:
        common.stdout.print(
            f"pushed {summary['reference']} (sent {summary['bytes_sent']} B, skipped "
            f"{summary['bytes_skipped']} B, mounted {summary['bytes_mounted']} B)", markup=False,
            highlight=False)


def register(app: typer.Typer) -> None:
    app.command("push")(push_command)
