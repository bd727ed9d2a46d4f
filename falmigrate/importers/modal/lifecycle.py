"""A Modal class's lifecycle and shape → setup()/teardown() decisions and findings.

``@modal.enter`` (and the old ``__enter__``) become ``setup()``, ``@modal.exit`` / ``__exit__`` become
``teardown()``, ``@modal.build`` methods (Modal ran them while the image built) run first in setup();
``modal.parameter()`` attributes, fal.App attribute clashes and classes with nothing to serve are
findings.
"""

from __future__ import annotations

from falmigrate.importers.modal import mapping
from falmigrate.importers.modal.legacy import LIFECYCLE_DUNDERS, class_findings
from falmigrate.importers.modal.plan import AppPlan, is_true
from falmigrate.importers.modal.reader import ModalModule
from falmigrate.spec import Decision, Finding, Location


def _hook_of(name: str, roles: dict) -> str:
    if "build" in roles:
        return "build"
    return LIFECYCLE_DUNDERS.get(name) or ("enter" if "enter" in roles else "exit")


def lifecycle_decisions(mod: ModalModule, plan: AppPlan) -> list[Decision]:
    """@modal.enter → setup(), @modal.exit → teardown() (for MIGRATION.md)."""
    cls = plan.source_class
    if cls is None:
        return []
    members = {m.name: m for m in cls.members}

    def calls(hook: str, name: str) -> str:
        return (f"{plan.class_name}.{hook}() is this method" if name == hook
                else f"{plan.class_name}.{hook}() calls self.{name}()")

    out = [Decision(source=f"@modal.{_hook_of(name, members[name].roles)} {cls.name}.{name}",
                    target=calls("setup", name),
                    note="once per runner, before its first request (as a Modal container start)",
                    location=mod.location(members[name].node)) for name in plan.setup]
    out += [Decision(source=f"@modal.exit {cls.name}.{name}", target=calls("teardown", name),
                     note="when the runner shuts down", location=mod.location(members[name].node))
            for name in plan.teardown]
    return out


def lifecycle_findings(mod: ModalModule, plan: AppPlan, out: list[Finding]) -> None:
    for skipped in plan.skipped:
        out.append(Finding(rule="FM213", severity="warning", location=mod.location(skipped.node),
                           message=f"{skipped.name} runs on a Modal schedule; fal apps have no schedules, "
                                   "it is not an endpoint",
                           remediation="call the function from an external scheduler (cron, CI) or "
                                       "expose it as an endpoint"))
    cls = plan.source_class
    if cls is None:
        return
    out += class_findings(mod, cls)
    where = mod.location(cls.node)
    if not plan.handlers and plan.server is None:
        out.append(Finding(rule="FM233", severity="warning", location=where,
                           message=f"class {cls.name} has no @modal.method or web endpoint, so its fal "
                                   "app has no endpoints",
                           remediation="add a @fal.endpoint method to the generated "
                                       "class, or drop the class"))
    clashes = sorted({m.name for m in cls.members} & mapping.FAL_APP_ATTRIBUTES)
    clashes += sorted({name for name, _ in cls.parameters} & mapping.FAL_APP_ATTRIBUTES)
    for name in clashes:
        out.append(Finding(rule="FM228", severity="warning", location=where,
                           message=f"{cls.name}.{name} redefines fal.App.{name}; the fal app may misbehave",
                           remediation=f"rename {name} in the generated class"))
    for member in cls.with_role("enter"):
        if is_true(mod, member.roles["enter"].kw("snap")):
            out.append(Finding(rule="FM208", severity="info", location=mod.location(member.node),
                               message=f"@modal.enter(snap=True) {member.name}: fal has no memory "
                                       "snapshots; it runs in setup()",
                               remediation="nothing to do; cold starts run the whole setup()"))
    for member in cls.with_role("build"):
        out.append(Finding(rule="FM216", severity="warning", location=mod.location(member.node),
                           message=f"@modal.build {member.name} ran while Modal built the image; on "
                                   "fal it runs first in setup(), on every cold start",
                           remediation="write its results under /data so later cold starts find "
                                       "them, or move the work into a RUN step of the Dockerfile"))
    for name, line in cls.parameters:
        out.append(Finding(rule="FM210", severity="warning", location=Location(file=mod.path, line=line),
                           message=f"modal.parameter {name!r}: fal has one instance per runner; it "
                                   "becomes a class attribute with its default",
                           remediation="pass the value in each request instead if it varies per call"))

