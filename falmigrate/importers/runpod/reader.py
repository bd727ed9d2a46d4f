"""A static model of one RunPod worker module, read with libcst (the worker is never imported).

``read_worker`` resolves how ``runpod`` is imported, finds the ``runpod.serverless.start({...})``
call wherever it sits (module level, under ``if __name__ == "__main__":``, inside a function), the
handler it names and that handler's form (sync/async/generator/async generator), how the handler
reads ``job["input"]``, ``rp_validator.validate`` calls with their schema, ``progress_update`` calls,
``{"error": ...}``/``refresh_worker`` returns and the ``concurrency_modifier``. The importer and the
codemod both use this model, so they agree on what is what.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from falmigrate.analysis.source import attribute_chain
from falmigrate.errors import SourceError

START = "runpod.serverless.start"
PROGRESS = ("runpod.serverless.progress_update", "runpod.serverless.modules.rp_progress.progress_update")
VALIDATE = ("runpod.serverless.utils.rp_validator.validate", "runpod.serverless.utils.validate")


@dataclass
class InputRead:
    """One key read from the job input: ``inp["k"]`` (no default) or ``inp.get("k", default)``."""

    key: str
    line: int
    has_default: bool = False
    default: cst.BaseExpression | None = None
    # from a parameter of a function called with ``**job["input"]``: its annotation, and whether the
    # call fails without the key (no default)
    annotation: str | None = None
    required: bool = False


@dataclass
class Handler:
    name: str
    node: cst.FunctionDef
    line: int
    kind: str  # "sync" | "async" | "generator" | "async_generator"
    job_param: str | None
    reads: list[InputRead] = field(default_factory=list)
    validate_lines: list[int] = field(default_factory=list)
    schema_names: list[str] = field(default_factory=list)
    progress_lines: list[int] = field(default_factory=list)
    error_lines: list[int] = field(default_factory=list)
    refresh_lines: list[int] = field(default_factory=list)
    uses_job_id: bool = False
    # top-level job keys read besides "input"/"id" (``job.get("s3Config")``): (key, line), first read each
    job_fields: list[tuple[str, int]] = field(default_factory=list)

    @property
    def is_async(self) -> bool:
        return self.kind in ("async", "async_generator")

    @property
    def is_stream(self) -> bool:
        return self.kind in ("generator", "async_generator")


@dataclass
class StartCall:
    node: cst.Call
    line: int
    config: dict[str, cst.BaseExpression]
    config_line: int


@dataclass
class WorkerModule:
    path: str
    source: str
    module: cst.Module
    positions: dict
    aliases: dict[str, str] = field(default_factory=dict)  # local name -> dotted origin
    functions: dict[str, cst.FunctionDef] = field(default_factory=dict)
    assignments: dict[str, cst.BaseExpression] = field(default_factory=dict)
    starts: list[StartCall] = field(default_factory=list)
    progress_lines: list[int] = field(default_factory=list)
    # every ``name = value`` / ``name["key"] = value`` in any scope, in source order: (name, line, value)
    bindings: list[tuple[str, int, cst.BaseExpression]] = field(default_factory=list)
    item_sets: list[tuple[str, str, int, cst.BaseExpression]] = field(default_factory=list)
    # names imported from the project's own modules: local name -> (module as written, attribute or None)
    local_imports: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    def line(self, node: cst.CSTNode) -> int:
        return self.positions[node].start.line

    def qualified(self, expr: cst.BaseExpression) -> str | None:
        """Dotted origin of a name/attribute chain (``rp.serverless.start`` → ``runpod.serverless.start``)."""
        chain = attribute_chain(expr)
        if chain is None:
            return None
        name, attributes = chain
        head = self.aliases.get(name.value)
        if head is None:
            return None
        return ".".join([head, *attributes])

    def is_call_to(self, node: cst.CSTNode, targets: tuple[str, ...] | str) -> bool:
        targets = (targets,) if isinstance(targets, str) else targets
        return isinstance(node, cst.Call) and self.qualified(node.func) in targets

    def config_value(self, key: str) -> cst.BaseExpression | None:
        return self.starts[0].config.get(key) if self.starts else None


def string_value(node: cst.CSTNode | None) -> str | None:
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


def _dotted(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    return node.value if isinstance(node, cst.Name) else ""


def _local(alias: cst.ImportAlias) -> str | None:
    if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
        return alias.asname.name.value
    return None


class _Imports(cst.CSTVisitor):
    def __init__(self, mod: WorkerModule) -> None:
        self.mod = mod

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            dotted = _dotted(alias.name)
            if not dotted.startswith("runpod"):
                self.mod.local_imports[_local(alias) or dotted.split(".")[0]] = (
                    dotted if alias.asname is not None else dotted.split(".")[0], None)
                continue
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self.mod.aliases[alias.asname.name.value] = dotted
            else:
                self.mod.aliases[dotted.split(".")[0]] = dotted.split(".")[0]

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if isinstance(node.names, cst.ImportStar):
            return
        base = "." * len(node.relative) + (_dotted(node.module) if node.module is not None else "")
        if not base.startswith("runpod"):
            for alias in node.names:
                name = _dotted(alias.name)
                local = _local(alias) or name
                self.mod.local_imports[local] = (base, name)
            return
        for alias in node.names:
            name = _dotted(alias.name)
            local = (alias.asname.name.value
                     if alias.asname is not None and isinstance(alias.asname.name, cst.Name) else name)
            self.mod.aliases[local] = f"{base}.{name}"


def bound_before(mod: WorkerModule, name: str, line: int) -> cst.BaseExpression | None:
    """The value last bound to ``name`` (any scope) before ``line``; else its module-level value."""
    found = [value for bound, at, value in mod.bindings if bound == name and at <= line]
    return found[-1] if found else mod.assignments.get(name)


def _config_dict(mod: WorkerModule, arg: cst.BaseExpression | None,
                 call_line: int) -> tuple[dict[str, cst.BaseExpression], int]:
    """The start config's keys. A name is followed to the dict it was bound to before the call (any
    scope: module, main guard, function), with later ``name["key"] = value`` items merged in."""
    variable = arg.value if isinstance(arg, cst.Name) else None
    if variable is not None:
        arg = bound_before(mod, variable, call_line)
    out = _dict_items(mod, arg, call_line)
    start = mod.line(arg)
    if variable is not None:
        for name, key, at, value in mod.item_sets:
            if name == variable and start <= at <= call_line:
                out[key] = value
    return out, start


def _dict_items(mod: WorkerModule, arg: cst.BaseExpression | None,
                call_line: int) -> dict[str, cst.BaseExpression]:
    """The items of a ``{...}`` or ``dict(...)`` literal."""
    out: dict[str, cst.BaseExpression] = {}
    if isinstance(arg, cst.Dict) and all(isinstance(e, cst.DictElement) for e in arg.elements):
        for element in arg.elements:
            if isinstance(element, cst.DictElement) and (key := string_value(element.key)) is not None:
                out[key] = element.value
    elif isinstance(arg, cst.Call) and _dotted(arg.func) == "dict" and all(a.keyword for a in arg.args):
        for a in arg.args:
            if a.keyword is not None:
                out[a.keyword.value] = a.value
    else:
        raise SourceError("the runpod.serverless.start argument is not a dict literal falmigrate can read",
                          file=mod.path, line=mod.line(arg) if arg is not None else call_line,
                          hint='pass {"handler": your_function} to runpod.serverless.start (a dict literal, '
                               "or a variable bound to one)")
    return out


def resolve_handler(mod: WorkerModule, expr: cst.BaseExpression,
                    line: int) -> tuple[str, str | None, str] | None:
    """Where the handler expression leads: (local name to call, project module it is imported from or
    None, function name there). Names bound to other names are followed (``entry = handler``)."""
    for _ in range(8):
        if isinstance(expr, cst.Name):
            if expr.value in mod.functions:
                return expr.value, None, expr.value
            if expr.value in mod.local_imports:
                module, attr = mod.local_imports[expr.value]
                return (expr.value, module, attr) if attr is not None else None
            nxt = bound_before(mod, expr.value, line)
            if nxt is None or nxt is expr:
                return None
            expr = nxt
        elif isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name):
            imported = mod.local_imports.get(expr.value.value)
            if imported is None or imported[1] is not None:
                return None
            return mod.module.code_for_node(expr), imported[0], expr.attr.value
        else:
            return None
    return None


class _Calls(cst.CSTVisitor):
    def __init__(self, mod: WorkerModule) -> None:
        self.mod = mod

    def visit_Call(self, node: cst.Call) -> None:
        mod = self.mod
        if mod.is_call_to(node, START):
            first = next((a.value for a in node.args if a.keyword is None), None)
            if first is None:
                first = next((a.value for a in node.args if a.keyword and a.keyword.value == "config"), None)
            config, config_line = _config_dict(mod, first, mod.line(node))
            mod.starts.append(StartCall(node=node, line=mod.line(node), config=config,
                                        config_line=config_line))
        elif mod.is_call_to(node, PROGRESS):
            mod.progress_lines.append(mod.line(node))


def _module_level(mod: WorkerModule) -> None:
    for stmt in mod.module.body:
        if isinstance(stmt, cst.FunctionDef):
            mod.functions[stmt.name.value] = stmt
        elif isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Assign):
                    for target in small.targets:
                        if isinstance(target.target, cst.Name):
                            mod.assignments[target.target.value] = small.value
                elif isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name) and small.value:
                    mod.assignments[small.target.value] = small.value


class _Bindings(cst.CSTVisitor):
    """Every ``name = value`` and ``name["key"] = value`` of the module, nested scopes included."""

    def __init__(self, mod: WorkerModule) -> None:
        self.mod = mod

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            t = target.target
            if isinstance(t, cst.Name):
                self.mod.bindings.append((t.value, self.mod.line(node), node.value))
            elif (isinstance(t, cst.Subscript) and isinstance(t.value, cst.Name) and len(t.slice) == 1
                  and isinstance(t.slice[0].slice, cst.Index)
                  and (key := string_value(t.slice[0].slice.value)) is not None):
                self.mod.item_sets.append((t.value.value, key, self.mod.line(node), node.value))

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if isinstance(node.target, cst.Name) and node.value is not None:
            self.mod.bindings.append((node.target.value, self.mod.line(node), node.value))


def parse_source(source: str, path: str) -> cst.Module:
    try:
        ast.parse(source, filename=path)  # CPython pins the line of a syntax error best
    except SyntaxError as exc:
        raise SourceError(f"cannot parse Python: {exc.msg}", file=path, line=exc.lineno, column=exc.offset,
                          hint="fix the syntax error (falmigrate reads the file without running it)") from exc
    try:
        return cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        raise SourceError(f"cannot parse Python: {exc.message}", file=path, line=exc.raw_line,
                          column=exc.raw_column + 1) from exc


def read_worker(source: str, path: str = "handler.py") -> WorkerModule:
    """Parse ``source`` (the file at ``path``, relative to the project root) into a WorkerModule."""
    module = parse_source(source, path)
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    mod = WorkerModule(path=path, source=source, module=module, positions=wrapper.resolve(PositionProvider))
    module.visit(_Imports(mod))
    _module_level(mod)
    module.visit(_Bindings(mod))
    module.visit(_Calls(mod))
    return mod


def mentions_start(source: str) -> bool:
    """Cheap text test used by ``detect`` and the file scan before parsing."""
    return "serverless" in source and "start" in source and "runpod" in source
