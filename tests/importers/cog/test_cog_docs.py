"""docs/from-replicate.md carries the mapping tables generated from the importer's own data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from falmigrate import rules
from falmigrate.importers.cog import bases, mapping
from tests.helpers.golden import assert_doc_current

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
    root = Path(mapping.__file__).resolve().parents[2]
    sources = [*(root / "importers" / "cog").glob("*.py"), *(root / "codemods" / "cog").glob("*.py")]
    emitted = {m for path in sources for m in re.findall(r"\"(FM\d{3})\"", path.read_text())}
    assert emitted and emitted <= {rule.id for rule in rules.for_platform("cog")}


def test_update_doc_replaces_only_the_generated_part() -> None:
    stale = f"# T\n\nintro\n\n{mapping.DOC_BEGIN}\nold\n{mapping.DOC_END}\n\noutro\n"
    fresh = mapping.update_doc(stale)
    assert fresh.startswith("# T\n\nintro\n\n") and fresh.endswith("\n\noutro\n") and "\nold\n" not in fresh
    with pytest.raises(ValueError):
        mapping.update_doc("no markers")
