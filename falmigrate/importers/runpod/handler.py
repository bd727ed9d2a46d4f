"""What a RunPod handler function does with its job, read statically.

The handler's form (sync, async, generator, async generator) decides the fal endpoint's shape; the
keys it reads from ``job["input"]`` (directly, through a variable, or through the validated input of
``rp_validator.validate``) become request fields when there is no schema; ``{"error": ...}`` and
``refresh_worker`` returns and ``progress_update`` calls become findings.
"""

from __future__ import annotations

import libcst as cst

from falmigrate.importers.runpod.reader import (
    PROGRESS,
    VALIDATE,
    Handler,
    InputRead,
    WorkerModule,
    string_value,
)


def _own_nodes(fn: cst.FunctionDef) -> list[cst.CSTNode]:
    """Every node of ``fn``'s body that belongs to ``fn`` itself (not to nested defs/lambdas/classes)."""
    out: list[cst.CSTNode] = []

    class _Walk(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            if node is not fn.body and isinstance(node, (cst.FunctionDef, cst.Lambda, cst.ClassDef)):
                return False
            out.append(node)
            return True

    fn.body.visit(_Walk())
    return out


def handler_kind(fn: cst.FunctionDef) -> str:
    nodes = _own_nodes(fn)
    is_gen = any(isinstance(n, cst.Yield) for n in nodes)
    if fn.asynchronous is not None:
        return "async_generator" if is_gen else "async"
    return "generator" if is_gen else "sync"


def _subscript_key(node: cst.Subscript) -> str | None:
    if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index):
        return None
    return string_value(node.slice[0].slice.value)


def _is_name(node: cst.CSTNode, names: set[str]) -> bool:
    return isinstance(node, cst.Name) and node.value in names


def _is_job_input(node: cst.CSTNode, job: str | None, inputs: set[str]) -> bool:
    """``job["input"]``, ``job.get("input"[, default])`` or a variable holding the input."""
    if _is_name(node, inputs):
        return True
    if job is None:
        return False
    if isinstance(node, cst.Subscript) and _is_name(node.value, {job}):
        return _subscript_key(node) == "input"
    if (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "get"
            and _is_name(node.func.value, {job}) and node.args):
        return string_value(node.args[0].value) == "input"
    return False


def _bound_names(target: cst.BaseExpression) -> list[str]:
    return [target.value] if isinstance(target, cst.Name) else []


def _assign_pairs(nodes: list[cst.CSTNode]) -> list[tuple[str, cst.BaseExpression]]:
    pairs = []
    for n in nodes:
        if isinstance(n, cst.Assign):
            for t in n.targets:
                pairs += [(name, n.value) for name in _bound_names(t.target)]
        elif isinstance(n, (cst.AnnAssign, cst.NamedExpr)) and n.value is not None:
            pairs += [(name, n.value) for name in _bound_names(n.target)]
    return pairs


def _track_inputs(mod: WorkerModule, h: Handler, nodes: list[cst.CSTNode]) -> tuple[set[str], set[str]]:
    """Variables holding the job input, and variables holding a ``validate(...)`` result."""
    inputs: set[str] = set()
    results: set[str] = set()
    pairs = _assign_pairs(nodes)
    changed = True
    while changed:
        changed = False
        for name, value in pairs:
            if name not in inputs and _is_job_input(value, h.job_param, inputs):
                inputs.add(name)
                changed = True
            elif name not in results and mod.is_call_to(value, VALIDATE):
                results.add(name)
                changed = True
            elif (name not in inputs and isinstance(value, cst.Subscript) and _is_name(value.value, results)
                  and _subscript_key(value) == "validated_input"):
                inputs.add(name)
                changed = True
    return inputs, results


def _reads(mod: WorkerModule, h: Handler, nodes: list[cst.CSTNode], inputs: set[str]) -> list[InputRead]:
    reads: dict[str, InputRead] = {}
    for n in nodes:
        read = None
        if isinstance(n, cst.Subscript) and _is_job_input(n.value, h.job_param, inputs):
            key = _subscript_key(n)
            read = InputRead(key, mod.line(n)) if key is not None else None
        elif (isinstance(n, cst.Call) and isinstance(n.func, cst.Attribute) and n.func.attr.value == "get"
              and _is_job_input(n.func.value, h.job_param, inputs) and n.args):
            key = string_value(n.args[0].value)
            if key is not None:
                default = n.args[1].value if len(n.args) > 1 else None
                read = InputRead(key, mod.line(n), has_default=len(n.args) > 1, default=default)
        if read is None or (read.key == "input" and h.job_param and not inputs):
            continue
        known = reads.get(read.key)
        if known is None or (read.has_default and not known.has_default):
            reads[read.key] = read
    return sorted(reads.values(), key=lambda r: (r.line, r.key))


def _dict_keys(node: cst.CSTNode | None) -> set[str]:
    if not isinstance(node, cst.Dict):
        return set()
    return {k for e in node.elements if isinstance(e, cst.DictElement) and (k := string_value(e.key))}


def _positional_params(fn: cst.FunctionDef) -> list[str]:
    return [p.name.value for p in (*fn.params.posonly_params, *fn.params.params)]


