"""docs/from-replicate.md carries the mapping tables generated from the importer's own data."""

from __future__ import annotations

from pathlib import Path

from falmigrate import rules
from falmigrate.importers.cog import bases, mapping
from tests.helpers.golden import assert_doc_current
from tests.helpers.mapping_docs import (
    assert_every_emitted_rule_belongs_to,
    assert_update_doc_replaces_only_the_generated_part,
)

DOC = Path(__file__).resolve().parents[3] / "docs" / "from-replicate.md"


def test_mapping_doc_is_current() -> None:
    assert_doc_current(DOC, mapping.update_doc, "tests/importers/cog")


def test_doc_lists_every_rule_key_and_torch_version() -> None:
    text = DOC.read_text()
    for rule in rules.for_platform("cog"):
        assert f"| {rule.id} |" in text
    for key in mapping.mapping()["build_keys"]:
        assert f"`build.{key}`" in text
    for version in bases.table()["torch"]:
        assert f"| {version} |" in text


def test_every_rule_the_code_emits_is_a_cog_rule() -> None:
    assert_every_emitted_rule_belongs_to("cog")


def test_update_doc_replaces_only_the_generated_part() -> None:
    assert_update_doc_replaces_only_the_generated_part(mapping)
