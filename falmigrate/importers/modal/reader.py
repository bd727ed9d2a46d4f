"""A static model of one Modal module, read with libcst (user code is never imported).

``read_module`` finds how ``modal`` is imported, the ``modal.App``/``Stub`` objects, module-level
assignments (images are often built in one place and passed by name), every ``@app.cls`` class with
its lifecycle/method decorators, every ``@app.function`` and every ``local_entrypoint``. The importer
and the codemod both use this model, so they agree on what is what.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from falmigrate.errors import SourceError

# Decorators that sit on methods/functions (after normalisation to "modal.<name>").
ROLE_DECORATORS = {
    "enter", "exit", "method", "fastapi_endpoint", "web_endpoint", "asgi_app", "wsgi_app",
    "web_server", "concurrent", "batched", "build", "clustered", "sessioned",
}
WEB_ROLES = ("fastapi_endpoint", "web_endpoint", "asgi_app", "wsgi_app", "web_server")


class NotLiteral(Exception):
    """An expression whose value cannot be known without running the user's code."""


@dataclass
class Call:
    """A call or bare decorator on a Modal object, e.g. ``app.cls(gpu="T4")`` → target "App.cls"."""

    target: str
    node: cst.BaseExpression
    line: int

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


@dataclass
class ModalModule:
    path: str
    module: cst.Module
    positions: Any
    modal_aliases: set[str] = field(default_factory=set)
    imported: dict[str, str] = field(default_factory=dict)
    assignments: dict[str, cst.BaseExpression] = field(default_factory=dict)
    apps: dict[str, Call] = field(default_factory=dict)
    classes: list[ModalClass] = field(default_factory=list)
    functions: list[Member] = field(default_factory=list)
    entrypoints: list[Member] = field(default_factory=list)
    root: Path | None = None  # the project root, when known (files an image step names are read from it)

    def line_of(self, node: cst.CSTNode) -> int:
        try:
            return self.positions[node].start.line
        except KeyError:
            return 0

    def dotted(self, expr: cst.BaseExpression | None) -> str | None:
        """``modal.Image.debian_slim`` / ``Image.debian_slim`` (from-import) → "modal.Image.debian_slim";
        ``app.cls`` for a known App variable → "App.cls"; other names as written."""
        parts: list[str] = []
        while isinstance(expr, cst.Attribute):
            parts.append(expr.attr.value)
            expr = expr.value
        if not isinstance(expr, cst.Name):
            return None
        head = expr.value
        if head in self.modal_aliases:
            head = "modal"
        elif head in self.imported:
            head = self.imported[head]
        elif head in self.apps:
            head = "App"
        return ".".join([head, *reversed(parts)])

    def is_modal(self, expr: cst.BaseExpression | None) -> bool:
        name = self.dotted(expr)
        return name is not None and (name == "modal" or name.startswith(("modal.", "App.")))

    def literal(self, expr: cst.BaseExpression | None, _depth: int = 0) -> Any:
        return literal_value(expr, self.assignments, _depth)


def literal_value(expr: cst.BaseExpression | None, names: dict[str, cst.BaseExpression], depth: int = 0) -> Any:
    """The Python value of a literal expression (module-level constants followed by name)."""
    if expr is None or depth > 20:
        raise NotLiteral("no value")
    if isinstance(expr, (cst.SimpleString, cst.ConcatenatedString)):
        value = expr.evaluated_value
        if isinstance(value, bytes):
            raise NotLiteral("bytes")
        return value
    if isinstance(expr, cst.Integer | cst.Float):
        return expr.evaluated_value
    if isinstance(expr, cst.Name):
        if expr.value in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[expr.value]
        if expr.value in names:
            return literal_value(names[expr.value], names, depth + 1)
        raise NotLiteral(expr.value)
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
        return -literal_value(expr.expression, names, depth + 1)
    if isinstance(expr, cst.BinaryOperation):
        left = literal_value(expr.left, names, depth + 1)
        right = literal_value(expr.right, names, depth + 1)
        ops = {cst.Multiply: lambda a, b: a * b, cst.Add: lambda a, b: a + b, cst.Subtract: lambda a, b: a - b}
        for op_type, fn in ops.items():
            if isinstance(expr.operator, op_type):
                return fn(left, right)
        raise NotLiteral("operator")
    if isinstance(expr, (cst.List, cst.Tuple, cst.Set)):
        if any(not isinstance(e, cst.Element) for e in expr.elements):
            raise NotLiteral("starred")
        return [literal_value(e.value, names, depth + 1) for e in expr.elements]
    if isinstance(expr, cst.Dict):
        out = {}
        for el in expr.elements:
            if not isinstance(el, cst.DictElement):
                raise NotLiteral("dict unpacking")
            out[literal_value(el.key, names, depth + 1)] = literal_value(el.value, names, depth + 1)
        return out
    raise NotLiteral(type(expr).__name__)


