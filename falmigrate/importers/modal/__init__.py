"""Modal importer: a Modal project (``modal.App`` + ``@app.cls``/``@app.function``) → AppSpec.

Static only: the module is parsed with libcst, never imported. A module can hold several fal apps
(one per Modal class, one per ASGI/WSGI/web_server function, one for the other functions); the
spec holds the first (primary) one in its own fields and the others in ``spec.more_apps``, each
deployed under its own name (see ``docs/from-modal.md``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from falmigrate import platforms
from falmigrate.errors import SourceError
from falmigrate.importers.base import ImportRequest
from falmigrate.importers.modal.build import build_app, image_for
from falmigrate.importers.modal.plan import app_name, plan_module
from falmigrate.importers.modal.reader import ModalModule, read_module
from falmigrate.spec import AppSpec, Finding, Location, ModalDetails, SourceInfo

_SKIP_DIRS = platforms.get("modal").skip_dirs
_MODAL_IMPORT = re.compile(r"^\s*(import modal\b|from modal(\.\w+)* import )", re.MULTILINE)
_APP_CALL = re.compile(r"\b(App|Stub)\s*\(")
_PREFERRED = ("app.py", "main.py", "modal_app.py", "serve.py", "server.py")


def python_files(root: Path, max_depth: int = 3) -> list[Path]:
    out: list[Path] = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if len(rel.parts) > max_depth or any(p in _SKIP_DIRS or p.startswith(".") for p in rel.parts[:-1]):
            continue
        out.append(path)
    return out


def _read_text(path: Path, root: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = exc.object[:exc.start].count(b"\n") + 1
        raise SourceError(f"{path.relative_to(root)} is not UTF-8 text: {exc.reason} (byte {exc.start})",
                          file=path.relative_to(root), line=line, hint="save the file as UTF-8") from exc
    except OSError as exc:
        raise SourceError(f"cannot read {path.relative_to(root)}: {exc}", file=path.relative_to(root)) from exc


def candidates(root: Path) -> list[Path]:
    """Files that import modal and create an App, best first."""
    found = []
    for path in python_files(root):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if _MODAL_IMPORT.search(text) and _APP_CALL.search(text):
            found.append(path)
    found.sort(key=lambda p: (len(p.relative_to(root).parts), p.name not in _PREFERRED, str(p.relative_to(root))))
    return found


class ModalImporter:
    platform: ClassVar[str] = "modal"

    def detect(self, root: Path) -> float:
        if not root.is_dir():
            return 0.0
        if candidates(root):
            return 0.9
        for path in python_files(root, max_depth=2):
            try:
                if _MODAL_IMPORT.search(path.read_text(encoding="utf-8")):
                    return 0.3
            except (OSError, UnicodeDecodeError):
                continue
        return 0.0

    def load(self, root: Path, request: ImportRequest | None = None) -> AppSpec:
        (request or ImportRequest()).refuse("Modal", "entry", "dockerfile", "context")
        root = Path(root)
        files = candidates(root)
        if not files:
            modal_files = [p for p in python_files(root) if _MODAL_IMPORT.search(_read_text(p, root))]
            where = modal_files[0].relative_to(root) if modal_files else root
            raise SourceError("no modal.App(...) found: nothing to migrate", file=where,
                              hint="the Modal project needs `app = modal.App(...)` in one of its Python files")
        entry = files[0]
        rel = entry.relative_to(root).as_posix()
        mod = read_module(_read_text(entry, root), rel, root)
        if not mod.apps:
            raise SourceError("no modal.App(...) / modal.Stub(...) assignment found", file=rel, line=1)
        spec = load_module(mod, root)
        extra_findings = [
            Finding(rule="FM227", severity="warning", location=Location(file=p.relative_to(root).as_posix()),
                    message=f"{p.relative_to(root).as_posix()} also defines a Modal App; only {rel} was migrated",
                    remediation="migrate that file separately (its directory as the source)")
            for p in files[1:]
        ]
        return spec.with_findings(extra_findings) if extra_findings else spec


def load_module(mod: ModalModule, root: Path) -> AppSpec:
    """The AppSpec of one parsed Modal module (primary app + extra apps)."""
    plans = plan_module(mod)
    if not plans:
        call = next(iter(mod.apps.values()))
        raise SourceError("the Modal App has no @app.cls class and no @app.function: nothing serves requests",
                          file=mod.path, line=call.line, hint="add the functions or classes the app serves")
    apps = [build_app(mod, plan) for plan in plans]
    primary = apps[0]
    image, image_findings, image_decisions = image_for(mod, plans, apps)
    findings = [*image_findings, *(f for a in apps for f in a.findings)]
    decisions = [*image_decisions, *(d for a in apps for d in a.decisions)]
    if len(apps) > 1:
        findings.append(Finding(
            rule="FM226", severity="info", location=Location(file=mod.path, line=plans[1].line),
            message=f"the Modal app becomes {len(apps)} fal apps ({', '.join(a.class_name for a in apps)}) in one fal_app.py",
            remediation="deploy each class with `fal deploy fal_app.py::<Class>`"))
    modal_name = app_name(mod) or primary.class_name
    name = _kebab(modal_name) or "modal-app"
    spec = AppSpec(
        name=name,
        class_name=primary.class_name,
        source=SourceInfo(platform="modal", root=".", entry_file=mod.path, entry_symbol=primary.class_name,
                          files=[p.relative_to(root).as_posix() for p in python_files(root)]),
        endpoints=primary.endpoints,
        lifecycle=primary.lifecycle,
        scaling=primary.scaling,
        hardware=primary.hardware,
        image=image,
        secrets=primary.secrets,
        volumes=primary.volumes,
        findings=_dedupe(findings),
        decisions=decisions,
        more_apps=[a.served(f"{name}-{_kebab(a.class_name)}") for a in apps[1:]],
        details=ModalDetails(modal_app=modal_name, apps={a.class_name: a.runner for a in apps}),
    )
    return spec


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
