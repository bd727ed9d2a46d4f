"""The Dockerfile image of a Modal module: the primary app's Modal image, read in order, plus what the
converted code needs (old ``mounts=`` copies, the ``modal`` package when Modal is still used at run
time), and each app's machine type checked against the GPU evidence in that image and code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from falmigrate.analysis import Unknown
from falmigrate.importers.modal import evidence
from falmigrate.importers.modal.image_spec import to_image_spec
from falmigrate.importers.modal.images import ImageChain, ImageOp, read_chain
from falmigrate.importers.modal.plan import AppPlan
from falmigrate.importers.modal.reader import ModalModule
from falmigrate.importers.modal.runtime import modal_requirement
from falmigrate.importers.modal.usage import Usage
from falmigrate.spec import Decision, Finding, ImageSpec, Location

if TYPE_CHECKING:
    from falmigrate.importers.modal.build import BuiltApp


def _same_image(mod: ModalModule, one: tuple, other: tuple) -> bool:
    """Two ``image=`` values that stand for the same Modal image expression."""
    if one[0] is None or other[0] is None:
        return one[0] is other[0]
    first, second = mod.follow(one[0], one[1]), mod.follow(other[0], other[1])
    if isinstance(first, Unknown) or isinstance(second, Unknown):
        return cst.Module([]).code_for_node(one[0]) == cst.Module([]).code_for_node(other[0])
    return first.node is second.node


def _other_images(mod: ModalModule, plans: list[AppPlan], apps: list[BuiltApp]) -> list[Finding]:
    primary = (apps[0].settings.image_expr, apps[0].settings.image_within)
    out = []
    for app, plan in zip(apps[1:], plans[1:]):
        other = (app.settings.image_expr, app.settings.image_within)
        if other[0] is not None and not _same_image(mod, primary, other):
            out.append(Finding(
                rule="FM222", severity="warning", location=Location(file=mod.path, line=plan.line),
                message=f"{app.class_name} uses another Modal image; the one Dockerfile is built from "
                        f"{apps[0].class_name}'s image, so the other image's steps are not in it",
                remediation="add the other image's packages and steps to the Dockerfile (or convert that app "
                            "separately with --entry)"))
    return out


def _extra_ops(apps: list[BuiltApp], usage: Usage, chain: ImageChain, where: Location) -> None:
    for app in apps:
        for local, remote in app.settings.copies:
            chain.ops.append(ImageOp("copy", (local, remote), where, "mounts"))
    if usage.needs_modal:
        chain.ops.append(ImageOp("pip",
                                 {"packages": [modal_requirement()], "options": [], "requirements": []},
                                 where, "modal"))
        chain.decisions.append(Decision(source="Modal used at run time by the kept code", location=where,
                                        target=f"{modal_requirement()} installed in the image (FM244)"))


def _evidence(mod: ModalModule, plans: list[AppPlan], apps: list[BuiltApp], chain: ImageChain,
              base: str | None) -> list[Finding]:
    strong, weak = evidence.image_evidence(ImageSpec(base=base), chain.packages)
    out = []
    for app, plan in zip(apps, plans):
        scope = ([plan.source_class.node] if plan.source_class is not None
                 else [h.member.node for h in plan.handlers])
        code = evidence.code_evidence(scope, lambda node: mod.location(node))
        hardware, finding = evidence.apply(app.hardware, [*strong, *code], weak, plan.class_name,
                                           Location(file=mod.path, line=plan.line))
        app.hardware = hardware
        out += [finding] if finding is not None else []
    return out


def image_for(mod: ModalModule, plans: list[AppPlan], apps: list[BuiltApp],
              usage: Usage) -> tuple[ImageSpec, list[Finding], list[Decision]]:
    """The one Dockerfile image (other apps' images → FM222), with the layout its Dockerfile needs."""
    primary = apps[0].settings
    expr, within = primary.image_expr, primary.image_within
    chain = read_chain(mod, expr, within) if expr is not None else ImageChain()
    where = mod.location(expr, within) if expr is not None else Location(file=mod.path, line=plans[0].line)
    _extra_ops(apps, usage, chain, where)
    base = next((op.value.get("ref") for op in chain.ops if op.kind == "base"), None)
    findings = _evidence(mod, plans, apps, chain, base)
    gpu = any(a.hardware.gpu for a in apps)
    env = {k: v for a in apps for k, v in a.settings.env.items()}
    image = to_image_spec(chain, gpu=gpu, env=env)
    stages = [s for op in chain.ops if op.kind == "base" for s in op.value.get("stages", [])]
    if chain.ops and expr is not None:
        name = cst.Module([]).code_for_node(expr) if isinstance(expr, cst.Name) else "image"
        methods = " → ".join(dict.fromkeys(op.method for op in chain.ops if op.method))
        chain.decisions.insert(0, Decision(source=f"Modal image `{name}` ({methods})",
                                           target="Dockerfile: the same steps in the same order",
                                           location=where))
    # secret-looking Image.env names become secrets of the app that runs the image
    apps[0].secrets = [*apps[0].secrets, *(k for k in chain.secret_env if k not in apps[0].secrets)]
    image = image.model_copy(update={**chain.render_flags, "build_stages": stages})
    return image, [*chain.findings, *findings, *_other_images(mod, plans, apps)], chain.decisions
