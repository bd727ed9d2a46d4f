"""The AppSpec JSON Schema (what `falmigrate inspect --schema` prints, report.json's `spec`) is a golden
file: any change to the IR shows up as a reviewed diff of docs/schema/appspec.schema.json, and a change
that is not backward compatible comes with a new schema_version."""

from __future__ import annotations

import json

from falmigrate.spec import SCHEMA_VERSION, json_schema
from tests.helpers.golden import REPO, updating

GOLDEN = REPO / "docs" / "schema" / "appspec.schema.json"


def test_schema_is_the_committed_golden():
    text = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
    if updating():
        GOLDEN.write_text(text)
    assert GOLDEN.read_text() == text, ("the AppSpec schema changed: regenerate with "
                                        "FALMIGRATE_UPDATE_GOLDEN=1")


def test_schema_version_is_2_and_the_spec_has_no_untyped_bag():
    schema = json_schema()
    assert SCHEMA_VERSION == 2 and schema["properties"]["schema_version"]["default"] == 2
    assert "extra" not in schema["properties"]
    for name, definition in schema.get("$defs", {}).items():
        assert definition.get("additionalProperties") is not True, name
