"""Modal importer: a Modal project (``modal.App`` + ``@app.cls``/``@app.function``) → AppSpec.

Static only: modules are parsed with libcst and evaluated by the project's constant evaluator, never
imported. A module can hold several fal apps (one per Modal class, one per ASGI/WSGI/web_server
function, one for the other functions); the spec holds the first (primary) one in its own fields and
the others in ``spec.more_apps``, each deployed under its own name (see ``docs/from-modal.md``).
Servers carry a ``ServerSpec`` (``routes.plan`` gives them the image-only route unless ``--native``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from falmigrate.analysis import Project
from falmigrate.errors import SourceError
from falmigrate.importers.base import ImportRequest
from falmigrate.importers.modal import entry as entries
from falmigrate.importers.modal.build import BuiltApp, build_app
from falmigrate.importers.modal.image_plan import image_for
from falmigrate.importers.modal.legacy import app_findings
from falmigrate.importers.modal.plan import AppPlan, app_name, plan_module
from falmigrate.importers.modal.reader import ModalModule, read_module
from falmigrate.importers.modal.runtime import version_findings
from falmigrate.importers.modal.server import server_spec
from falmigrate.importers.modal.usage import analyse
from falmigrate.spec import AppSpec, Decision, Finding, ImageSpec, Location, ModalDetails, SourceInfo

ENV_RULE = "FM237"


class ModalImporter:
    platform: ClassVar[str] = "modal"

    def detect(self, root: Path) -> float:
        if not root.is_dir():
            return 0.0
        if entries.candidates(root) or entries.app_files(root):
            return 0.9
        for path in entries.python_files(root, max_depth=2):
            try:
                if entries.MODAL_IMPORT.search(path.read_text(encoding="utf-8")):
                    return 0.3
            except (OSError, UnicodeDecodeError):
                continue
        return 0.0

    def load(self, root: Path, request: ImportRequest | None = None) -> AppSpec:
        request = request or ImportRequest()
        request.refuse("Modal", "dockerfile", "context")
        root = Path(root)
        entry, others = entries.choose(root, request.entry)
        rel = entry.relative_to(root).as_posix()
        mod = read_module(entries.read_text(entry, root), rel, root, Project(root))
        spec = load_module(mod, root)
        extra = [Finding(rule="FM227", severity="info",
                         location=Location(file=p.relative_to(root).as_posix()),
                         message=f"{p.relative_to(root).as_posix()} also uses a Modal App; "
                                 f"only {rel} was converted",
                         remediation="convert that file separately with --entry")
                 for p in others]
        return spec.with_findings(extra) if extra else spec


def _no_plans(mod: ModalModule) -> SourceError:
    call = next(iter(mod.apps.values()), None)
    if mod.entrypoints:
        return SourceError("the Modal module has only a local_entrypoint: nothing serves requests",
                           file=mod.path, line=mod.entrypoints[0].line,
                           hint="convert the file that defines the @app.function / "
                                "@app.cls it calls (--entry)")
    here = call is not None and mod.location(call.node, call.within).file == mod.path
    return SourceError("the Modal App has no @app.cls class and no @app.function: nothing serves requests",
                       file=mod.path, line=call.line if here and call is not None else None,
                       hint="convert the file that decorates functions or classes with the App (--entry)")


def _servers(mod: ModalModule, plans: list[AppPlan], apps: list[BuiltApp], root: Path,
             image: ImageSpec) -> list[Decision]:
    """The image-only ServerSpec of each ASGI/WSGI/web_server app."""
    folder, module = entries.package_root(root, root / mod.path)
    paths = [] if folder == "." else [folder]
    decisions = []
    for plan, app in zip(plans, apps):
        if plan.server is not None:
            app.server, decision = server_spec(mod, plan, module, paths, image.workdir, app.findings)
            decisions.append(decision)
    return decisions


def env_findings(mod: ModalModule) -> list[Finding]:
    """One finding per environment variable whose literal default a converted value used."""
    out = []
    for read in sorted(mod.env_reads.values(), key=lambda r: (str(r.location), r.name)):
        if read.has_default:
            out.append(Finding(rule=ENV_RULE, severity="warning", location=read.location,
                               message=f"environment variable {read.name} is read where Modal "
                                       f"evaluated the app; its default {read.default!r} is used",
                               remediation=f"if you deploy with {read.name} set, change "
                                           "the value it feeds in pyproject.toml / the Dockerfile"))
    return out


def load_module(mod: ModalModule, root: Path) -> AppSpec:
    """The AppSpec of one parsed Modal module (primary app + extra apps)."""
    plans = plan_module(mod)
    if not plans:
        raise _no_plans(mod)
    usage = analyse(mod)
    apps = [build_app(mod, plan) for plan in plans]
    image, image_findings, image_decisions = image_for(mod, plans, apps, usage)
    decisions = [*image_decisions, *_servers(mod, plans, apps, root, image)]
    folder, _ = entries.package_root(root, root / mod.path)
    if folder != ".":
        image = image.model_copy(update={"code_dirs": [image.workdir,
                                                       f"{image.workdir.rstrip('/')}/{folder}"]})
    findings = [*app_findings(mod), *image_findings, *usage.findings(),
                *(f for a in apps for f in a.findings), *version_findings()]
    decisions += [d for a in apps for d in a.decisions]
    if len(apps) > 1:
        findings.append(Finding(
            rule="FM226", severity="info", location=Location(file=mod.path, line=plans[1].line),
            message=f"the Modal app becomes {len(apps)} fal apps ({', '.join(a.class_name for a in apps)})",
            remediation="each has its own [tool.fal.apps.<name>] table in "
                        "pyproject.toml: `fal deploy <name>`"))
    findings += env_findings(mod)
    modal_name = app_name(mod) or apps[0].class_name
    name = _kebab(modal_name) or "modal-app"
    return AppSpec(
        name=name, **apps[0].fields(),
        source=SourceInfo(platform="modal", root=".", entry_file=mod.path, entry_symbol=apps[0].class_name,
                          files=[p.relative_to(root).as_posix() for p in entries.python_files(root)]),
        image=image, findings=_dedupe(findings), decisions=decisions,
        more_apps=[a.served(f"{name}-{_kebab(a.class_name)}") for a in apps[1:]],
        details=ModalDetails(modal_app=modal_name, apps={a.class_name: a.runner for a in apps}),
    )


def _kebab(name: str) -> str:
    """``MyModel`` / ``my_model`` → ``my-model``: fal's spelling of app names."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", name)
    return re.sub(r"[^a-z0-9-]+", "-", spaced.lower()).strip("-")


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen, out = set(), []
    for f in findings:
        key = (f.rule, f.message, str(f.location))
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


# kept for callers that listed project files through the importer
python_files = entries.python_files
candidates = entries.candidates
