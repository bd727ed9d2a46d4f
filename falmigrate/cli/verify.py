"""``falmigrate verify SRC OUT``: run the same cases through the source app and the generated fal app."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from falmigrate.cli import common
from falmigrate.errors import CheckFailed, UsageError


def verify_command(
    src: Annotated[Path, typer.Argument(help="The source project directory.")],
    out: Annotated[Path, typer.Argument(help="The directory `falmigrate convert` wrote.")],
    cases: Annotated[
        Path | None, typer.Option("--cases", help="JSON list of {name, endpoint, method, input} cases.")
    ] = None,
    source_platform: Annotated[
        str, typer.Option("--from", help="Platform of SRC when OUT has no report.json (default: auto).")
    ] = "auto",
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds each side may take.")] = 600.0,
    base_image: Annotated[str | None, typer.Option(
        "--base-image",
        help="Apps that run their own server (cog --route compat): build OUT's image on this base "
             "instead of the Dockerfile's (as `falmigrate build --base-image`).")] = None,
    replace_image: Annotated[list[str] | None, typer.Option(
        "--replace-image",
        help="OLD=NEW for that build, for images the engine cannot pull (repeatable).")] = None,
    network: Annotated[str | None, typer.Option(
        "--network",
        help="Network for that build's RUN steps, e.g. host (engines without a bridge).")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the full report as JSON.")] = False,
) -> None:
    """Compare the behaviour of SRC and OUT; exit 1 on any difference, 12 if a side cannot run."""

    def body() -> None:
        from falmigrate.verify import load_cases, verify
        from falmigrate.verify.compat import ImageOptions

        case_list = load_cases(cases) if cases is not None else None
        image = ImageOptions(base_image=base_image, replace_images=_pairs(replace_image or []),
                             network=network)
        report = verify(src, out, case_list, platform=source_platform, timeout=timeout, image=image)
        if json_output:
            common.emit_json(report)
            if not report["ok"]:
                raise typer.Exit(CheckFailed.exit_code)
            return
        for row in report["cases"]:
            mark = "pass" if row["equal"] else "FAIL"
            common.stdout.print(f"{mark}  {row['name']}  ({row['endpoint']})", markup=False, highlight=False)
            if not row["equal"]:
                common.stdout.print(row.get("diff") or json.dumps(row, default=str), markup=False,
                                    highlight=False)
        if not report["ok"]:
            raise CheckFailed(f"{report['failed']} of {len(report['cases'])} case(s) behave differently")
        common.stdout.print(f"all {report['passed']} case(s) behave the same", markup=False, highlight=False)

    common.run(body, json_output=json_output)


def _pairs(values: list[str]) -> dict[str, str]:
    pairs = [value.partition("=") for value in values]
    for value, (old, sep, new) in zip(values, pairs, strict=True):
        if not (old and sep and new):
            raise UsageError(f"--replace-image {value!r}: expected OLD=NEW")
    return {old: new for old, _, new in pairs}


def register(app: typer.Typer) -> None:
    app.command("verify")(verify_command)
