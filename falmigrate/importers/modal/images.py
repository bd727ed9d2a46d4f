"""Modal ``Image`` builder chains → an ordered list of image operations (``image_spec`` → ``ImageSpec``).

Real apps build images across the module and beyond it: ``img = img.pip_install(...)`` reassigned in
steps, ``def make_image(extra): return modal.Image.debian_slim().pip_install(*extra)``, an image
imported from a sibling module, tags assembled with f-strings from constants or env-var defaults. The
chain is followed by binding through the project's constant evaluator (``ModalModule.follow``), each
builder call becomes one operation in source order, and every argument is evaluated as far as Python
allows statically. What cannot be evaluated becomes an error-level finding at its file:line and a TODO
line at that exact place of the Dockerfile — never a silent generic base.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from falmigrate.analysis import Expression, Unknown
from falmigrate.importers.modal.legacy import IMAGE_BASES, mapped
from falmigrate.importers.modal.reader import ModalModule, NotLiteral
from falmigrate.spec import Decision, Finding, Location

BASE_BUILDERS = {
    "debian_slim", "micromamba", "from_registry", "from_dockerfile", "from_aws_ecr",
    "from_gcp_artifact_registry", *IMAGE_BASES,
}
MAX_CHAIN = 500  # builder calls followed in one chain (a bound on what user code can make us walk)
UNREADABLE_RULE = "FM218"


@dataclass
class ImageOp:
    # base | apt | pip | pip_requirements | run | env | workdir | copy | extra | todo | uv_sync | call
    kind: str
    value: Any
    location: Location
    method: str = ""


@dataclass
class ImageChain:
    ops: list[ImageOp] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    secret_env: list[str] = field(default_factory=list)  # Image.env names kept out of the image (fal secrets)
    render_flags: dict[str, bool] = field(default_factory=dict)  # ImageSpec layout flags the Dockerfile needs
    base_unknown: bool = False  # the base could not be read: a TODO comes first, right after FROM
    packages: list[str] = field(default_factory=list)  # every pip/apt package named (GPU evidence)

    def unreadable(self, what: str, reason: str, location: Location) -> ImageOp:
        """An error finding and the TODO op that marks the place in the Dockerfile."""
        self.findings.append(Finding(
            rule=UNREADABLE_RULE, severity="error", location=location,
            message=f"{what} cannot be evaluated statically: {reason}",
            remediation=f"write that step in the Dockerfile by hand at the TODO({UNREADABLE_RULE}) line "
                        "(the place it had in the Modal image), or make the value a "
                        "literal / module constant"))
        return ImageOp("todo", (UNREADABLE_RULE, f"{what} at {location}: {reason}"), location, "")


@dataclass
class Step:
    """One builder call being read: its arguments are evaluated where the call is (``within``)."""

    mod: ModalModule
    call: cst.Call
    within: Expression | None
    method: str
    location: Location
    chain: ImageChain

    def value(self, expr: cst.BaseExpression) -> Any:
        return self.mod.literal(expr, self.within)

    def strings(self) -> list[str]:
        """All positional string arguments, ``*args`` and lists flattened, as Modal's ``*packages`` does."""
        out: list[str] = []
        for arg in self.call.args:
            if arg.keyword is not None or arg.star == "**":
                continue
            value = self.value(arg.value)
            out.extend(str(v) for v in value) if isinstance(value, (list, tuple)) else out.append(str(value))
        return out

    def kw(self, name: str, default: Any = None) -> Any:
        for arg in self.call.args:
            if arg.keyword is not None and arg.keyword.value == name:
                return self.value(arg.value)
        return default

    def has(self, name: str) -> bool:
        return any(a.keyword is not None and a.keyword.value == name for a in self.call.args)

    def arg(self, index: int, name: str, default: Any = NotLiteral) -> Any:
        """Positional argument ``index`` or keyword ``name`` (Modal's signatures allow both)."""
        positional = [a.value for a in self.call.args if a.keyword is None and not a.star]
        if index < len(positional):
            return self.value(positional[index])
        if self.has(name):
            return self.kw(name)
        if default is NotLiteral:
            raise NotLiteral(f"Image.{self.method}() has no {name} argument", self.location)
        return default

    def note(self, rule: str, severity: str, message: str, remediation: str) -> None:
        self.chain.findings.append(Finding(rule=rule, severity=severity, location=self.location,  # type: ignore[arg-type]
                                           message=message, remediation=remediation))


