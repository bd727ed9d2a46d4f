"""Statement-level clean-up of Modal leftovers inside the user's code (libcst).

Once the Modal objects (App, images, volumes, secrets…) are gone from the module, any statement
still using them would break the fal app. This transformer rewrites what has a meaning on fal
(``f.remote(x)``/``f.local(x)`` → ``f(x)``, ``f.map(xs)`` → ``list(map(f, xs))``,
``with image.imports():`` → ``try/except ImportError``, volume paths → ``/data/...``) and turns every
other such statement into ``pass`` under a ``# TODO(falmigrate FM215)`` comment holding the original
code, with a Finding. Nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from falmigrate.spec import Finding, Location

CALL_ATTRS = {"remote", "local", "map", "spawn", "starmap", "for_each", "spawn_map", "remote_gen", "aio", "get"}


class _Refs(cst.CSTVisitor):
    """Names read by a node (not attribute names, keywords or parameter names)."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        node.value.visit(self)
        return False

    def visit_Arg(self, node: cst.Arg) -> bool:
        node.value.visit(self)
        return False

    def visit_Param(self, node: cst.Param) -> bool:
        if node.annotation:
            node.annotation.visit(self)
        if node.default:
            node.default.visit(self)
        return False

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False


def refs(node: cst.CSTNode) -> set[str]:
    visitor = _Refs()
    node.visit(visitor)
    return visitor.names


def _assigned_names(stmt: cst.SimpleStatementLine) -> list[str]:
    """Plain names a simple ``x = ...`` / ``x: T = ...`` statement binds (empty for anything else)."""
    if len(stmt.body) != 1:
        return []
    small = stmt.body[0]
    if isinstance(small, cst.Assign) and all(isinstance(t.target, cst.Name) for t in small.targets):
        return [t.target.value for t in small.targets]  # type: ignore[union-attr]
    if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name) and small.value is not None:
        return [small.target.value]
    return []


def todo_lines(rule: str, message: str, code: str) -> list[cst.EmptyLine]:
    lines = [cst.EmptyLine(comment=cst.Comment(f"# TODO(falmigrate {rule}): {message}"))]
    lines += [cst.EmptyLine(comment=cst.Comment(("# " + line).rstrip())) for line in code.rstrip().splitlines()]
    return lines


def commented_out(stmt: cst.BaseStatement, rule: str, message: str) -> cst.SimpleStatementLine:
    """``pass`` carrying the statement's comments, a TODO line and the original code as comments."""
    code = cst.Module([]).code_for_node(stmt.with_changes(leading_lines=[]))
    return cst.SimpleStatementLine(body=[cst.Pass()], leading_lines=[*stmt.leading_lines, *todo_lines(rule, message, code)])


def imports_try(node: cst.With) -> cst.Try:
    """``with image.imports(): body`` → ``try: body except ImportError: pass`` (the same local semantics)."""
    comment = cst.EmptyLine(comment=cst.Comment("# was `with <image>.imports():` (Modal): the packages are in the image"))
    return cst.Try(
        body=node.body,
        handlers=[cst.ExceptHandler(body=cst.IndentedBlock([cst.SimpleStatementLine([cst.Pass()])]),
                                    type=cst.Name("ImportError"))],
        leading_lines=[*node.leading_lines, comment],
    )


def is_imports_with(node: cst.With, removed: set[str]) -> bool:
    if len(node.items) != 1:
        return False
    item = node.items[0].item
    return (
        isinstance(item, cst.Call) and isinstance(item.func, cst.Attribute) and item.func.attr.value == "imports"
        and bool(refs(item.func.value) & removed)
    )


@dataclass
class CleanupState:
    removed: set[str]  # names that no longer exist (modal aliases, Modal objects)
    functions: set[str]  # Modal functions kept as plain functions
    classes: set[str]  # Modal classes (now fal.App subclasses)
    volume_paths: dict[str, str]  # Modal mount path -> fal path
    path: str
    positions: object = None
    kinds: dict[str, str] = field(default_factory=dict)
    dropped_refs: set[str] = field(default_factory=set)  # names the removed Modal code used  # removed name -> Modal object kind ("Volume"…)
    findings: list[Finding] = field(default_factory=list)
    rewrites: int = 0
    path_rewrites: int = 0