def _helper_reads(mod: WorkerModule, nodes: list[cst.CSTNode], job: str | None, inputs: set[str],
                  seen: set[str]) -> list[InputRead]:
    """Keys read by the module's own functions the input is passed to (``return work(job["input"])``)."""
    out: list[InputRead] = []
    for n in nodes:
        if not (isinstance(n, cst.Call) and isinstance(n.func, cst.Name) and n.func.value in mod.functions
                and n.func.value not in seen):
            continue
        callee = mod.functions[n.func.value]
        params = _positional_params(callee)
        for index, arg in enumerate(n.args):
            if arg.star == "**" and _is_job_input(arg.value, job, inputs):
                out += _splat_reads(mod, callee)
                continue
            if arg.star or not _is_job_input(arg.value, job, inputs):
                continue
            param = (arg.keyword.value if arg.keyword is not None
                     else (params[index] if index < len(params) else None))
            if param is None:
                continue
            seen.add(n.func.value)
            inner = Handler(name=callee.name.value, node=callee, line=mod.line(callee),
                            kind="sync", job_param=None)
            inner_nodes = _own_nodes(callee)
            inner_inputs, _ = _track_inputs(mod, inner, inner_nodes)
            inner_inputs.add(param)
            out += _reads(mod, inner, inner_nodes, inner_inputs)
            out += _helper_reads(mod, inner_nodes, None, inner_inputs, seen)
    return out


def _splat_reads(mod: WorkerModule, fn: cst.FunctionDef) -> list[InputRead]:
    """``fn(**job["input"])``: each named parameter of ``fn`` is a key (``**kwargs`` takes the rest)."""
    out = []
    for param in (*fn.params.params, *fn.params.kwonly_params):
        annotation = mod.module.code_for_node(param.annotation.annotation) if param.annotation else None
        out.append(InputRead(param.name.value, mod.line(param), has_default=param.default is not None,
                             default=param.default, annotation=annotation, required=param.default is None))
    return out


def _merge(reads: list[InputRead]) -> list[InputRead]:
    merged: dict[str, InputRead] = {}
    for read in reads:
        known = merged.get(read.key)
        if known is None or (read.has_default and not known.has_default):
            merged[read.key] = read
    return sorted(merged.values(), key=lambda r: r.line)  # stable: same-line keys keep source order


def _job_key(node: cst.CSTNode, job: str) -> str | None:
    """``job["k"]`` / ``job.get("k"[, d])`` → ``"k"``."""
    if isinstance(node, cst.Subscript) and _is_name(node.value, {job}):
        return _subscript_key(node)
    if (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "get"
            and _is_name(node.func.value, {job}) and node.args):
        return string_value(node.args[0].value)
    return None


def _job_fields(mod: WorkerModule, fn: cst.FunctionDef, job: str | None,
                depth: int = 0) -> list[tuple[str, int]]:
    """Top-level job keys other than input/id read by ``fn`` or by the module
    functions it hands the job to."""
    if job is None:
        return []
    out: list[tuple[str, int]] = []
    for n in _own_nodes(fn):
        key = _job_key(n, job)
        if key is not None and key not in ("input", "id"):
            out.append((key, mod.line(n)))
        if (depth < 2 and isinstance(n, cst.Call) and isinstance(n.func, cst.Name)
                and n.func.value in mod.functions
                and mod.functions[n.func.value] is not fn):
            callee = mod.functions[n.func.value]
            params = _positional_params(callee)
            for index, arg in enumerate(n.args):
                if not arg.keyword and not arg.star and _is_name(arg.value, {job}) and index < len(params):
                    out += _job_fields(mod, callee, params[index], depth + 1)
    seen: dict[str, int] = {}
    for key, line in out:
        seen.setdefault(key, line)
    return list(seen.items())


def analyse_handler(mod: WorkerModule, fn: cst.FunctionDef) -> Handler:
    params = _positional_params(fn)
    h = Handler(name=fn.name.value, node=fn, line=mod.line(fn), kind=handler_kind(fn),
                job_param=params[0] if params else None)
    nodes = _own_nodes(fn)
    inputs, _ = _track_inputs(mod, h, nodes)
    h.reads = _merge(_reads(mod, h, nodes, inputs) + _helper_reads(mod, nodes, h.job_param, inputs, {h.name}))
    h.job_fields = _job_fields(mod, fn, h.job_param)
    for n in nodes:
        if mod.is_call_to(n, VALIDATE):
            h.validate_lines.append(mod.line(n))
            schema = n.args[1].value if len(n.args) > 1 else None
            if isinstance(schema, cst.Name):
                h.schema_names.append(schema.value)
            elif schema is not None:
                h.schema_names.append("")
        elif mod.is_call_to(n, PROGRESS):
            h.progress_lines.append(mod.line(n))
        elif isinstance(n, (cst.Return, cst.Yield)):
            keys = _dict_keys(n.value)
            if "error" in keys:
                h.error_lines.append(mod.line(n))
            if "refresh_worker" in keys:
                h.refresh_lines.append(mod.line(n))
        elif (isinstance(n, cst.Subscript) and h.job_param and _is_name(n.value, {h.job_param})
              and _subscript_key(n) == "id"):
            h.uses_job_id = True
    return h
