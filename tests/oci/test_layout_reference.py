"""The one ``oci:PATH[:TAG]`` parser (``oci.layout.parse_reference``), used by pack, push, pull's store,
validate and the transports."""

from __future__ import annotations

from pathlib import Path

import pytest

from falmigrate.oci.layout import parse_reference


@pytest.mark.parametrize(("text", "expected"), [
    ("oci:/tmp/out:v1", (Path("/tmp/out"), "v1")),
    ("oci:/tmp/out", (Path("/tmp/out"), None)),
    ("oci:out:latest", (Path("out"), "latest")),
    ("/tmp/out:v1.2-rc_3", (Path("/tmp/out"), "v1.2-rc_3")),  # the prefix is optional
    ("oci:/tmp/a:b/out", (Path("/tmp/a:b/out"), None)),  # a ':' inside the path: what follows has a '/'
    ("oci:/tmp/out:", (Path("/tmp/out:"), None)),  # an empty tag is no tag
    ("oci:/tmp/out:-bad", (Path("/tmp/out:-bad"), None)),  # not a valid tag
    ("oci:relative", (Path("relative"), None)),
])
def test_parse_reference(text: str, expected: tuple[Path, str | None]) -> None:
    assert parse_reference(text) == expected


def test_an_existing_directory_with_a_colon_is_a_path(tmp_path: Path) -> None:
    odd = tmp_path / "out:v1"
    odd.mkdir()
    assert parse_reference(f"oci:{odd}") == (odd, None)
    assert parse_reference(f"oci:{odd}:v2") == (odd, "v2")
