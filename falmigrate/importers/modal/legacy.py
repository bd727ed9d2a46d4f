"""Modal's older API, still found in public repositories: mapped where it has a newer equivalent,
refused by name where it has none (never "add the functions or classes the app serves").

- ``modal.Stub`` (renamed ``modal.App``), ``@stub.function`` / ``@stub.cls``;
- ``@stub.webhook`` / ``@stub.asgi`` / ``@stub.wsgi`` (now ``@app.function`` + ``@modal.web_endpoint`` /
  ``asgi_app`` / ``wsgi_app``);
- ``__enter__`` / ``__exit__`` (and the async pair) on a class (now ``@modal.enter`` / ``@modal.exit``);
- ``modal.ClsMixin`` base classes (class parameters, now ``modal.parameter``);
- ``mounts=[modal.Mount.from_local_dir(...)]`` (now ``Image.add_local_dir``), ``shared_volumes=`` with
  ``modal.SharedVolume`` (now ``volumes=`` / ``modal.Volume``), ``Image.from_dockerhub`` (now
  ``from_registry``), ``Image.conda`` (now ``micromamba``), ``.call(...)`` (now ``.remote(...)``).

Refused: objects attached to the Stub (``stub.cache = modal.Dict.new()``, ``stub["q"] = ...``): they
are Modal runtime objects with no fal counterpart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from falmigrate.spec import Finding, Location

if TYPE_CHECKING:
    from falmigrate.importers.modal.reader import ModalClass, ModalModule

# Old App decorators that made a function a web function: decorator → the web role it means now.
APP_DECORATORS = {"webhook": "web_endpoint", "asgi": "asgi_app", "wsgi": "wsgi_app"}
# Old image constructors → the constructor read in their place.
IMAGE_BASES = {"from_dockerhub": "from_registry", "conda": "micromamba"}
# Old lifecycle dunders → the hook they map to.
LIFECYCLE_DUNDERS = {"__enter__": "enter", "__aenter__": "enter", "__exit__": "exit", "__aexit__": "exit"}
# Old call spelling → what it is now.
CALL_ALIASES = {"call": "remote"}
MAPPED_RULE = "FM241"
REFUSED_RULE = "FM242"


def mapped(what: str, now: str, location: Location) -> Finding:
    return Finding(rule=MAPPED_RULE, severity="info", location=location,
                   message=f"old Modal API {what}: read as {now}",
                   remediation="nothing to do; the converted app uses the fal equivalent of the newer API")


def refused(what: str, why: str, location: Location, remediation: str) -> Finding:
    return Finding(rule=REFUSED_RULE, severity="error", location=location,
                   message=f"old Modal API {what}: {why}", remediation=remediation)


def class_findings(mod: ModalModule, cls: ModalClass) -> list[Finding]:
    """``__enter__``/``__exit__`` lifecycle and ``ClsMixin`` bases of one class."""
    out = []
    for member in cls.members:
        hook = LIFECYCLE_DUNDERS.get(member.name)
        if hook is not None:
            out.append(mapped(f"{cls.name}.{member.name}", f"@modal.{hook}() (setup/teardown on fal)",
                              mod.location(member.node)))
    for base in cls.node.bases:
        if (mod.dotted(base.value) or "").endswith("ClsMixin"):
            out.append(mapped(f"{cls.name}(ClsMixin)", "a plain class (the mixin is dropped)",
                              mod.location(base)))
    return out


def app_findings(mod: ModalModule) -> list[Finding]:
    """``modal.Stub`` itself, old web decorators, and objects attached to the Stub (refused)."""
    out = []
    for name, call in mod.apps.items():
        if call.target == "modal.Stub":
            out.append(mapped(f"modal.Stub ({name})", "modal.App", mod.location(call.node, call.within)))
    for member in mod.functions:
        role = member.app_call.target.split(".", 1)[1] if member.app_call is not None else ""
        if role in APP_DECORATORS:
            out.append(mapped(f"@{member.app_call.target.replace('App', 'stub')}", f"@app.function + "  # type: ignore[union-attr]
                              f"@modal.{APP_DECORATORS[role]}", mod.location(member.node)))
    out += _stub_objects(mod)
    return out


def _stub_objects(mod: ModalModule) -> list[Finding]:
    out = []
    for stmt in mod.module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if not isinstance(small, cst.Assign):
                continue
            for target in small.targets:
                node = target.target
                owner = node.value if isinstance(node, (cst.Attribute, cst.Subscript)) else None
                if isinstance(owner, cst.Name) and owner.value in mod.apps:
                    code = cst.Module([]).code_for_node(node)
                    out.append(refused(
                        f"`{code} = ...` (an object attached to the Stub)",
                        "Modal runtime objects kept on the Stub have no fal counterpart", mod.location(small),
                        "keep such state in the app (a module-level object created in "
                        "setup()) or in an external store (Redis, a database)"))
    return out
