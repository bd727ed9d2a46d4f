"""``falmigrate build``: Dockerfile → engine build → export → FlashPack repack → OCI layout → registry.

One function, ``build(options)``, runs the stages in order and returns a JSON-ready report with the
image id, the packed image's digest and layers, per-stage timings and the push summary. Nothing is
pushed unless every earlier stage succeeded, and no stage ever sees a secret value except the
BuildKit secret mount itself.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from falmigrate import progress
from falmigrate.build import dockerfile as dockerfile_mod
from falmigrate.build import engine, engine_build, export
from falmigrate.build import profile as profile_mod
from falmigrate.build.buildlog import BuildLog
from falmigrate.build.secrets import Redactor, Secret
from falmigrate.errors import UsageError

COMPRESSIONS = ("flashpack", "zstd", "gzip")


def default_layout() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "falmigrate" / "oci"


@dataclass(frozen=True)
class BuildOptions:
    directory: Path
    dockerfile: Path | None = None  # default: DIRECTORY/Dockerfile
    tag: str | None = None
    push: bool = False
    platform: str | None = None
    compression: str = "flashpack"
    build_args: dict[str, str] = field(default_factory=dict)
    secrets: tuple[Secret, ...] = ()
    base_image: str | None = None
    replace_images: dict[str, str] = field(default_factory=dict)  # image the engine cannot pull -> stand-in
    network: str | None = None
    no_cache: bool = False
    layout: Path | None = None  # default: default_layout()
    startup_profile: Path | None = None  # a file of paths (one a line) for the prefetch order
    profile: bool = False  # run the image once to record the startup profile
    profile_command: tuple[str, ...] = ()
    profile_seconds: float = 30.0
    profile_out: Path | None = None  # where --profile writes the recorded list (for --startup-profile)
    docker_host: str | None = None
    update_app: Path | None = None
    insecure_registry: bool = False
    registry_ca: Path | None = None  # PEM of the CA that signed the registry's certificate


def check_options(options: BuildOptions) -> None:
    if options.compression not in COMPRESSIONS:
        raise UsageError(f"unknown compression {options.compression!r}; use one of {', '.join(COMPRESSIONS)}")
    if not options.directory.is_dir():
        raise UsageError(f"{options.directory} is not a directory")
    if options.push and not options.tag:
        raise UsageError("--push needs --tag REGISTRY/REPO:TAG")
    if options.update_app and not options.push:
        raise UsageError("--update-app needs --push: the app must point at an image in a registry")
    if options.profile and options.startup_profile:
        raise UsageError("give --profile or --startup-profile FILE, not both")


def build(options: BuildOptions) -> dict:
    """Run the whole pipeline; returns the report (see module docstring)."""
    check_options(options)
    timings: dict[str, float] = {}
    redact = Redactor(list(options.secrets))
    client = engine.connect(options.docker_host)
    image_id, builder = _timed(timings, "build", lambda: build_image(client, options, redact))
    report: dict = {
        "ok": True,
        "image_id": image_id,
        "tag": options.tag,
        "builder": builder,
        "compression": options.compression,
        "secrets": [s.describe() for s in options.secrets],
        "timings": timings,
    }
    startup = _timed(timings, "profile", lambda: _startup_paths(client, image_id, options))
    if startup is not None:
        report["startup_profile"] = {"files": len(startup)}
    from falmigrate.build import pack  # the OCI stack is loaded only once we get this far

    with tempfile.TemporaryDirectory(prefix="falmigrate-build-") as tmp:
        archive = _timed(timings, "export",
                         lambda: export.save_image(client, image_id, Path(tmp) / "image.tar"))
        layout = options.layout or default_layout()
        packed = _timed(timings, "pack", lambda: pack.pack_archive(
            archive, layout=layout, tag=_layout_tag(options), compression=options.compression,
            startup_profile=startup))
    report.update(packed.report())
    if options.push:
        pushed = _timed(timings, "push", lambda: pack.push_layout(
            layout, packed, options.tag or "", insecure=options.insecure_registry, ca=options.registry_ca))
        report["push"] = pushed
        if options.update_app:
            from falmigrate.build.appref import update_app

            # a registry we pushed to with credentials needs them for fal's pull too: read from env vars
            report["updated_app"] = str(update_app(options.update_app, pushed["reference"],
                                                   credentials=bool(pushed.get("authenticated"))))
    return report


def build_image(client, options: BuildOptions, redact: Redactor) -> tuple[str, str]:
    """Only the engine build (no export, no pack): (image id, builder used)."""
    source = options.dockerfile or options.directory / "Dockerfile"
    info = dockerfile_mod.read(source)
    with tempfile.TemporaryDirectory(prefix="falmigrate-dockerfile-") as tmp:
        dockerfile_path = source.resolve()
        if options.base_image or options.replace_images:
            text = (dockerfile_mod.replace_base_image(info, options.base_image)
                    if options.base_image else info.text)
            dockerfile_path = Path(tmp) / "Dockerfile"
            dockerfile_path.write_text(dockerfile_mod.replace_images(info, text, options.replace_images),
                                       encoding="utf-8")
        request = engine_build.BuildRequest(
            context=options.directory.resolve(), dockerfile=dockerfile_path, tag=options.tag,
            build_args=dict(options.build_args), network_mode=options.network, platform=options.platform,
            secrets=options.secrets, no_cache=options.no_cache,
        )
        with progress.task(f"building {options.tag or options.directory.name}", info.steps) as task:
            log = BuildLog(redact, source.name, task)
            if options.secrets:
                return engine_build.build_with_cli(request, log, options.docker_host), "buildkit-cli"
            return engine_build.build_with_sdk(client, request, log), "engine-sdk"


def _startup_paths(client, image_id: str, options: BuildOptions) -> list[str] | None:
    if options.startup_profile:
        return profile_mod.read_profile(options.startup_profile)
    if options.profile:
        paths = profile_mod.profile_startup(client, image_id, command=list(options.profile_command) or None,
                                            seconds=options.profile_seconds, fal_app_dir=options.directory)
        if options.profile_out:
            profile_mod.write_profile(paths, options.profile_out)
        return paths
    return None


def _layout_tag(options: BuildOptions) -> str:
    """The tag inside the OCI layout: the REF's tag (or 'latest'), prefixed by the repo's last part."""
    if not options.tag:
        return f"{options.directory.resolve().name.lower() or 'app'}-latest"
    name, _, tag = options.tag.rpartition(":")
    if "/" in tag or not name:
        name, tag = options.tag, "latest"
    return f"{name.rsplit('/', 1)[-1]}-{tag}"


def _timed(timings: dict[str, float], key: str, body):
    started = time.monotonic()
    try:
        return body()
    finally:
        timings[key] = round(time.monotonic() - started, 3)