def _collect_imports(mod: ModalModule) -> None:
    for stmt in mod.module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.Import):
                for alias in small.names:
                    if cst.helpers.get_full_name_for_node(alias.name) == "modal":
                        mod.modal_aliases.add(alias.asname.name.value if alias.asname else "modal")
            elif isinstance(small, cst.ImportFrom) and small.module is not None:
                source = cst.helpers.get_full_name_for_node(small.module) or ""
                if (source == "modal" or source.startswith("modal.")) and not isinstance(small.names, cst.ImportStar):
                    for alias in small.names:
                        local = alias.asname.name.value if alias.asname else alias.name.value
                        mod.imported[local] = f"modal.{alias.name.value}"


def _collect_assignments(mod: ModalModule) -> None:
    for stmt in mod.module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.Assign) and len(small.targets) == 1:
                target = small.targets[0].target
                if isinstance(target, cst.Name):
                    mod.assignments[target.value] = small.value
                    _maybe_app(mod, target.value, small.value)
            elif isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name) and small.value is not None:
                mod.assignments[small.target.value] = small.value
                _maybe_app(mod, small.target.value, small.value)


def _maybe_app(mod: ModalModule, name: str, value: cst.BaseExpression) -> None:
    if isinstance(value, cst.Call) and mod.dotted(value.func) in ("modal.App", "modal.Stub"):
        mod.apps[name] = Call(mod.dotted(value.func) or "", value, mod.line_of(value))


def decorator_call(mod: ModalModule, dec: cst.Decorator) -> Call | None:
    expr = dec.decorator
    func = expr.func if isinstance(expr, cst.Call) else expr
    name = mod.dotted(func)
    if name is None or not (name.startswith(("modal.", "App."))):
        return None
    return Call(name, expr, mod.line_of(dec))


def _member(mod: ModalModule, node: cst.FunctionDef) -> Member:
    member = Member(node.name.value, node, mod.line_of(node))
    for dec in node.decorators:
        call = decorator_call(mod, dec)
        if call is None:
            continue
        if call.target.startswith("App."):
            member.app_call = call
        else:
            role = call.target.split(".", 1)[1]
            member.roles[role] = call
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
            if member.app_call.target == "App.function":
                mod.functions.append(member)
            elif member.app_call.target == "App.local_entrypoint":
                mod.entrypoints.append(member)


def read_module(source: str, path: str, root: Path | None = None) -> ModalModule:
    """Parse ``source`` (the file at ``path``, relative to the project ``root``) into a ModalModule."""
    try:
        ast.parse(source, filename=path)  # CPython's parser pins the line of a syntax error best
    except SyntaxError as exc:
        raise SourceError(
            f"cannot parse Python: {exc.msg}", file=path, line=exc.lineno, column=exc.offset,
            hint="fix the syntax error (falmigrate reads the file without running it)",
        ) from exc
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        raise SourceError(
            f"cannot parse Python: {exc.message}", file=path, line=exc.raw_line, column=exc.raw_column + 1,
            hint="fix the syntax error (falmigrate reads the file without running it)",
        ) from exc
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    mod = ModalModule(path=path, module=module, positions=wrapper.resolve(PositionProvider), root=root)
    _collect_imports(mod)
    _collect_assignments(mod)
    _collect_definitions(mod)
    return mod
