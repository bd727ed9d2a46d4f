"""A user's own Dockerfile as the output's Dockerfile: the file as written, with the spec's edits applied.

Platforms that come with a Dockerfile keep it (``ImageSpec.dockerfile``): ``falmigrate.dockerfile.patch``
applies the importer's ``DockerfileEdit``s and leaves every other byte alone. An app on the entry-point
route also needs fal's runtime in the image; that block (``templates/fal_runtime.Dockerfile.j2``: curl,
``fal`` pinned, ``fal_app.py`` copied into the code folder, a ``.pth`` file; run as root when the
file switched to another USER, which is restored after) is appended to the final stage, with
``ENTRYPOINT`` reset when ``ImageSpec.entrypoint`` says so (an ENTRYPOINT that does not hand over to
its arguments would wrap fal's own command). The generated-file header goes after the parser
directives (``# syntax=``, ``# escape=``), which must stay first.
"""

from __future__ import annotations

import json
import shlex

from falmigrate.dockerfile.patch import apply_edits
from falmigrate.dockerfile.reader import parse_text
from falmigrate.dockerfile.source import read_directives, split_lines
from falmigrate.render import render_template
from falmigrate.render.dockerfile import needs_fal_runtime, pth_command
from falmigrate.spec import AppSpec, DockerfileEdit

TEMPLATE = "fal_runtime.Dockerfile.j2"
APP_FILE = "fal_app.py"
_ROOT_USERS = frozenset({"", "root", "0", "0:0", "root:root"})


def runtime_lines(spec: AppSpec, text: str, fal_version: str) -> list[str]:
    """The lines fal's runtime adds to the final stage of the user's Dockerfile ``text``."""
    image = spec.image
    assert image.dockerfile is not None
    model = parse_text(text, image.dockerfile.path, check_references=False)
    user = model.final.user or ""
    code_dir = (image.code_dirs or [image.workdir or "/"])[0]
    block = render_template(
        TEMPLATE, user=None if user in _ROOT_USERS else user,
        fal_requirement=shlex.quote(f"fal=={fal_version}"), app_file=APP_FILE,
        app_target=f"{code_dir.rstrip('/')}/{APP_FILE}",
        python=image.dockerfile.python, pth_command=pth_command(list(image.code_dirs) or [code_dir],
                                                                image.dockerfile.python),
        entrypoint=json.dumps(image.entrypoint) if image.entrypoint is not None else None)
    return ["", *block.rstrip("\n").split("\n")]  # a blank line sets the block apart from the user's lines


def with_header(text: str, header: str) -> str:
    """``text`` with ``header`` as a comment line after its parser directives."""
    lines = split_lines(text)
    count = len(read_directives(lines))  # one line each, at the very top
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    return "".join([*lines[:count], header + newline, *lines[count:]])


def patched(spec: AppSpec, text: str, *, fal_version: str) -> str:
    """The user's Dockerfile ``text`` patched for ``spec`` (edits, then fal's runtime for entry points),
    without the header."""
    dockerfile = spec.image.dockerfile
    assert dockerfile is not None
    edits = list(dockerfile.edits)
    if needs_fal_runtime(spec):
        edits.append(DockerfileEdit(action="append", lines=runtime_lines(spec, text, fal_version),
                                    reason="fal's runtime for the entry-point route"))
    out = apply_edits(text, edits, dockerfile.path)
    return out if out.endswith(("\n", "\r\n")) or not out else out + "\n"


def render(spec: AppSpec, text: str, *, header: str, fal_version: str) -> str:
    """The user's Dockerfile ``text`` patched for ``spec``, the header after its parser directives."""
    return with_header(patched(spec, text, fal_version=fal_version), header)
