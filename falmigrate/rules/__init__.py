"""The rule registry: every finding id falmigrate can report, read from ``rules.toml`` (package data).

One file holds each id's platform, area, default severity, title and what the user should do; the
per-platform mapping docs, ``docs/rules.md``, ``falmigrate rules`` and the check that a Finding's id
exists (``falmigrate.spec.Finding``) all read it from here, so an id cannot be reported without
being documented.
"""

from __future__ import annotations

import functools
import re
import tomllib
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from falmigrate import platforms

RULE_ID = re.compile(r"FM\d{3}")
DATA_FILE = "rules.toml"

Area = Literal["importer", "codemod", "render", "routes"]
RuleSeverity = Literal["info", "warning", "error"]


class UnknownRule(KeyError):
    """A rule id that is not in the registry."""

    def __str__(self) -> str:
        return f"unknown rule id {self.args[0]!r}: add it to falmigrate/rules/{DATA_FILE}"


class Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    platform: str  # a platform name, or "shared"
    area: Area
    severity: RuleSeverity  # what a finding of this rule has unless the code reporting it says otherwise
    title: str
    what_to_do: str


def _parse(text: str) -> dict[str, Rule]:
    """The rules of a registry file's text; ValueError naming the entry that is malformed."""
    table = tomllib.loads(text)
    rules: dict[str, Rule] = {}
    for rule_id, fields in table.items():
        if not RULE_ID.fullmatch(rule_id):
            raise ValueError(f"{DATA_FILE}: [{rule_id}] is not a rule id (FM and three digits)")
        try:
            rules[rule_id] = Rule(id=rule_id, **fields)
        except (TypeError, ValidationError) as exc:
            raise ValueError(f"{DATA_FILE}: [{rule_id}] {exc}") from exc
        platform = rules[rule_id].platform
        if platform != "shared" and platforms.find(platform) is None:
            raise ValueError(f"{DATA_FILE}: [{rule_id}] names an unknown platform {platform!r}")
    return dict(sorted(rules.items()))


@functools.cache
def _registry() -> dict[str, Rule]:
    return _parse(resources.files(__name__).joinpath(DATA_FILE).read_text(encoding="utf-8"))


def all_rules() -> tuple[Rule, ...]:
    """Every registered rule, sorted by id."""
    return tuple(_registry().values())


def is_registered(rule_id: str) -> bool:
    return rule_id in _registry()


def lookup(rule_id: str) -> Rule:
    """The rule ``rule_id``; UnknownRule (a KeyError) when it is not registered."""
    try:
        return _registry()[rule_id]
    except KeyError:
        raise UnknownRule(rule_id) from None


def for_platform(platform: str) -> tuple[Rule, ...]:
    """The rules of ``platform`` (or of ``"shared"``), sorted by id."""
    return tuple(rule for rule in _registry().values() if rule.platform == platform)


def severity(rule_id: str) -> RuleSeverity:
    return lookup(rule_id).severity


def title(rule_id: str) -> str:
    return lookup(rule_id).title