class Cleanup(cst.CSTTransformer):
    """Apply to a function or class body (or a whole compound statement)."""

    def __init__(self, state: CleanupState) -> None:
        super().__init__()
        self.state = state

    def _line(self, node: cst.CSTNode) -> int | None:
        try:
            return self.state.positions[node].start.line  # type: ignore[index]
        except (KeyError, TypeError):
            return None

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        func = updated.func
        if not (isinstance(func, cst.Attribute) and func.attr.value in ("remote", "local", "map")):
            return updated
        base = func.value
        if not (isinstance(base, cst.Name) and base.value in self.state.functions):
            return updated
        self.state.rewrites += 1
        if func.attr.value == "map":
            inner = cst.Call(func=cst.Name("map"), args=[cst.Arg(base), *updated.args])
            return cst.Call(func=cst.Name("list"), args=[cst.Arg(inner)])
        return updated.with_changes(func=base)

    def leave_With(self, original: cst.With, updated: cst.With):
        if is_imports_with(updated, self.state.removed):
            return imports_try(updated)
        stale = set().union(*(refs(i.item) for i in updated.items)) & self.state.removed
        if not stale or not isinstance(updated.body, cst.IndentedBlock):
            return updated
        # ``with app.run():`` and the like: keep the body, drop the Modal context.
        header = cst.Module([]).code_for_node(updated.with_changes(body=cst.IndentedBlock([]), leading_lines=[]))
        note = cst.EmptyLine(comment=cst.Comment(f"# falmigrate: `{header.strip().splitlines()[0]}` (Modal) removed"))
        self.state.findings.append(Finding(
            rule="FM215", severity="info", message=f"Modal context ({', '.join(sorted(stale))}) removed; its body runs as is",
            location=Location(file=self.state.path, line=self._line(original))))
        body = list(updated.body.body)
        body[0] = body[0].with_changes(leading_lines=[*updated.leading_lines, note, *body[0].leading_lines])
        return cst.FlattenSentinel(body)

    def _compound(self, original: cst.BaseStatement, updated: cst.BaseStatement, header: cst.CSTNode):
        stale = refs(header) & self.state.removed
        if not stale:
            return updated
        message = f"uses Modal objects ({', '.join(sorted(stale))}) that do not exist on fal; rewrite by hand"
        self.state.dropped_refs |= refs(updated)
        self.state.findings.append(Finding(rule="FM215", severity="warning", message=message,
                                           remediation="rewrite the block without Modal",
                                           location=Location(file=self.state.path, line=self._line(original))))
        return commented_out(updated, "FM215", message)

    def leave_If(self, original: cst.If, updated: cst.If):
        return self._compound(original, updated, updated.test)

    def leave_While(self, original: cst.While, updated: cst.While):
        return self._compound(original, updated, updated.test)

    def leave_For(self, original: cst.For, updated: cst.For):
        return self._compound(original, updated, updated.iter)

    def leave_SimpleString(self, original: cst.SimpleString, updated: cst.SimpleString) -> cst.BaseExpression:
        if not self.state.volume_paths or "b" in updated.prefix.lower():
            return updated
        try:
            value = updated.evaluated_value
        except Exception:  # noqa: BLE001 - odd escapes: leave the literal alone
            return updated
        for src, dest in sorted(self.state.volume_paths.items(), key=lambda kv: -len(kv[0])):
            if isinstance(value, str) and (value == src or value.startswith(src.rstrip("/") + "/")):
                quote = updated.value[len(updated.prefix):][0]
                new = dest + value[len(src):]
                if quote in new or "\\" in new:
                    return updated
                self.state.path_rewrites += 1
                return updated.with_changes(value=f"{updated.prefix}{quote}{new}{quote}")
        return updated

    def leave_SimpleStatementLine(self, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine):
        volume_call = self._volume_sync(updated)
        if volume_call:
            self.state.rewrites += 1
            note = cst.EmptyLine(comment=cst.Comment(f"# falmigrate: `{volume_call}` not needed on fal (/data is shared)"))
            return cst.SimpleStatementLine([cst.Pass()], leading_lines=[*updated.leading_lines, note])
        names = refs(updated)
        stale = names & self.state.removed
        remote_class = self._class_remote(updated)
        if not stale and not remote_class:
            return updated
        if stale:
            message = f"uses Modal objects ({', '.join(sorted(stale))}) that do not exist on fal; rewrite by hand"
        else:
            message = f"calls {remote_class} the Modal way (.remote()/.spawn()/...), which fal does not have; rewrite by hand"
        self.state.findings.append(Finding(
            rule="FM215", severity="warning", message=message,
            remediation="call the fal endpoint (fal_client) or the function directly",
            location=Location(file=self.state.path, line=self._line(original))))
        self.state.dropped_refs |= names
        targets = _assigned_names(updated)
        if targets:
            # Keep the names bound so later lines still work (and the module still passes ruff F).
            placeholder = cst.parse_statement(" = ".join([*targets, "None"]) + "\n")
            code = cst.Module([]).code_for_node(updated.with_changes(leading_lines=[]))
            return placeholder.with_changes(leading_lines=[*updated.leading_lines, *todo_lines("FM215", message, code)])
        return commented_out(updated, "FM215", message)

    def _volume_sync(self, stmt: cst.SimpleStatementLine) -> str | None:
        """``vol.commit()`` / ``vol.reload()`` on a Modal Volume: a no-op on fal."""
        if len(stmt.body) != 1 or not isinstance(stmt.body[0], cst.Expr):
            return None
        call = stmt.body[0].value
        if (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) and call.func.attr.value in ("commit", "reload")
                and isinstance(call.func.value, cst.Name) and self.state.kinds.get(call.func.value.value) == "Volume"):
            return f"{call.func.value.value}.{call.func.attr.value}()"
        return None

    def _class_remote(self, node: cst.CSTNode) -> str | None:
        """A converted class used the Modal way (``Model().f.remote(x)``)."""
        found: list[str] = []
        state = self.state

        class _Finder(cst.CSTVisitor):
            def visit_Attribute(self, attr: cst.Attribute) -> None:
                if attr.attr.value in CALL_ATTRS and isinstance(attr.value, cst.Attribute):
                    root = attr.value.value
                    while isinstance(root, (cst.Attribute, cst.Call)):
                        root = root.value if isinstance(root, cst.Attribute) else root.func
                    if isinstance(root, cst.Name) and root.value in state.classes:
                        found.append(root.value)
                if (attr.attr.value in CALL_ATTRS - {"remote", "local", "map", "get"} and isinstance(attr.value, cst.Name)
                        and attr.value.value in state.functions):
                    found.append(attr.value.value)

        node.visit(_Finder())
        return found[0] if found else None