def _base_op(step: Step) -> ImageOp:
    from falmigrate.importers.modal.dockerfile_base import dockerfile_base

    method, loc = IMAGE_BASES.get(step.method, step.method), step.location
    if step.method in IMAGE_BASES:
        step.chain.findings.append(mapped(f"Image.{step.method}", f"Image.{method}", loc))
    if method in ("debian_slim", "micromamba"):
        python = step.arg(0, "python_version", None)
        return ImageOp("base", {"kind": method, "python": python, "location": loc}, loc, step.method)
    add_python = step.kw("add_python")
    if method == "from_dockerfile":
        path = str(step.arg(0, "path"))
        found = dockerfile_base(step.mod, path, step.kw("context_dir"), loc, step.chain)
        return ImageOp("base", {"kind": "dockerfile", "python": add_python, "location": loc, **found},
                       loc, step.method)
    ref = step.arg(0, "tag")
    if method != "from_registry" or step.has("secret"):
        step.note("FM235", "warning",
                  f"Image.{method}({ref!r}) pulls from a private registry with a Modal secret",
                  "run `docker login` for that registry before `falmigrate build`; for `fal "
                  "deploy` of a pushed image, put the credentials in the pyproject image "
                  "table's `registries` as $SECRET references")
    return ImageOp("base", {"kind": "registry", "ref": ref, "python": add_python, "location": loc},
                   loc, step.method)


def _links(mod: ModalModule, expr: cst.BaseExpression, within: Expression | None,
           chain: ImageChain) -> list[tuple[cst.Call, Expression | None, bool]]:
    """The builder calls from the outermost back to the base (``True`` marks the base call)."""
    links: list[tuple[cst.Call, Expression | None, bool]] = []
    node: cst.BaseExpression = expr
    for _ in range(MAX_CHAIN):
        followed = mod.follow(node, within)
        if isinstance(followed, Unknown):
            where = followed.location or mod.location(node, within)
            chain.ops.append(chain.unreadable("the image", followed.reason, where))
            chain.base_unknown = True
            return links
        node, within = followed.node, followed
        if not (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)):
            code = followed.code.strip().splitlines()[0]
            chain.ops.append(chain.unreadable("the image", f"`{code}` is not a modal.Image builder chain",
                                              mod.location(node, within)))
            chain.base_unknown = True
            return links
        is_base = mod.dotted(node.func.value, within) == "modal.Image"
        links.append((node, within, is_base))
        if is_base:
            return links
        node = node.func.value
    chain.ops.append(chain.unreadable("the image", f"the chain has more than {MAX_CHAIN} steps",
                                      mod.location(expr)))
    chain.base_unknown = True
    return links


def read_chain(mod: ModalModule, expr: cst.BaseExpression | None, within: Expression | None = None,
               chain: ImageChain | None = None) -> ImageChain:
    """Follow ``expr`` (a builder chain, a name bound to one, a helper call returning one) to its base,
    and read every builder call from the base outwards, in order."""
    from falmigrate.importers.modal.image_steps import step_op

    chain = chain if chain is not None else ImageChain()
    if expr is None:
        return chain
    for call, where, is_base in reversed(_links(mod, expr, within, chain)):
        assert isinstance(call.func, cst.Attribute)
        step = Step(mod, call, where, call.func.attr.value, mod.location(call.func.attr, where), chain)
        try:
            op = _base_op(step) if is_base else step_op(step)
        except NotLiteral as exc:
            op = chain.unreadable(f"Image.{step.method}(...)", exc.reason, exc.location or step.location)
            chain.base_unknown = chain.base_unknown or is_base
        except (IndexError, AttributeError, TypeError, ValueError) as exc:
            op = chain.unreadable(f"Image.{step.method}(...)", f"unexpected arguments ({exc})", step.location)
            chain.base_unknown = chain.base_unknown or is_base
        if op is not None:
            chain.ops.append(op)
    return chain
