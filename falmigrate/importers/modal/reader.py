"""A static model of one Modal module, read with libcst (user code is never imported).

``read_module`` finds the ``modal.App``/``Stub`` objects the module's decorators are bound to (also
when the App is imported from a sibling module), every ``@app.cls`` class with its lifecycle/method
decorators, every ``@app.function`` and every ``local_entrypoint``. Names are resolved by *binding*
through the project's constant evaluator (``falmigrate.analysis``): ``modal.X`` means a name bound
by ``import modal`` / ``from modal import X``, ``App.x`` a name bound to a ``modal.App(...)``; a user's
own variable called ``app`` or ``image`` is neither. The importer and the codemod both use this model,
so they agree on what is what.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from falmigrate.analysis import EnvRead, Expression, Known, ModuleContext, Project, Unknown
from falmigrate.analysis.bindings import Binding
from falmigrate.analysis.source import attribute_chain
from falmigrate.errors import SourceError
from falmigrate.importers.modal.legacy import APP_DECORATORS
from falmigrate.spec import Location

# Decorators that sit on methods/functions (after normalisation to "modal.<name>").
ROLE_DECORATORS = {
    "enter", "exit", "method", "fastapi_endpoint", "web_endpoint", "asgi_app", "wsgi_app",
    "web_server", "concurrent", "batched", "build", "clustered", "sessioned",
}
WEB_ROLES = ("fastapi_endpoint", "web_endpoint", "asgi_app", "wsgi_app", "web_server")
APP_CONSTRUCTORS = ("modal.App", "modal.Stub")


class NotLiteral(Exception):
    """An expression whose value cannot be known without running the user's code."""

    def __init__(self, reason: str, location: Location | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.location = location


@dataclass
class Call:
    """A call or bare decorator on a Modal object, e.g. ``app.cls(gpu="T4")`` → target "App.cls".

    ``within`` is where its arguments are evaluated: None for this module's own code, an
    ``Expression`` for a call in another module (an App imported from a sibling) or in a helper.
    """

    target: str
    node: cst.BaseExpression
    line: int
    within: Expression | None = None

    @property
    def args(self) -> list[cst.Arg]:
        return list(self.node.args) if isinstance(self.node, cst.Call) else []

    def kw(self, name: str) -> cst.BaseExpression | None:
        for arg in self.args:
            if arg.keyword is not None and arg.keyword.value == name:
                return arg.value
        return None

    def positional(self, index: int = 0) -> cst.BaseExpression | None:
        pos = [a.value for a in self.args if a.keyword is None and not a.star]
        return pos[index] if index < len(pos) else None

    def keywords(self) -> list[str]:
        return [a.keyword.value for a in self.args if a.keyword is not None]


@dataclass
class Member:
    """A method of an ``@app.cls`` class, or a module-level ``@app.function``."""

    name: str
    node: cst.FunctionDef
    line: int
    roles: dict[str, Call] = field(default_factory=dict)
    app_call: Call | None = None

    @property
    def is_async(self) -> bool:
        return self.node.asynchronous is not None

    @property
    def web_role(self) -> str | None:
        return next((r for r in WEB_ROLES if r in self.roles), None)


@dataclass
class ModalClass:
    name: str
    node: cst.ClassDef
    line: int
    app_call: Call
    class_roles: dict[str, Call] = field(default_factory=dict)
    members: list[Member] = field(default_factory=list)
    parameters: list[tuple[str, int]] = field(default_factory=list)

    def with_role(self, role: str) -> list[Member]:
        return [m for m in self.members if role in m.roles]

    def member(self, name: str) -> Member | None:
        return next((m for m in self.members if m.name == name), None)


@dataclass
class ModalModule:
    path: str
    module: cst.Module
    positions: Any
    ctx: ModuleContext
    wrapper: Any = None  # libcst MetadataWrapper over ``module`` (scope and parent metadata for the rewrite)
    root: Path | None = None  # the project root (files an image step names are read from it)
    apps: dict[str, Call] = field(default_factory=dict)  # local name -> its modal.App(...) call
    classes: list[ModalClass] = field(default_factory=list)
    functions: list[Member] = field(default_factory=list)
    entrypoints: list[Member] = field(default_factory=list)
    env_reads: dict[tuple[str, str], EnvRead] = field(default_factory=dict)  # every read a value used
    _heads: dict[tuple[int, int], str] = field(default_factory=dict)

    def line_of(self, node: cst.CSTNode) -> int:
        try:
            return self.positions[node].start.line
        except KeyError:
            return 0

    def location(self, node: cst.CSTNode | None, within: Expression | None = None) -> Location:
        """Where ``node`` is (file relative to the project root); nodes of other modules need ``within``."""
        context = within.context if within is not None else self.ctx
        return context.location(node)

    # -- names ----------------------------------------------------------------------------------

    def dotted(self, expr: cst.BaseExpression | None, within: Expression | None = None) -> str | None:
        """``modal.Image.debian_slim`` / ``Image.debian_slim`` (bound by ``from modal import Image``) →
        "modal.Image.debian_slim"; ``app.cls`` for a name bound to an App → "App.cls"; other names as
        written."""
        chain = attribute_chain(expr)
        if chain is None:
            return None
        head, attributes = chain
        return ".".join([self._head(head, within), *attributes])

    def _head(self, name: cst.Name, within: Expression | None) -> str:
        key = (id(name), id(within))
        if key not in self._heads:
            context = within.context if within is not None else self.ctx
            found = context.binding(name.value, at=name, within=within)
            self._heads[key] = head_of(found, name.value)
        return self._heads[key]

    def is_modal(self, expr: cst.BaseExpression | None, within: Expression | None = None) -> bool:
        name = self.dotted(expr, within)
        return name is not None and (name == "modal" or name.startswith(("modal.", "App.")) or name == "App")

    def follow(self, expr: cst.BaseExpression, within: Expression | None = None) -> Expression | Unknown:
        """The expression a name, ``module.NAME`` or helper call stands for (not evaluated)."""
        context = within.context if within is not None else self.ctx
        return context.expression_of(expr, within=within)

    def origin(self, expr: cst.BaseExpression, within: Expression | None = None) -> str | None:
        """The Modal constructor an object expression comes from: ``vol`` bound to
        ``modal.Volume.from_name(...)`` → "modal.Volume.from_name"; ``img.pip_install(...)`` on an image
        → "modal.Image.<base>"; None for anything that is not a Modal object."""
        for _ in range(64):
            followed = self.follow(expr, within)
            if isinstance(followed, Unknown):
                return None
            expr, within = followed.node, followed
            name = self.dotted(expr.func if isinstance(expr, cst.Call) else expr, within)
            if name is not None and name.startswith("modal."):
                return name
            if not (isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute)):
                return None
            expr = expr.func.value  # a method called on an object: where that object comes from
        return None

    # -- values ---------------------------------------------------------------------------------

    def literal(self, expr: cst.BaseExpression | None, within: Expression | None = None) -> Any:
        """The value of ``expr`` (constants, f-strings, env-var defaults, helpers…) or ``NotLiteral``."""
        if expr is None:
            raise NotLiteral("no value")
        context = within.context if within is not None else self.ctx
        result = context.evaluate(expr, within=within)
        for read in result.env_reads:
            self.env_reads.setdefault((read.name, str(read.location)), read)
        if isinstance(result, Unknown):
            raise NotLiteral(result.reason, result.location or self.location(expr, within))
        return plain(result)


