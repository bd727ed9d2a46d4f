"""The rule registry: one data file, ids in their platform's range, no unregistered or unused id in the
code, a Finding cannot carry an unknown id, and docs/rules.md is generated from it."""

from __future__ import annotations

import itertools
import re

import pytest
from pydantic import ValidationError

from falmigrate import platforms, rules
from falmigrate.rules.docs import render_markdown
from falmigrate.spec import Finding
from tests.helpers.golden import REPO, UPDATE_ENV, updating

PACKAGE = REPO / "falmigrate"
DATA_FILE = PACKAGE / "rules" / rules.DATA_FILE
DOC = REPO / "docs" / "rules.md"
RANGE_MENTION = re.compile(r"\bFM(\d{3})\s*[–-]\s*FM(\d{3})\b")
RULE_MENTION = re.compile(r"\bFM\d{3}\b")


def _code_texts() -> dict[str, str]:
    """Every text file of the package (Python, JSON data, templates) except the registry itself."""
    paths = [p for p in sorted(PACKAGE.rglob("*")) if p.is_file() and p != DATA_FILE and p.suffix != ".pyc"]
    paths += sorted(p for p in (REPO / "templates").rglob("*") if p.is_file())
    return {p.relative_to(REPO).as_posix(): p.read_text(encoding="utf-8") for p in paths}


def _mentions() -> tuple[dict[str, set[str]], list[tuple[str, int, int]]]:
    """({rule id: files naming it}, [(file, first, last) of each "FMxxx–FMyyy" range named])."""
    ids: dict[str, set[str]] = {}
    ranges = []
    for name, text in _code_texts().items():
        ranges += [(name, int(a), int(b)) for a, b in RANGE_MENTION.findall(text)]
        for rule_id in RULE_MENTION.findall(RANGE_MENTION.sub(" ", text)):
            ids.setdefault(rule_id, set()).add(name)
    return ids, ranges


def test_the_registry_holds_every_platform_and_a_title_and_advice_per_rule():
    found = rules.all_rules()
    assert len(found) > 90 and [r.id for r in found] == sorted(r.id for r in found)
    assert {r.platform for r in found} == {"shared", *platforms.NAMES}
    for rule in found:
        assert rule.title.strip() and rule.what_to_do.strip(), rule.id
        assert "\n" not in rule.title and "\n" not in rule.what_to_do, rule.id


def test_each_rule_sits_in_its_platforms_range():
    for rule in rules.all_rules():
        assert rule.id in platforms.rule_range(rule.platform), (rule.id, rule.platform)
        assert platforms.platform_of_rule(rule.id) == rule.platform


def test_platform_ranges_do_not_overlap():
    spans = sorted([(r.first, r.last)
                    for r in (platforms.SHARED_RULES, *(p.rules for p in platforms.PLATFORMS))])
    for (_, last), (first, _) in itertools.pairwise(spans):
        assert last < first, spans
    assert "FM500" not in platforms.SHARED_RULES and platforms.platform_of_rule("FM999") is None
    assert "FM12" not in platforms.SHARED_RULES and "XY090" not in platforms.SHARED_RULES


def test_every_rule_id_the_code_names_is_registered():
    ids, _ranges = _mentions()
    unknown = {rule_id: sorted(files) for rule_id, files in ids.items() if not rules.is_registered(rule_id)}
    assert not unknown, f"rule ids named in the code but not in {rules.DATA_FILE}: {unknown}"
    assert len(ids) > 90  # the scan really reads the code


def test_every_id_range_the_code_names_lies_in_one_platform_range():
    _, ranges = _mentions()
    assert ranges
    for name, first, last in ranges:
        owner = platforms.platform_of_rule(f"FM{first:03d}")
        assert owner is not None and f"FM{last:03d}" in platforms.rule_range(owner), (name, first, last)


def test_every_registered_rule_is_used_by_the_code():
    ids, _ = _mentions()
    dead = [rule.id for rule in rules.all_rules() if rule.id not in ids]
    assert not dead, f"registered but named nowhere in falmigrate/ (remove them or use them): {dead}"


def test_a_finding_refuses_an_unregistered_rule_id():
    assert Finding(rule="FM102", message="m").rule == "FM102"
    for bad in ("FM999", "FM1", "fm102", "X102", ""):
        with pytest.raises(ValidationError, match="rules.toml"):
            Finding(rule=bad, message="m")
    with pytest.raises(ValidationError):  # also when read back from JSON (report.json)
        Finding.model_validate_json('{"rule": "FM998", "message": "m"}')


def test_lookup_of_an_unknown_id_is_a_key_error_naming_the_data_file():
    assert rules.lookup("FM401").platform == "docker" and rules.severity("FM090") == "error"
    with pytest.raises(KeyError) as caught:
        rules.lookup("FM998")
    assert isinstance(caught.value, rules.UnknownRule) and "rules.toml" in str(caught.value)


@pytest.mark.parametrize(("entry", "problem"), [
    ('[FM1000]\nplatform = "cog"\narea = "importer"\nseverity = "info"\ntitle = "t"\nwhat_to_do = "w"\n',
     "not a rule id"),
    ('[FM100]\nplatform = "heroku"\narea = "importer"\nseverity = "info"\ntitle = "t"\nwhat_to_do = "w"\n',
     "unknown platform 'heroku'"),
    ('[FM100]\nplatform = "cog"\narea = "importer"\nseverity = "fatal"\ntitle = "t"\nwhat_to_do = "w"\n',
     "severity"),
    ('[FM100]\nplatform = "cog"\narea = "importer"\nseverity = "info"\ntitle = "t"\n', "what_to_do"),
    (('[FM100]\nplatform = "cog"\narea = "importer"\nseverity = "info"\ntitle = "t"\n'
      'what_to_do = "w"\nx = 1\n'),
     "x"),
    ('FM100 = "just a string"\n', "FM100"),
])
def test_a_malformed_entry_is_refused_with_its_id(entry, problem):
    with pytest.raises(ValueError, match=re.escape(problem)):
        rules._parse(entry)


def test_the_registry_file_parses_to_what_the_package_serves():
    assert tuple(rules._parse(DATA_FILE.read_text(encoding="utf-8")).values()) == rules.all_rules()


def test_docs_rules_md_is_generated_from_the_registry():
    text = render_markdown()
    if updating():
        DOC.write_text(text, encoding="utf-8")
    assert DOC.read_text(encoding="utf-8") == text, f"docs/rules.md is stale: regenerate with {UPDATE_ENV}=1"
    for rule in rules.all_rules():
        assert f"| {rule.id} | {rule.severity} | {rule.area} |" in text
    for info in platforms.PLATFORMS:
        assert f"## {info.display_name} ({info.rules})" in text
        assert (REPO / info.guide).is_file(), info.guide


def test_the_docs_link_the_rules_page():
    assert "docs/rules.md" in (REPO / "README.md").read_text()
    assert "rules.md" in (REPO / "docs" / "cli.md").read_text()


def test_rule_titles_used_in_messages_come_from_the_registry():
    """The --native codemod keeps no table of rule titles of its own: the registry is the one copy."""
    source = (PACKAGE / "codemods" / "docker_native" / "__init__.py").read_text()
    assert "RULES" not in source
    assert all(rules.title(f"FM45{n}") not in source for n in range(1, 9))
