"""RunPod worker importer: a queue worker (``runpod.serverless.start({...})``) or a load-balancing worker
(a plain HTTP server) → AppSpec.

A queue worker becomes an entry-point app: the handler it names, the request fields (``rp_validator``
schema, else the keys the handler reads, plus job fields like ``s3Config``), the
``concurrency_modifier``'s ceiling, module-level initialisation and start-up work (launcher scripts,
``main()``) for ``setup()``, and the worker's own Dockerfile kept and patched (``build``). A
load-balancing worker becomes an image-only app: its server, port and ``/ping`` health check
(``server``). ``--entry`` picks the worker in a repository with several. Static only: libcst, json and
the Dockerfile reader; the worker is never imported. ``spec.details`` (RunpodDetails) tells the codemod
and the verify runner how to call the handler.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import ClassVar

from falmigrate.errors import SourceError
from falmigrate.importers.base import ImportRequest
from falmigrate.importers.runpod.build import worker_image
from falmigrate.importers.runpod.entry import choose, entry_module, python_files
from falmigrate.importers.runpod.project import read_project
from falmigrate.importers.runpod.reader import WorkerModule, mentions_start
from falmigrate.importers.runpod.server import find_server, load_balancer
from falmigrate.importers.runpod.spec_parts import names
from falmigrate.importers.runpod.worker import worker_spec
from falmigrate.spec import AppSpec, RunpodDetails, SourceInfo

__all__ = ["RunpodImporter"]


def _entry_dir(path: str) -> str:
    folder = PurePosixPath(path).parent.as_posix()
    return "" if folder == "." else folder


def _no_worker(mod: WorkerModule | None) -> SourceError:
    if mod is not None:
        return SourceError(f"{mod.path} calls no runpod.serverless.start(...) and serves no load-balancing "
                           "HTTP app (a GET /ping route)", file=mod.path,
                           hint='call runpod.serverless.start({"handler": handler}) in the worker module')
    return SourceError("no runpod.serverless.start(...) call found: nothing says which "
                       "function is the handler",
                       hint='call runpod.serverless.start({"handler": handler}) in the worker module')


def _load_balancer_spec(root: Path, request: ImportRequest, mod: WorkerModule | None) -> AppSpec:
    entry_dir = _entry_dir(mod.path) if mod is not None else ""
    project = read_project(root, entry_dir)
    entry = mod.path if mod is not None else "app.py"
    built = worker_image(root, entry, request, project, mod.source if mod else "", route_needs_fal=False)
    found = find_server(root, built.patch, mod.path if mod is not None else None)
    if found is None or built.patch is None:
        raise _no_worker(mod)
    module, info = found
    lb = load_balancer(root, built.patch, module, info, project.env)
    image = built.image
    assert image.dockerfile is not None
    dockerfile = image.dockerfile.model_copy(update={"edits": list(built.patch.edits)})
    image = image.model_copy(update={"dockerfile": dockerfile})
    new_decisions = [d for d in built.patch.decisions if d not in built.decisions]
    name, class_name = names(root / _entry_dir(module) if _entry_dir(module) else root, project.title)
    return AppSpec(
        name=name, class_name=class_name,
        source=SourceInfo(platform="runpod", root=".", entry_file=module, files=[module, built.patch.path,
                                                                               *project.files]),
        endpoints=lb.endpoints, server=lb.server, hardware=project.hardware, image=image,
        secrets=sorted(set(project.secrets) | set(built.patch.runtime_secrets)),
        volumes=built.volumes, findings=[*project.findings, *built.findings, *lb.findings],
        decisions=[*lb.decisions, *built.decisions, *new_decisions],
        details=RunpodDetails(entry=module, kind="load_balancer"),
    )


class RunpodImporter:
    platform: ClassVar[str] = "runpod"

    def detect(self, root: Path) -> float:
        score = 0.0
        if (root / ".runpod" / "hub.json").is_file():
            score = 0.7
        for path in python_files(root)[:200]:
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            if mentions_start(text) and re.search(r"\bstart\s*\(", text):
                return 0.9
            if re.search(r"^\s*(import runpod|from runpod)", text, re.MULTILINE):
                score = max(score, 0.6)
        return score

    def load(self, root: Path, request: ImportRequest | None = None) -> AppSpec:
        request = request or ImportRequest()
        root = Path(root)
        mod = entry_module(root, request.entry) if request.entry else choose(root)
        if mod is None or not mod.starts:
            return _load_balancer_spec(root, request, mod)
        return worker_spec(root, request, mod)