def plain(result: Known) -> Any:
    """A Known value with paths as strings (``pathlib.Path`` values evaluate to PurePosixPath)."""
    def convert(value: Any) -> Any:
        if isinstance(value, PurePosixPath):
            return str(value)
        if isinstance(value, (list, tuple)):
            return [convert(v) for v in value]
        if isinstance(value, dict):
            return {convert(k): convert(v) for k, v in value.items()}
        return value
    return convert(result.value)


def before_changes(binding: Binding | Unknown) -> Binding | Unknown:
    """The binding a name had before in-place changes (``app.cache = ...``, ``x += ...``) touched it."""
    for _ in range(64):
        if isinstance(binding, Unknown) or binding.kind not in ("mutation", "augassign"):
            return binding
        binding = binding.context.binding(binding.name, at=binding.node)
    return binding


def head_of(binding: Binding | Unknown, written: str) -> str:
    """What a name's binding makes it: "modal[.X]", "App", or the name as written."""
    binding = before_changes(binding)
    if isinstance(binding, Unknown):
        return written
    if binding.kind == "import" and binding.module is not None:
        module = binding.module
        if module.split(".")[0] != "modal":
            return written
        return f"{module}.{binding.attribute}" if binding.attribute else "modal"
    if binding.kind == "assign" and isinstance(binding.value, cst.Call):
        func = binding.value.func
        parts: list[str] = []
        while isinstance(func, cst.Attribute):
            parts.append(func.attr.value)
            func = func.value
        if isinstance(func, cst.Name):
            inner = binding.context.binding(func.value, at=binding.value)
            dotted = ".".join([head_of(inner, func.value), *reversed(parts)])
            if dotted in APP_CONSTRUCTORS:
                return "App"
    return written


def app_call_of(mod: ModalModule, name: cst.Name, *, at_end: bool = False) -> Call | None:
    """The ``modal.App(...)`` call a name is bound to (also through imports of sibling modules);
    ``at_end``: the binding once the module has run (for the name an assignment binds)."""
    found = before_changes(mod.ctx.binding(name.value, at=None if at_end else name))
    if isinstance(found, Unknown) or found.kind != "assign" or not isinstance(found.value, cst.Call):
        return None
    if head_of(found, name.value) != "App":
        return None
    within = Expression(found.value, found.context, position=found.context.source.start(found.node))
    target = "modal.Stub" if _func_name(found.value) == "Stub" else "modal.App"
    return Call(target, found.value, found.context.location(found.value).line or 0, within)


