"""``falmigrate convert SRC``: write a fal app for SRC — pyproject.toml (the deploy settings, one
``[tool.fal.apps.<name>]`` table per app), Dockerfile, fal_app.py (model code), MIGRATION.md, report.json.

The output directory also receives the source project's files (it is the image's build context).
Default output: ``<SRC>-fal`` next to SRC. ``--check`` exits 1 when OUT would change, ``--diff``
prints what would change; neither writes anything.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated

import typer

from falmigrate import platforms
from falmigrate.cli import common
from falmigrate.errors import CheckFailed, UsageError

ROUTE_HELP = ("native: a fal app that calls the model (default); compat: the platform's own HTTP API server "
              "in the image, so existing clients keep working (" + "; ".join(
                  f"{p.display_name}: {p.compat_server}" for p in platforms.compat_platforms()) + ").")


def default_out(src: Path) -> Path:
    src = src.absolute()
    return src.parent / f"{src.name or 'app'}-fal"


def _current(out: Path, name: str) -> bytes | None:
    path = out / name
    return path.read_bytes() if path.is_file() else None


def _changes(result, out: Path) -> tuple[list[str], list[str]]:
    """(names that would change, unified diffs of the generated text files)."""
    changed, diffs = [], []
    wanted = result.sources_for(out)
    wanted.update({name: text.encode("utf-8") for name, text in result.files.items()})
    for name in sorted(wanted):
        current = _current(out, name)
        if current == wanted[name]:
            continue
        changed.append(name)
        if name in result.files:
            old = current.decode("utf-8", "replace").splitlines(keepends=True) if current is not None else []
            diffs.append("".join(difflib.unified_diff(
                old, result.files[name].splitlines(keepends=True),
                fromfile=f"a/{name}" if current is not None else "/dev/null", tofile=f"b/{name}")))
    return changed, diffs


def convert_command(
    src: Annotated[Path, typer.Argument(help="The source project directory.")],
    out: Annotated[Path | None,
                   typer.Option("--out", "-o", help="Output directory (default: <SRC>-fal).")] = None,
    source_platform: Annotated[
        str, typer.Option("--from", help=platforms.from_help())
    ] = "auto",
    diff: Annotated[bool,
                    typer.Option("--diff", help="Print a unified diff against OUT; write nothing.")] = False,
    check: Annotated[bool,
                     typer.Option("--check", help="Exit 1 if OUT would change; write nothing.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace a non-empty OUT.")] = False,
    entry: Annotated[str | None, typer.Option(
        "--entry",
        help="The file that defines the app, relative to SRC (cog.yaml, the Modal app file, the RunPod "
             "handler, the Dockerfile), when the repository has several.")] = None,
    dockerfile: Annotated[str | None, typer.Option(
        "--dockerfile", help="The Dockerfile to use, relative to SRC (e.g. docker/Dockerfile.prod).")] = None,
    context: Annotated[str | None, typer.Option(
        "--context", help="The Dockerfile's build context, relative to SRC (default: SRC).")] = None,
    name: Annotated[str | None, typer.Option(
        "--name", help="The fal app name (kebab-case; default: from the project).")] = None,
    fal_version: Annotated[str | None, typer.Option(
        "--fal-version", help="The fal version the image installs (default: the installed fal).")] = None,
    native: Annotated[
        bool,
        typer.Option("--native", help="HTTP servers: rewrite FastAPI/Flask routes as fal endpoints instead "
                                      "of deploying the server image as it is.")
    ] = False,
    route: Annotated[str, typer.Option("--route", help=ROUTE_HELP)] = "native",
    image_ref: Annotated[
        str | None,
        typer.Option("--image-ref", help="Deploy this pushed image (repo@sha256:…) instead of building.")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")] = False,
) -> None:
    """Convert SRC into a fal app (the help text is ``CONVERT_HELP``)."""

    def body() -> None:
        from falmigrate.convert import convert, write_output
        from falmigrate.importers.base import ImportRequest

        target = out if out is not None else default_out(src)
        if image_ref is not None and "@sha256:" not in image_ref:
            raise UsageError(f"--image-ref {image_ref!r}: expected a digest reference like repo@sha256:…")
        request = ImportRequest(entry=entry, dockerfile=dockerfile, context=context, route=route)
        result = convert(src, source_platform, request=request, native=native, name=name,
                         fal_version=fal_version, image_ref=image_ref)
        summary = _summary(result, target)
        if diff or check:
            _compare(result, target, summary, show_diff=diff, check=check, json_output=json_output)
        else:
            write_output(result, target, force=force)
            summary["written"] = True
        _report(result, target, summary, compared=diff or check, check=check, json_output=json_output)

    common.run(body, json_output=json_output)


def _summary(result, target: Path) -> dict:
    return {"ok": True, "out": str(target), "platform": result.spec.source.platform,
            "app_class": result.spec.class_name, "files": sorted(result.files),
            "apps": [{"name": app.name, "route": app.route, "class": app.class_name}
                     for app in result.spec.served_apps()],
            "project_files": len(result.sources), "rewritten": result.rewritten,
            "findings": len(result.spec.findings)}


def _compare(result, target: Path, summary: dict, *, show_diff: bool, check: bool, json_output: bool) -> None:
    """``--diff`` / ``--check``: nothing is written; a check whose OUT would change fails."""
    changed, diffs = _changes(result, target)
    if show_diff and not json_output:
        for text in diffs:
            common.stdout.out(text, end="", highlight=False)
    summary.update({"changed": changed, "written": False})
    if check and changed:
        if json_output:
            common.emit_json({**summary, "ok": False})
            raise typer.Exit(CheckFailed.exit_code)
        raise CheckFailed(f"output would change: {', '.join(changed[:10])}"
                          + (" …" if len(changed) > 10 else ""))


def _report(result, target: Path, summary: dict, *, compared: bool, check: bool, json_output: bool) -> None:
    if json_output:
        common.emit_json(summary)
    elif not compared:
        common.stdout.print(f"wrote {target} ({', '.join(sorted(result.files))} + {len(result.sources)} "
                            f"project file(s)); {summary['findings']} finding(s), see MIGRATION.md",
                            markup=False, highlight=False)
    elif check:
        common.stdout.print(f"{target} is up to date", markup=False, highlight=False)


CONVERT_HELP = f"Convert a {platforms.display_list()} project into a fal app."


def register(app: typer.Typer) -> None:
    app.command("convert", help=CONVERT_HELP)(convert_command)
