"""Pieces both native rewrites share: finding the web-app object, dropping the ``__main__`` launch,
turning other uses of the app object into TODO markers, adding imports, and the class header."""

from __future__ import annotations

import libcst as cst

from falmigrate.spec import Finding, Location

INDENT = "    "
# fal endpoints answer POST only (``fal.endpoint`` takes no method): what a client of a GET route does now
GET_REMEDIATION = ("clients POST to the same path (query parameters as JSON body fields); "
                   "to keep GET, deploy without --native: the image-only route serves every "
                   "method as the server does")
RESERVED = {"setup", "teardown", "health", "image", "collect_routes", "lifespan", "openapi", "serve",
            "provide_hints", "handle_exit", "requirements", "machine_type"}


def finding(rule: str, message: str, path: str, line: int | None, severity: str = "info",
            remediation: str | None = None) -> Finding:
    return Finding(rule=rule, severity=severity, message=message, remediation=remediation,
                   location=Location(file=path, line=line))


def mentions(node: cst.CSTNode, names: set[str]) -> bool:
    """Whether ``node`` reads any of ``names``."""
    found = False

    class _Visitor(cst.CSTVisitor):
        def visit_Name(self, name: cst.Name) -> None:
            nonlocal found
            found = found or name.value in names

    node.visit(_Visitor())
    return found


def is_main_guard(stmt: cst.CSTNode) -> bool:
    if not isinstance(stmt, cst.If):
        return False
    test = stmt.test
    return (isinstance(test, cst.Comparison) and isinstance(test.left, cst.Name)
            and test.left.value == "__name__"
            and any(isinstance(c.comparator, cst.SimpleString) and "__main__" in c.comparator.value
                    for c in test.comparisons))


def todo(stmt: cst.CSTNode, module: cst.Module, rule: str, message: str) -> cst.SimpleStatementLine:
    """``pass`` under ``# TODO(falmigrate RULE): message`` and the original code as comments."""
    original = module.code_for_node(stmt).strip().splitlines()
    keep = list(getattr(stmt, "leading_lines", []))
    lines = [*keep, cst.EmptyLine(comment=cst.Comment(f"# TODO(falmigrate {rule}): {message}"))]
    lines += [cst.EmptyLine(comment=cst.Comment(f"#   {line}".rstrip())) for line in original]
    return cst.SimpleStatementLine(body=[cst.Pass()], leading_lines=lines)


def app_assignments(module: cst.Module, constructors: set[str]) -> dict[str, int]:
    """Module-level ``name = Constructor(...)`` → statement index."""
    out = {}
    for index, stmt in enumerate(module.body):
        if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
            continue
        node = stmt.body[0]
        if isinstance(node, cst.Assign) and isinstance(node.value, cst.Call):
            func = node.value.func
            name = func.attr.value if isinstance(func, cst.Attribute) else getattr(func, "value", None)
            if name in constructors:
                for target in node.targets:
                    if isinstance(target.target, cst.Name):
                        out[target.target.value] = index
    return out


def merged(lines: list[str]) -> list[str]:
    """``from m import a`` + ``from m import b`` → ``from m import a, b`` (order of first appearance)."""
    names: dict[str, list[str]] = {}
    out: list[str] = []
    for line in lines:
        words = line.split(maxsplit=3)
        if words[0] == "from" and " as " not in line:
            if words[1] not in names:
                out.append(words[1])
            names.setdefault(words[1], []).extend(n.strip() for n in words[3].split(","))
        else:
            out.append(line)
    return [f"from {entry} import {', '.join(dict.fromkeys(names[entry]))}" if entry in names else entry
            for entry in out]


def with_imports(module: cst.Module, lines: list[str]) -> cst.Module:
    """Insert import lines after the docstring and ``__future__`` imports (once)."""
    existing = module.code
    new = [cst.parse_statement(line + "\n") for line in lines if line not in existing.splitlines()]
    body = list(module.body)
    if new:
        new[0] = new[0].with_changes(leading_lines=[cst.EmptyLine()])
    at = 0
    while at < len(body):
        stmt = body[at]
        first = stmt.body[0] if isinstance(stmt, cst.SimpleStatementLine) else None
        is_doc = at == 0 and isinstance(first, cst.Expr) and isinstance(first.value, cst.SimpleString)
        is_future = isinstance(first, cst.ImportFrom) and getattr(first.module, "value", "") == "__future__"
        if not (is_doc or is_future):
            break
        at += 1
    return module.with_changes(body=body[:at] + new + body[at:])


def class_header(class_name: str) -> list[str]:
    """The app class line: deploy settings (image, machine, scaling, secrets) live in pyproject.toml, which
    ``fal deploy <name>`` reads; the class is only imported inside the image."""
    return [f"class {class_name}(fal.App):"]


def without_leading_blank(lines: list[str]) -> list[str]:
    """Class lines built as header + ("", member)…: no blank line between the header and its first member."""
    return [lines[0], *lines[2:]] if len(lines) > 1 and lines[1] == "" else lines


def method_name(name: str, taken: set[str]) -> str:
    candidate = name if name not in RESERVED and not name.startswith("_") else f"{name.lstrip('_')}_endpoint"
    while candidate in taken or candidate in RESERVED:
        candidate += "_"
    taken.add(candidate)
    return candidate


def drop_unused_import(module: cst.Module, name: str) -> cst.Module:
    """Remove ``name`` from ``import``/``from x import`` lines when nothing else in the module reads it."""
    body = []
    for stmt in module.body:
        others = [s for s in module.body if s is not stmt]
        used = any(mentions(s, {name}) for s in others)
        node = stmt.body[0] if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 else None
        importing = isinstance(node, cst.Import) or (isinstance(node, cst.ImportFrom)
                                                     and not isinstance(node.names, cst.ImportStar))
        if not used and importing:
            names = [a for a in node.names
                     if not (isinstance(a.name, cst.Name) and a.name.value == name and a.asname is None)]
            if len(names) != len(node.names):
                if not names:
                    continue
                names[-1] = names[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
                stmt = stmt.with_changes(body=[node.with_changes(names=names)])
        body.append(stmt)
    return module.with_changes(body=body)


def _imported_names(module: cst.Module) -> list[str]:
    names = []
    for stmt in module.body:
        node = stmt.body[0] if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 else None
        if isinstance(node, (cst.Import, cst.ImportFrom)) and not isinstance(node.names, cst.ImportStar):
            names += [a.name.value for a in node.names if isinstance(a.name, cst.Name) and a.asname is None]
    return names


def _used(module: cst.Module, name: str) -> bool:
    return any(mentions(s, {name}) for s in module.body
               if not (isinstance(s, cst.SimpleStatementLine)
                       and isinstance(s.body[0], (cst.Import, cst.ImportFrom))))


def drop_orphaned_imports(original: cst.Module, new: cst.Module) -> cst.Module:
    """Drop imports the rewrite left unused (used in ``original``, not in ``new``); others stay."""
    for name in _imported_names(new):
        if _used(original, name) and not _used(new, name):
            new = drop_unused_import(new, name)
    return new
