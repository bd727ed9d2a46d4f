"""Values the predictor writes as expressions instead of literals: ``Input(choices=list(COLORS))``,
``choices=SCHEDULERS.keys()``, ``default=DEFAULT_STEPS``, ``default=os.environ.get("MODEL", "sdxl")``,
``f"{BASE}-v2"``. Read statically, never executed.

Module-level ``NAME = <expression>`` assignments are evaluated in order (a literal, an earlier constant,
``list``/``tuple``/``sorted``/``.keys()`` of one, ``int``/``float``/``str``/``bool`` casts, ``+`` of
strings or numbers, f-strings, and environment reads with a literal default); ``from helpers import NAME``
of a project module brings that module's constant (``project_values``). An environment variable
that cog.yaml's ``environment`` sets has that value (the image sets it before the module is imported,
under cog and on fal alike); otherwise the read's literal default is the value, and every such read is
kept (``EnvRead``) so the importer can say which variable it assumed.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import libcst as cst

_CONTAINERS = {"list": list, "tuple": tuple, "sorted": sorted}
_CASTS = {"int": int, "float": float, "str": str, "bool": lambda v: str(v).strip().lower() in ("1", "true", "yes")}
_ENV_CALLS = {"os.environ.get", "environ.get", "os.getenv", "getenv"}
_ENV_MAPS = {"os.environ", "environ"}


class NotStatic(ValueError):
    """An expression whose value needs the program to run."""


@dataclass(frozen=True)
class EnvRead:
    """An environment read met while evaluating: the variable, the value used, and whether cog.yaml's
    ``environment`` set it (else the read's literal default was used)."""

    name: str
    value: Any
    from_config: bool
    node: cst.CSTNode


def literal(node: cst.BaseExpression) -> Any:
    return ast.literal_eval(cst.Module([]).code_for_node(node))


def _dotted(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    return ""


class StaticValues:
    """Module constants and the evaluation of expressions over them (see the module docstring)."""

    def __init__(self, module: cst.Module, environment: dict[str, str] | None = None, *,
                 resolve: Callable[[str, int], StaticValues | None] | None = None) -> None:
        self.environment = dict(environment or {})
        self.resolve = resolve  # (module name, relative level) → that project module's values
        self.constants: dict[str, Any] = {}
        self.constant_reads: dict[str, tuple[EnvRead, ...]] = {}
        self._read_module(module)

    def value(self, node: cst.BaseExpression) -> tuple[Any, tuple[EnvRead, ...]]:
        """The value of ``node`` and the environment reads it took; ``NotStatic`` when it has none."""
        reads: list[EnvRead] = []
        try:
            return self._eval(node, reads), tuple(reads)
        except (ValueError, SyntaxError, TypeError, KeyError) as exc:
            raise NotStatic(str(exc)) from exc

    def _read_module(self, module: cst.Module) -> None:
        for statement in module.body:
            if not isinstance(statement, cst.SimpleStatementLine):
                continue
            for small in statement.body:
                if isinstance(small, cst.ImportFrom):
                    self._import(small)
                    continue
                target = small.targets[0].target if isinstance(small, cst.Assign) and len(small.targets) == 1 \
                    else small.target if isinstance(small, cst.AnnAssign) and small.value is not None else None
                if isinstance(target, cst.Name):
                    self._assign(target.value, small.value)

    def _import(self, node: cst.ImportFrom) -> None:
        if self.resolve is None or isinstance(node.names, cst.ImportStar):
            return
        source = self.resolve(_dotted(node.module) if node.module else "", len(node.relative))
        for alias in node.names:
            name = alias.name.value if isinstance(alias.name, cst.Name) else ""
            local = alias.asname.name.value if alias.asname and isinstance(alias.asname.name, cst.Name) else name
            if source is not None and name in source.constants:
                self.constants[local] = source.constants[name]
                self.constant_reads[local] = source.constant_reads.get(name, ())
            else:
                self.constants.pop(local, None)

    def _assign(self, name: str, node: cst.BaseExpression) -> None:
        try:
            value, reads = self.value(node)
        except NotStatic:
            keys = _literal_keys(node)  # {"DDIM": DDIMScheduler, …}: the keys still count
            if keys is None:
                self.constants.pop(name, None)  # rebound to something not static
                self.constant_reads.pop(name, None)
                return
            value, reads = keys, ()
        self.constants[name] = value
        self.constant_reads[name] = reads

    def _eval(self, node: cst.BaseExpression, reads: list[EnvRead]) -> Any:
        if isinstance(node, cst.Name) and node.value in self.constants:
            reads.extend(self.constant_reads.get(node.value, ()))
            return self.constants[node.value]
        if isinstance(node, cst.Call):
            return self._call(node, reads)
        if isinstance(node, cst.Subscript) and _dotted(node.value) in _ENV_MAPS and len(node.slice) == 1 \
                and isinstance(node.slice[0].slice, cst.Index):
            return self._env(node, self._eval(node.slice[0].slice.value, reads), None, False, reads)
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
            return self._eval(node.left, reads) + self._eval(node.right, reads)
        if isinstance(node, cst.FormattedString):
            return "".join(part.value if isinstance(part, cst.FormattedStringText) else
                           format(self._eval(part.expression, reads), _spec(part)) for part in node.parts)
        return literal(node)

    def _call(self, node: cst.Call, reads: list[EnvRead]) -> Any:
        func = _dotted(node.func)
        args = [a for a in node.args if a.keyword is None and not a.star]
        if func in _ENV_CALLS and args and len(args) == len(node.args) <= 2:
            name = self._eval(args[0].value, reads)
            default = self._eval(args[1].value, reads) if len(args) == 2 else None
            return self._env(node, name, default, len(args) == 2, reads)
        if isinstance(node.func, cst.Attribute) and node.func.attr.value == "keys" and not node.args:
            value = self._eval(node.func.value, reads)
            if isinstance(value, dict):
                return list(value)
            raise ValueError("not a dict")
        if func in _CONTAINERS and len(args) == 1 == len(node.args):
            return _CONTAINERS[func](self._eval(args[0].value, reads))
        if func in _CASTS and len(args) == 1 == len(node.args):
            return _CASTS[func](self._eval(args[0].value, reads))
        raise ValueError(f"{func or 'a call'}() is not evaluated statically")

    def _env(self, node: cst.CSTNode, name: Any, default: Any, has_default: bool, reads: list[EnvRead]) -> Any:
        if not isinstance(name, str):
            raise TypeError("an environment variable named by a non-string")
        if name in self.environment:
            reads.append(EnvRead(name, self.environment[name], True, node))
            return self.environment[name]
        if not has_default:
            raise ValueError(f"${name} has no default and cog.yaml does not set it")
        reads.append(EnvRead(name, default, False, node))
        return default


def _spec(part: cst.FormattedStringExpression) -> str:
    if part.format_spec is None:
        return ""
    if all(isinstance(p, cst.FormattedStringText) for p in part.format_spec):
        return "".join(p.value for p in part.format_spec)  # type: ignore[union-attr]
    raise ValueError("a computed format spec")


def _literal_keys(node: cst.BaseExpression) -> dict[Any, None] | None:
    """A dict display whose keys are literals (values may be anything) as ``{key: None}``."""
    if not isinstance(node, cst.Dict):
        return None
    try:
        return {literal(e.key): None for e in node.elements if isinstance(e, cst.DictElement)} \
            if all(isinstance(e, cst.DictElement) for e in node.elements) else None
    except (ValueError, SyntaxError, TypeError):
        return None


def project_values(root: Path, file: str, environment: dict[str, str] | None = None,
                   module: cst.Module | None = None) -> StaticValues:
    """The values of ``root/file`` (``module`` if already parsed), following its imports of other project
    modules (next to the file, then from the root); cycles and unreadable modules give no constants."""
    cache: dict[Path, StaticValues | None] = {}

    def load(path: Path, tree: cst.Module | None = None) -> StaticValues | None:
        if path in cache:
            return cache[path]
        cache[path] = None  # an import cycle ends here
        try:
            tree = tree or cst.parse_module(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, cst.ParserSyntaxError):
            return None
        values = StaticValues(tree, environment, resolve=lambda name, level: find(path, name, level))
        cache[path] = values
        return values

    def find(importer: Path, name: str, level: int) -> StaticValues | None:
        parts = [p for p in name.split(".") if p]
        bases = [importer.parent.joinpath(*[".."] * (level - 1))] if level else [importer.parent, Path(root)]
        for base in bases:
            for candidate in (base.joinpath(*parts).with_suffix(".py") if parts else None,
                              base.joinpath(*parts, "__init__.py")):
                if candidate is not None and candidate.is_file() and Path(root).resolve() in candidate.resolve().parents:
                    return load(candidate.resolve())
        return None

    found = load((Path(root) / file).resolve(), module)
    return found if found is not None else StaticValues(module or cst.Module([]), environment)
