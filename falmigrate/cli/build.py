"""``falmigrate build DIR``: build a Dockerfile on a Docker engine and write/push it as FlashPack."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from falmigrate.cli import common
from falmigrate.errors import UsageError


def _pairs(values: list[str], option: str, *, empty: bool = True) -> dict[str, str]:
    result = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key or not (val or empty):
            raise UsageError(f"{option} {value!r}: expected KEY=VALUE"
                             + ("" if empty else " (a non-empty VALUE)"))
        result[key] = val
    return result


def build_command(
    directory: Annotated[
        Path, typer.Argument(help="Directory with the Dockerfile (what `convert` wrote), the build context.")
    ],
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Dockerfile path (default: DIR/Dockerfile).")
    ] = None,
    tag: Annotated[
        str | None,
        typer.Option("--tag", "-t", help="Image reference, e.g. registry.example.com/team/app:v1."),
    ] = None,
    push: Annotated[
        bool, typer.Option("--push", help="Push the packed image to the --tag registry.")
    ] = False,
    platform: Annotated[
        str | None, typer.Option("--platform", help="Target platform, e.g. linux/amd64.")
    ] = None,
    compression: Annotated[
        str, typer.Option("--compression", help="flashpack | zstd | gzip (gzip for Docker < 23).")
    ] = "flashpack",
    build_arg: Annotated[
        list[str] | None, typer.Option("--build-arg", help="KEY=VALUE build argument (repeatable).")
    ] = None,
    secret: Annotated[
        list[str] | None,
        typer.Option("--secret", help="id=NAME,src=FILE or id=NAME,env=VAR (BuildKit secret mount)."),
    ] = None,
    base_image: Annotated[
        str | None,
        typer.Option("--base-image",
                     help="Replace the base image of the final stage (builder stages keep theirs)."),
    ] = None,
    replace_image: Annotated[
        list[str] | None,
        typer.Option("--replace-image",
                     help="OLD=NEW: build with image NEW wherever the Dockerfile names OLD (FROM, "
                          "COPY --from), for images the engine cannot pull (repeatable)."),
    ] = None,
    network: Annotated[
        str | None,
        typer.Option("--network", help="Network for RUN steps, e.g. host (engines without a bridge)."),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Do not use the engine's build cache.")
    ] = False,
    layout: Annotated[
        Path | None,
        typer.Option("--layout", help="Local OCI image layout to write (default ~/.cache/falmigrate/oci)."),
    ] = None,
    startup_profile: Annotated[
        Path | None,
        typer.Option("--startup-profile",
                     help="File of paths (one a line) read at startup: FlashPack prefetch order."),
    ] = None,
    profile: Annotated[
        bool,
        typer.Option("--profile",
                     help="Run the image once (no network, time limit) to record its startup files."),
    ] = False,
    profile_command: Annotated[
        str | None,
        typer.Option("--profile-command",
                     help="Command to profile (default: fal_app.py's App setup() if DIR has one, "
                          "else ENTRYPOINT+CMD)."),
    ] = None,
    profile_seconds: Annotated[
        float, typer.Option("--profile-seconds", help="Time limit of the profiling run.")
    ] = 30.0,
    profile_out: Annotated[
        Path | None, typer.Option("--profile-out", help="Write the recorded startup file list here.")
    ] = None,
    update_app: Annotated[
        Path | None,
        typer.Option("--update-app", help="Point the apps of OUT/pyproject.toml at the pushed image digest.")
    ] = None,
    insecure: Annotated[
        bool, typer.Option("--insecure-registry", help="Talk plain HTTP to the registry.")
    ] = False,
    ca: Annotated[
        Path | None, typer.Option("--ca", help="PEM file of the CA that signed the registry's certificate.")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print a JSON report.")] = False,
) -> None:
    """Build DIR's Dockerfile on the Docker engine (DOCKER_HOST), repack as FlashPack, write/push."""

    def body() -> dict:
        import shlex

        from falmigrate.build.pipeline import BuildOptions, build
        from falmigrate.build.secrets import parse_secret

        options = BuildOptions(
            directory=directory, dockerfile=file, tag=tag, push=push, platform=platform,
            compression=compression, build_args=_pairs(build_arg or [], "--build-arg"),
            secrets=tuple(parse_secret(s) for s in secret or []), base_image=base_image,
            replace_images=_pairs(replace_image or [], "--replace-image", empty=False), network=network,
            no_cache=no_cache, layout=layout, startup_profile=startup_profile, profile=profile,
            profile_command=tuple(shlex.split(profile_command)) if profile_command else (),
            profile_seconds=profile_seconds, profile_out=profile_out, update_app=update_app,
            insecure_registry=insecure, registry_ca=ca,
        )
        return build(options)

    report = common.run(body, json_output=json_output)
    if json_output:
        common.emit_json(report)
        return
    _print_summary(report)


def _print_summary(report: dict) -> None:
    out = common.stdout
    out.print(f"built {report.get('tag') or report['image_id']} ({report['builder']})", markup=False)
    if report.get("digest"):
        out.print(f"packed {report['compression']}: {report['digest']} in {report.get('layout')}",
                  markup=False)
    for layer in report.get("layers", []):
        state = "reused" if layer.get("reused") else "packed"
        out.print(f"  {layer['digest']}  {layer['size']:>12,} B  {state}", markup=False)
    push_report = report.get("push")
    if push_report:
        out.print(f"pushed {push_report['reference']} ({push_report.get('bytes_sent', 0):,} bytes sent)",
                  markup=False)
    if report.get("updated_app"):
        out.print(f"updated {report['updated_app']}", markup=False)
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in report.get("timings", {}).items())
    out.print(f"timings: {timings}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("build")(build_command)

