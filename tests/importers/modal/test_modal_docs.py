"""docs/from-modal.md carries the mapping tables generated from the importer's own data."""

from __future__ import annotations

from pathlib import Path

from falmigrate import rules
from falmigrate.importers.modal import mapping
from tests.helpers.golden import assert_doc_current

DOC = Path(__file__).resolve().parents[3] / "docs" / "from-modal.md"


def test_mapping_doc_is_current() -> None:
    assert_doc_current(DOC, mapping.update_doc, "tests/importers/modal")


def test_doc_lists_every_gpu_knob_and_rule() -> None:
    text = DOC.read_text()
    for gpu, (machine, _) in mapping.GPU_TYPES.items():
        assert f"| `{gpu}` | `{machine}` |" in text
    for knob in mapping.KNOBS:
        assert f"`{knob.modal}`" in text
        for old in knob.old_names:
            assert f"`{old}`" in text
    for rule in rules.for_platform("modal"):
        assert f"| {rule.id} |" in text


def test_update_doc_replaces_only_the_generated_part() -> None:
    stale = f"# Title\n\nintro\n\n{mapping.DOC_BEGIN}\nold table\n{mapping.DOC_END}\n\noutro\n"
    fresh = mapping.update_doc(stale)
    assert fresh.startswith("# Title\n\nintro\n\n") and fresh.endswith("\n\noutro\n")
    assert "old table" not in fresh and "| `H100` | `GPU-H100` |" in fresh
