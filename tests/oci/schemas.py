"""The OCI image-spec JSON schemas (Debian's golang-github-opencontainers-image-spec-dev, installed by
scripts/services.sh) and a checker that runs every JSON file of a layout through them.

The schemas reference each other by relative file name (``defs-descriptor.json#/…``) under ``id``s
with different bases; the retriever maps any such URI to the file of that name in the schema
directory, as the image-spec's own Go loader does.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SCHEMA_DIR = Path("/usr/share/gocode/src/github.com/opencontainers/image-spec/schema")
INDEX_TYPES = {"application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json"}


def _retrieve(uri: str) -> Resource:
    return Resource.from_contents(json.loads((SCHEMA_DIR / uri.rsplit("/", 1)[-1]).read_text()),
                                  default_specification=DRAFT4)


@cache
def validator(name: str) -> jsonschema.Draft4Validator:
    """A validator for ``<name>-schema.json`` (config, image-manifest, image-index, image-layout)."""
    path = SCHEMA_DIR / f"{name}-schema.json"
    assert path.is_file(), (f"{path} missing: scripts/services.sh installs "
                            "golang-github-opencontainers-image-spec-dev")
    schema = json.loads(path.read_text())
    return jsonschema.Draft4Validator(schema, registry=Registry(retrieve=_retrieve),
                                      format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


def problems(name: str, document: dict) -> list[str]:
    return [f"{name}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator(name).iter_errors(document)]


def check_layout(layout: Path) -> int:
    """Validate oci-layout, index.json and every manifest/index/config reachable from it; returns how
    many documents were checked; raises AssertionError listing every schema violation."""
    layout = Path(layout)
    found = problems("image-layout", json.loads((layout / "oci-layout").read_text()))
    checked = 1

    def blob(digest: str) -> dict:
        algo, _, hexpart = digest.partition(":")
        return json.loads((layout / "blobs" / algo / hexpart).read_bytes())

    def walk_index(index: dict) -> None:
        nonlocal checked
        found.extend(problems("image-index", index))
        checked += 1
        for desc in index.get("manifests", []):
            doc = blob(desc["digest"])
            if desc["mediaType"] in INDEX_TYPES:
                walk_index(doc)
                continue
            found.extend(problems("image-manifest", doc))
            found.extend(problems("config", blob(doc["config"]["digest"])))
            checked += 2

    walk_index(json.loads((layout / "index.json").read_text()))
    assert not found, "\n".join(found)
    return checked
