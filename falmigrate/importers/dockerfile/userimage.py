"""The Docker importer's ImageSpec: the user's Dockerfile kept as the image, with the route's edits.

``ImageSpec.dockerfile`` names the file, its build context and the ``DockerfileEdit``s; the renderer
applies them to the file as written (every stage, ARG — pre-FROM ones too —, ENV, comment and line
kept, no variable expanded). The other fields describe the image for the report and the deploy
settings: the final stage's base, its Python and CUDA versions when the base's tag says them, ENV,
WORKDIR, the apt/pip packages its RUN lines install, and the BuildKit secrets the build mounts
(``RUN --mount=type=secret,id=…``), which go into the pyproject's image ``secrets`` as references to
fal secrets of the same name — never values.
"""

from __future__ import annotations

import re

from falmigrate.dockerfile import ParsedDockerfile
from falmigrate.importers.dockerfile.locate import Located
from falmigrate.spec import Decision, DockerfileEdit, ImageSpec, Location, UserDockerfile

_PY_TAG = re.compile(r"(?:^|/)python:(\d+\.\d+)")
_CUDA_TAG = re.compile(r"cuda:?(\d+\.\d+(?:\.\d+)?)")


def _secret_decisions(parsed: ParsedDockerfile) -> list[Decision]:
    out = []
    for secret in parsed.secret_ids():
        line = next(ins.line for ins in parsed.instructions
                    if any(m.type == "secret" and m.id == secret for m in ins.mounts))
        out.append(Decision(source=f"RUN --mount=type=secret,id={secret}",
                            target=f"build secret {secret} = the fal secret {secret} (pyproject "
                                   "image.secrets)",
                            note=f"create it first: fal secrets set {secret}=…; the value never enters the "
                                 "image",
                            location=Location(file=parsed.path, line=line)))
    return out


def describe(parsed: ParsedDockerfile, located: Located, edits: list[DockerfileEdit], port: int, *,
             reset_entrypoint: bool = False,
             import_folders: tuple[str, ...] = ()) -> tuple[ImageSpec, list[Decision]]:
    """The image spec of the patched Dockerfile, and a decision per build secret. ``reset_entrypoint``:
    the image's ENTRYPOINT starts the server itself, so an entry-point app's image resets it;
    ``import_folders``: the image's PYTHONPATH folders of the project (importable through the .pth too)."""
    chain = parsed.chain()
    final = parsed.final
    base = parsed.external_base()
    apt = list(dict.fromkeys(p for stage in chain for p in stage.apt_packages))
    pip = list(dict.fromkeys(p for stage in chain for p in stage.pip_packages if p != "pip"))
    workdir = final.workdir or "/"
    image = ImageSpec(
        base=base, python=m.group(1) if (m := _PY_TAG.search(base)) else None,
        cuda=m.group(1) if (m := _CUDA_TAG.search(base)) else None,
        system_packages=apt, python_requirements=pip, env=dict(sorted(final.env.items())), workdir=workdir,
        exposed_port=port, code_dirs=list(dict.fromkeys([workdir, *import_folders])),
        build_secrets=parsed.secret_ids(),
        entrypoint=[] if reset_entrypoint else None,
        dockerfile=UserDockerfile(path=located.rel, context=located.context, edits=list(edits)),
    )
    return image, _secret_decisions(parsed)
