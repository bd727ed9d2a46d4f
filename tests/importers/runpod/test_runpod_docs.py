"""docs/from-runpod.md carries the mapping tables generated from the importer's own data."""

from __future__ import annotations

from pathlib import Path

from falmigrate import rules
from falmigrate.importers.runpod import mapping
from tests.helpers.golden import assert_doc_current
from tests.helpers.mapping_docs import (
    assert_every_emitted_rule_belongs_to,
    assert_update_doc_replaces_only_the_generated_part,
)

DOC = Path(__file__).resolve().parents[3] / "docs" / "from-runpod.md"


def test_mapping_doc_is_current() -> None:
    assert_doc_current(DOC, mapping.update_doc, "tests/importers/runpod")


def test_doc_lists_every_gpu_pool_and_rule() -> None:
    text = DOC.read_text()
    for pool, machine in mapping.GPU_POOLS.items():
        assert f"| `{pool}` | `{machine}` |" in text
    for rule in rules.for_platform("runpod"):
        assert f"| {rule.id} |" in text


def test_every_rule_the_code_emits_is_a_runpod_rule() -> None:
    assert_every_emitted_rule_belongs_to("runpod")


def test_update_doc_replaces_only_the_generated_part() -> None:
    assert_update_doc_replaces_only_the_generated_part(mapping)
