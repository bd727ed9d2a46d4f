"""``falmigrate convert SRC``: write a fal app (fal_app.py, Dockerfile, MIGRATION.md, report.json) for SRC.

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
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output directory (default: <SRC>-fal).")] = None,
    source_platform: Annotated[
        str, typer.Option("--from", help=platforms.from_help())
    ] = "auto",
    diff: Annotated[bool, typer.Option("--diff", help="Print a unified diff against OUT; write nothing.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 if OUT would change; write nothing.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace a non-empty OUT.")] = False,
    native: Annotated[
        bool, typer.Option("--native", help="Docker FastAPI/Flask servers: rewrite routes as fal endpoints.")
    ] = False,
    image_ref: Annotated[
        str | None, typer.Option("--image-ref", help="Run the app on this pushed image (repo@sha256:…).")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")] = False,
) -> None:
    """Convert SRC into a fal app (the help text is ``CONVERT_HELP``)."""

    def body() -> None:
        from falmigrate.convert import convert, write_output

        target = out if out is not None else default_out(src)
        if image_ref is not None and "@sha256:" not in image_ref:
            raise UsageError(f"--image-ref {image_ref!r}: expected a digest reference like repo@sha256:…")
        result = convert(src, source_platform, native=native, image_ref=image_ref)
        summary = {"ok": True, "out": str(target), "platform": result.spec.source.platform,
                   "app_class": result.spec.class_name, "files": sorted(result.files),
                   "project_files": len(result.sources), "rewritten": result.rewritten,
                   "findings": len(result.spec.findings)}
        if diff or check:
            changed, diffs = _changes(result, target)
            if diff and not json_output:
                for text in diffs:
                    common.stdout.out(text, end="", highlight=False)
            summary.update({"changed": changed, "written": False})
            if check and changed:
                if json_output:
                    common.emit_json({**summary, "ok": False})
                    raise typer.Exit(CheckFailed.exit_code)
                raise CheckFailed(f"output would change: {', '.join(changed[:10])}"
                                  + (" …" if len(changed) > 10 else ""))
        else:
            write_output(result, target, force=force)
            summary["written"] = True
        if json_output:
            common.emit_json(summary)
        elif not (diff or check):
            common.stdout.print(f"wrote {target} ({', '.join(sorted(result.files))} + {len(result.sources)} "
                                f"project file(s)); {summary['findings']} finding(s), see MIGRATION.md",
                                markup=False, highlight=False)
        elif check:
            common.stdout.print(f"{target} is up to date", markup=False, highlight=False)

    common.run(body, json_output=json_output)


CONVERT_HELP = f"Convert a {platforms.display_list()} project into a fal app."


def register(app: typer.Typer) -> None:
    app.command("convert", help=CONVERT_HELP)(convert_command)
