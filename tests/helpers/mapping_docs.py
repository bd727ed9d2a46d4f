"""Checks the importers' mapping-doc tests share (``docs/from-<platform>.md``)."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

import pytest

import falmigrate
from falmigrate import rules

PACKAGE = Path(falmigrate.__file__).resolve().parent


def assert_every_emitted_rule_belongs_to(platform: str) -> None:
    """Every rule id quoted in the platform's importer and codemod sources is one of its rules."""
    folders = (PACKAGE / "importers" / platform, PACKAGE / "codemods" / platform)
    sources = [path for folder in folders for path in folder.glob("*.py")]
    emitted = {m for path in sources for m in re.findall(r'"(FM\d{3})"', path.read_text())}
    assert emitted and emitted <= {rule.id for rule in rules.for_platform(platform)}


def assert_update_doc_replaces_only_the_generated_part(mapping: ModuleType) -> None:
    stale = f"# T\n\nintro\n\n{mapping.DOC_BEGIN}\nold\n{mapping.DOC_END}\n\noutro\n"
    fresh = mapping.update_doc(stale)
    assert fresh.startswith("# T\n\nintro\n\n") and fresh.endswith("\n\noutro\n") and "\nold\n" not in fresh
    with pytest.raises(ValueError):
        mapping.update_doc("no markers")
