"""docs/from-runpod.md carries the mapping tables generated from the importer's own data."""

from __future__ import annotations

from pathlib import Path

import pytest

from falmigrate import rules
from falmigrate.importers.runpod import mapping
from tests.helpers.golden import assert_doc_current

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
    import re

    package = Path(mapping.__file__).parent
    codemod = package.parents[1] / "codemods" / "runpod"
    sources = [p.read_text() for p in [*package.glob("*.py"), *codemod.glob("*.py")]]
    emitted = {m for text in sources for m in re.findall(r'"(FM\d{3})"', text)}
    assert emitted and emitted <= {rule.id for rule in rules.for_platform("runpod")}


def test_update_doc_replaces_only_the_generated_part() -> None:
    stale = f"# T\n\nintro\n\n{mapping.DOC_BEGIN}\nold\n{mapping.DOC_END}\n\noutro\n"
    fresh = mapping.update_doc(stale)
    assert fresh.startswith("# T\n\nintro\n\n") and fresh.endswith("\n\noutro\n") and "\nold\n" not in fresh
    with pytest.raises(ValueError):
        mapping.update_doc("no markers")