def _func_name(call: cst.Call) -> str:
    func = call.func
    return (func.attr.value if isinstance(func, cst.Attribute) else func.value
            if isinstance(func, cst.Name) else "")


def decorator_call(mod: ModalModule, dec: cst.Decorator) -> Call | None:
    expr = dec.decorator
    func = expr.func if isinstance(expr, cst.Call) else expr
    name = mod.dotted(func)
    if name is None or not name.startswith(("modal.", "App.")):
        return None
    if name.startswith("App."):
        _note_app(mod, func)
    return Call(name, expr, mod.line_of(dec))


def _note_app(mod: ModalModule, func: cst.BaseExpression) -> None:
    while isinstance(func, cst.Attribute):
        func = func.value
    if isinstance(func, cst.Name) and func.value not in mod.apps:
        call = app_call_of(mod, func)
        if call is not None:
            mod.apps[func.value] = call


def _member(mod: ModalModule, node: cst.FunctionDef) -> Member:
    member = Member(node.name.value, node, mod.line_of(node))
    for dec in node.decorators:
        call = decorator_call(mod, dec)
        if call is None:
            continue
        if call.target.startswith("App."):
            member.app_call = call
            legacy_role = APP_DECORATORS.get(call.target.split(".", 1)[1])
            if legacy_role:  # @stub.webhook / @stub.asgi / @stub.wsgi: a function with a web role
                member.roles[legacy_role] = call
        elif call.target.count(".") == 1:
            member.roles[call.target.split(".", 1)[1]] = call
    return member


def _read_class(mod: ModalModule, node: cst.ClassDef, app_call: Call, roles: dict[str, Call]) -> ModalClass:
    cls = ModalClass(node.name.value, node, mod.line_of(node), app_call, roles)
    for stmt in node.body.body:
        if isinstance(stmt, cst.FunctionDef):
            cls.members.append(_member(mod, stmt))
        elif isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if (
                    isinstance(small, cst.AnnAssign)
                    and isinstance(small.value, cst.Call)
                    and mod.dotted(small.value.func) == "modal.parameter"
                    and isinstance(small.target, cst.Name)
                ):
                    cls.parameters.append((small.target.value, mod.line_of(stmt)))
    return cls


def _collect_definitions(mod: ModalModule) -> None:
    for stmt in mod.module.body:
        if isinstance(stmt, cst.ClassDef):
            calls = [c for c in (decorator_call(mod, d) for d in stmt.decorators) if c is not None]
            app_call = next((c for c in calls if c.target == "App.cls"), None)
            if app_call is not None:
                roles = {c.target.split(".", 1)[1]: c for c in calls if c.target.startswith("modal.")}
                mod.classes.append(_read_class(mod, stmt, app_call, roles))
        elif isinstance(stmt, cst.FunctionDef):
            member = _member(mod, stmt)
            if member.app_call is None:
                continue
            if member.app_call.target == "App.local_entrypoint":
                mod.entrypoints.append(member)
            elif member.app_call.target.split(".", 1)[1] in ("function", *APP_DECORATORS):
                mod.functions.append(member)


def _collect_apps(mod: ModalModule) -> None:
    """Module-level names bound to an App here, even when no decorator uses them (yet)."""
    for stmt in mod.module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            targets = ([t.target for t in small.targets] if isinstance(small, cst.Assign)
                       else [small.target]
                       if isinstance(small, cst.AnnAssign) and small.value is not None else [])
            for target in targets:
                if isinstance(target, cst.Name) and target.value not in mod.apps:
                    call = app_call_of(mod, target, at_end=True)
                    if call is not None:
                        mod.apps[target.value] = call


def parse(source: str, path: str) -> cst.Module:
    """``source`` as a libcst module; a syntax error is a SourceError at its file:line."""
    try:
        ast.parse(source, filename=path)  # CPython's parser pins the line of a syntax error best
    except SyntaxError as exc:
        raise SourceError(
            f"cannot parse Python: {exc.msg}", file=path, line=exc.lineno, column=exc.offset,
            hint="fix the syntax error (falmigrate reads the file without running it)",
        ) from exc
    try:
        return cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        raise SourceError(
            f"cannot parse Python: {exc.message}", file=path, line=exc.raw_line, column=exc.raw_column + 1,
            hint="fix the syntax error (falmigrate reads the file without running it)",
        ) from exc


def read_module(source: str, path: str, root: Path | None = None,
                project: Project | None = None) -> ModalModule:
    """Parse ``source`` (the file at ``path``, relative to the project ``root``) into a ModalModule."""
    module = parse(source, path)
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    positions = wrapper.resolve(PositionProvider)
    base = Path(root) if root is not None else Path(".")
    project = project or Project(base)
    ctx = project.adopt(module, path)
    mod = ModalModule(path=path, module=module, positions=positions, ctx=ctx, wrapper=wrapper, root=root)
    _collect_apps(mod)
    _collect_definitions(mod)
    return mod
