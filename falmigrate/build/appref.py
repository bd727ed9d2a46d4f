"""``build --update-app OUT``: point every app of OUT/pyproject.toml at the image we just pushed.

Each ``[tool.fal.apps.<name>]`` table's ``image`` becomes ``{ image = "<repo>@sha256:…" }``, so fal
runs exactly the bytes we built and pushed (no build on fal's side). Registry credentials are never
written: when the registry needs them, the table names fal secrets (``$FAL_IMAGE_REGISTRY_USERNAME`` /
``$FAL_IMAGE_REGISTRY_PASSWORD``) whose values fal reads at deploy time. Only those lines change; the rest
of the file, comments included, stays as it was.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

from falmigrate.errors import SourceError
from falmigrate.render.pyproject import FILE, image_table_for_ref, toml_value

_HEADER = re.compile(r"^\s*\[(?P<name>[^\[\]]+)\]\s*(#.*)?$")
_IMAGE_KEY = re.compile(r"^\s*image\s*=")


def _section(line: str) -> str | None:
    match = _HEADER.match(line)
    return match["name"].strip().replace('"', "") if match else None


def _app_of(section: str | None, apps: set[str]) -> tuple[str | None, bool]:
    """(app name, whether the section is that app's ``image`` sub-table) for a table header."""
    if section is None or not section.startswith("tool.fal.apps."):
        return None, False
    rest = section.removeprefix("tool.fal.apps.")
    if rest in apps:
        return rest, False
    if rest.endswith(".image") and rest.removesuffix(".image") in apps:
        return rest.removesuffix(".image"), True
    return None, False


def rewrite_pyproject(text: str, reference: str, *, credentials: bool) -> str:
    """``text`` with every fal app's image set to ``reference``; the other lines unchanged."""
    try:
        apps = set(tomllib.loads(text).get("tool", {}).get("fal", {}).get("apps", {}))
    except tomllib.TOMLDecodeError as exc:
        raise SourceError(f"{FILE} is not valid TOML: {exc}", file=FILE) from exc
    if not apps:
        raise SourceError(f"{FILE} has no [tool.fal.apps.<name>] table to point at the pushed image",
                          file=FILE, hint="pass the directory `falmigrate convert` wrote")
    table = image_table_for_ref(reference, credentials=credentials)
    inline = f"image = {toml_value(table)}"
    out: list[str] = []
    app, in_image_table, done = None, False, set()
    for line in text.splitlines():
        section = _section(line)
        if section is not None:
            app, in_image_table = _app_of(section, apps)
            out.append(line)
            if in_image_table:  # a `[tool.fal.apps.X.image]` sub-table: its keys are replaced
                out += [f"{key} = {toml_value(value)}" for key, value in table.items()]
                done.add(app)
            continue
        if in_image_table:
            continue
        if app is not None and _IMAGE_KEY.match(line):
            out.append(inline)
            done.add(app)
            continue
        out.append(line)
    missing = sorted(apps - done)
    if missing:
        raise SourceError(f"{FILE}: app {missing[0]!r} has no image to replace", file=FILE,
                          hint="add `image = { dockerfile = \"Dockerfile\" }` to its table")
    return "\n".join(out) + "\n"


def update_app(out_dir: Path, reference: str, *, credentials: bool = False) -> Path:
    """Rewrite ``out_dir/pyproject.toml`` in place (atomically); returns its path."""
    path = Path(out_dir) / FILE
    if not path.is_file():
        raise SourceError(f"no {FILE} in {out_dir}", hint="pass the directory `falmigrate convert` wrote")
    new_text = rewrite_pyproject(path.read_text(encoding="utf-8"), reference, credentials=credentials)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(new_text, encoding="utf-8")
    os.replace(tmp, path)
    return path
