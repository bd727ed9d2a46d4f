"""``docs/rules.md``: the rule reference generated from the registry, so the page cannot drift from it.

``falmigrate rules --markdown`` prints the text; a test compares it with the committed page.
"""

from __future__ import annotations

from falmigrate import platforms
from falmigrate.rules import Rule, all_rules

HEADER = """# Finding rules

<!-- Generated from falmigrate/rules/rules.toml by `falmigrate rules --markdown`; do not edit by hand. -->

Every finding in `MIGRATION.md` and `report.json` carries a rule id from this page, with a severity
(`info`: for your information; `warning`: check or finish by hand; `error`: the app will not behave
the same until you act). The code that reports a finding may raise or lower the default severity
listed here when the case at hand is more or less serious. Each platform has its own range of ids;
the ids below FM100 are shared. `falmigrate rules` lists the same table in a terminal
(`--platform NAME` for one platform, `--json` for tools, `falmigrate rules FM102` for one rule).
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _sections() -> list[tuple[str, str, platforms.RuleRange, str]]:
    """(platform name, display name, id range, guide link) for the shared ids and each platform."""
    out = [("shared", "Shared", platforms.SHARED_RULES, "")]
    for info in platforms.PLATFORMS:
        page = info.guide.removeprefix("docs/")
        out.append((info.name, info.display_name, info.rules, f"[{page}]({page})"))
    return out


def _rule_rows(rules: list[Rule]) -> list[str]:
    rows = ["| rule | severity | area | title | what to do |", "|---|---|---|---|---|"]
    rows += [f"| {r.id} | {r.severity} | {r.area} | {_cell(r.title)} | {_cell(r.what_to_do)} |"
             for r in rules]
    return rows


def render_markdown() -> str:
    """The whole of docs/rules.md."""
    rules = all_rules()
    lines = [HEADER, "| ids | platform | rules | guide |", "|---|---|---|---|"]
    for name, _, ids, guide in _sections():
        lines.append(f"| {ids} | {name} | {sum(1 for r in rules if r.platform == name)} | {guide or '—'} |")
    for name, display, ids, guide in _sections():
        lines += ["", f"## {display} ({ids})", ""]
        if guide:
            lines += [f"How each construct maps: {guide}.", ""]
        lines += _rule_rows([r for r in rules if r.platform == name])
    return "\n".join(lines) + "\n"
