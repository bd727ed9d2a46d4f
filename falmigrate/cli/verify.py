"""``falmigrate verify SRC OUT``: run the same cases through the source app and the generated fal app."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from falmigrate.cli import common
from falmigrate.errors import CheckFailed


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
    json_output: Annotated[bool, typer.Option("--json", help="Print the full report as JSON.")] = False,
) -> None:
    """Compare the behaviour of SRC and OUT; exit 1 on any difference, 12 if a side cannot run."""

    def body() -> None:
        from falmigrate.verify import load_cases, verify

        case_list = load_cases(cases) if cases is not None else None
        report = verify(src, out, case_list, platform=source_platform, timeout=timeout)
        if json_output:
            common.emit_json(report)
            if not report["ok"]:
                raise typer.Exit(CheckFailed.exit_code)
            return
        for row in report["cases"]:
            mark = "pass" if row["equal"] else "FAIL"
            common.stdout.print(f"{mark}  {row['name']}  ({row['endpoint']})", markup=False, highlight=False)
            if not row["equal"]:
                common.stdout.print(row.get("diff") or json.dumps(row, default=str), markup=False, highlight=False)
        if not report["ok"]:
            raise CheckFailed(f"{report['failed']} of {len(report['cases'])} case(s) behave differently")
        common.stdout.print(f"all {report['passed']} case(s) behave the same", markup=False, highlight=False)

    common.run(body, json_output=json_output)


def register(app: typer.Typer) -> None:
    app.command("verify")(verify_command)
