"""``falmigrate rules [ID...]``: the finding rules (ids, severities, what to do) from the rule registry.

A table for people, ``--json`` for tools, ``--markdown`` for the generated docs/rules.md.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from falmigrate import platforms
from falmigrate.cli import common
from falmigrate.errors import UsageError

PLATFORM_HELP = f"Only the rules of one platform: shared | {platforms.choices(auto=False)}."


def _selected(ids: list[str], platform: str | None) -> list:
    from falmigrate import rules

    if platform is not None and platform != "shared" and platforms.find(platform) is None:
        raise UsageError(f"unknown platform {platform!r}; choose one of: shared, "
                         f"{', '.join(platforms.NAMES)}")
    chosen = list(rules.all_rules())
    if ids:
        wanted = [rule_id.upper() for rule_id in ids]
        unknown = [rule_id for rule_id in wanted if not rules.is_registered(rule_id)]
        if unknown:
            raise UsageError(f"unknown rule id(s): {', '.join(unknown)}",
                             hint="`falmigrate rules` lists every rule")
        chosen = [rules.lookup(rule_id) for rule_id in dict.fromkeys(wanted)]
    return [rule for rule in chosen if platform is None or rule.platform == platform]


def _table(selected: list) -> Table:
    table = Table(show_edge=False, pad_edge=False)
    for column in ("rule", "severity", "platform", "title", "what to do"):
        table.add_column(column, overflow="fold")
    for rule in selected:
        table.add_row(rule.id, rule.severity, rule.platform, rule.title, rule.what_to_do)
    return table


def rules_command(
    ids: Annotated[list[str] | None, typer.Argument(help="Rule ids to show (default: every rule).")] = None,
    platform: Annotated[str | None, typer.Option("--platform", help=PLATFORM_HELP)] = None,
    json_output: Annotated[bool, typer.Option("--json",
                                              help="Print {\"ok\", \"rules\": [...]} on stdout.")] = False,
    markdown: Annotated[bool, typer.Option("--markdown",
                                           help="Print docs/rules.md (every rule, Markdown).")] = False,
) -> None:
    """List the finding rules: id, default severity, platform, title and what to do."""

    def body() -> None:
        if markdown:
            if ids or platform or json_output:
                raise UsageError("--markdown prints every rule; it takes no ids, --platform or --json")
            from falmigrate.rules.docs import render_markdown

            common.stdout.out(render_markdown(), end="", highlight=False)
            return
        selected = _selected(ids or [], platform)
        if json_output:
            common.emit_json({"ok": True, "rules": [rule.model_dump() for rule in selected]})
        elif selected:
            common.stdout.print(_table(selected), markup=False, highlight=False)
        else:
            common.stdout.print(f"no rules for {platform}", markup=False, highlight=False)

    common.run(body, json_output=json_output)


def register(app: typer.Typer) -> None:
    app.command("rules")(rules_command)
