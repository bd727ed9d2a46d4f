"""The output Dockerfile of a project that brought its own: the user's file with the importer's edits
applied (``ImageSpec.dockerfile``) and, for an entry-point app, fal's runtime appended to the final stage.

Everything else stays byte for byte (``falmigrate.dockerfile.patch.apply_edits``). The runtime block is
what fal's runner needs to import ``fal_app`` inside the image: curl, ``fal`` installed last into the
interpreter the app runs with (``UserDockerfile.python``), a ``.pth`` file naming ``ImageSpec.code_dirs``
(importable from any working directory; PYTHONPATH may be replaced by the runner) and ``fal_app.py``
copied into the first code directory. A non-root ``USER`` is switched to root for those steps and back.
The generated-file header goes after any parser directives (``# syntax=`` must stay first).
"""

from __future__ import annotations

import re

from falmigrate.dockerfile import parse_text
from falmigrate.dockerfile.patch import apply_edits
from falmigrate.render.dockerfile import PTH_FILE, needs_fal_runtime
from falmigrate.spec import AppSpec, DockerfileEdit

ENTRY_FILE = "fal_app.py"
_DIRECTIVE = re.compile(r"^#\s*[a-zA-Z]+\s*=")
_ROOT_USERS = {"root", "0", "0:0", "root:root"}


def _pth_command(python: str, code_dirs: list[str]) -> str:
    lines = "".join(f"{folder}\\n" for folder in code_dirs)
    script = f"import pathlib, site; pathlib.Path(site.getsitepackages()[0], '{PTH_FILE}').write_text('{lines}')"
    return f'{python} -c "{script}"'


def runtime_lines(spec: AppSpec, text: str, fal_version: str) -> list[str]:
    """The instructions appended to the final stage for fal's runner."""
    user_file = spec.image.dockerfile
    assert user_file is not None
    python = user_file.python
    code_dirs = list(spec.image.code_dirs) or [spec.image.workdir or "/"]
    user = parse_text(text, user_file.path, check_references=False).final.user
    switch = user is not None and user.strip() not in _ROOT_USERS
    lines = ["", "# fal's runner imports fal_app from this image (pyproject.toml: python_entry_point): curl, fal",
             "# (installed last) and the worker's folder importable from any working directory. Added by falmigrate."]
    lines += ["USER root"] if switch else []
    lines += [
        "RUN command -v curl >/dev/null || (apt-get update && apt-get install -y --no-install-recommends curl \\",
        "    && rm -rf /var/lib/apt/lists/*)",
        f"RUN PIP_BREAK_SYSTEM_PACKAGES=1 {python} -m pip install --no-cache-dir fal=={fal_version}",
        f"RUN {_pth_command(python, code_dirs)}",
        f"COPY {ENTRY_FILE} {code_dirs[0].rstrip('/')}/{ENTRY_FILE}",
    ]
    lines += [f"USER {user}"] if switch else []
    return lines


def _with_header(text: str, header: str) -> str:
    lines = text.splitlines(keepends=True)
    at = 0
    while at < len(lines) and _DIRECTIVE.match(lines[at]):
        at += 1
    return "".join(lines[:at]) + header + "\n" + "".join(lines[at:])


def render(spec: AppSpec, text: str | None, *, fal_version: str, header: str) -> str:
    """The patched Dockerfile (with the header) for ``spec``, whose ``image.dockerfile`` is set."""
    user_file = spec.image.dockerfile
    if user_file is None or text is None:
        raise ValueError("render a user Dockerfile with ImageSpec.dockerfile set and the file's text")
    edits = list(user_file.edits)
    if needs_fal_runtime(spec):
        edits.append(DockerfileEdit(action="append", lines=runtime_lines(spec, text, fal_version),
                                    reason="fal's runtime for the entry-point route"))
    patched = apply_edits(text, edits, user_file.path)
    if not patched.endswith("\n"):
        patched += "\n"
    return _with_header(patched, header)
