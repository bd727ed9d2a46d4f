"""The in-body part of the Modal rewrite: what changes inside the user's functions and classes.

Only code bound to Modal changes (``Usage`` and ``CallPlan`` say which nodes, found by binding): the
module's own ``f.remote(x)``-style calls become direct calls, ``with image.imports():`` becomes
``try/except ImportError``, ``with app.run():`` keeps its body, ``vol.commit()``/``reload()`` become a
note, and string literals under a Modal volume's mount path point at its ``/data`` path. User code is
never commented out and no placeholder values are invented: a call with no direct form keeps its text
and gets a TODO line above its statement (and an error finding).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from falmigrate.codemods.modal.calls import CallPlan, rewrite_call
from falmigrate.spec import Finding, Location


@dataclass
class CleanupState:
    path: str
    handled: set[int]  # ids of original nodes the Usage analysis marked (decorators, syncs, with-items)
    calls: CallPlan
    volumes: set[str]  # names bound to Modal volumes (their .commit()/.reload() go)
    volume_paths: dict[str, str]  # Modal mount path -> fal path
    positions: object = None
    findings: list[Finding] = field(default_factory=list)
    path_rewrites: int = 0
    notes: int = 0


def imports_try(node: cst.With) -> cst.Try:
    """``with image.imports(): body`` → ``try: body except ImportError: pass`` (the same local semantics)."""
    comment = cst.EmptyLine(comment=cst.Comment("# was `with <image>.imports():` (Modal): the "
                                                "packages are in the image"))
    return cst.Try(
        body=node.body,
        handlers=[cst.ExceptHandler(body=cst.IndentedBlock([cst.SimpleStatementLine([cst.Pass()])]),
                                    type=cst.Name("ImportError"))],
        leading_lines=[*node.leading_lines, comment],
    )


def note_line(text: str) -> cst.EmptyLine:
    return cst.EmptyLine(comment=cst.Comment(f"# falmigrate: {text}"))


class Cleanup(cst.CSTTransformer):
    """Apply to a function or class body, or a whole statement of the module."""

    def __init__(self, state: CleanupState) -> None:
        super().__init__()
        self.state = state
        self._markers: set[int] = set()  # the `pass` statements standing for dropped volume syncs

    def _line(self, node: cst.CSTNode) -> int | None:
        try:
            return self.state.positions[node].start.line  # type: ignore[index]
        except (KeyError, TypeError):
            return None

    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode):  # type: ignore[no-untyped-def]
        updated = super().on_leave(original_node, updated_node)
        todos = self.state.calls.todos.get(id(original_node))
        if todos and isinstance(updated, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            lines = [cst.EmptyLine(comment=cst.Comment(t)) for t in todos]
            return updated.with_changes(leading_lines=[*updated.leading_lines, *lines])
        return updated

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        rewrite = self.state.calls.rewrites.get(id(original))
        return rewrite_call(updated, rewrite) if rewrite is not None else updated

    def leave_With(self, original: cst.With, updated: cst.With):  # type: ignore[no-untyped-def]
        handled = [i for i, item in enumerate(original.items) if id(item) in self.state.handled]
        if not handled or not isinstance(updated.body, cst.IndentedBlock):
            return updated
        item = updated.items[handled[0]].item
        if (isinstance(item, cst.Call) and isinstance(item.func, cst.Attribute)
                and item.func.attr.value == "imports"):
            return imports_try(updated.with_changes(items=[i for n, i in enumerate(updated.items)
                                                           if n not in handled])
                               if len(updated.items) > len(handled) else updated)
        if len(updated.items) > len(handled):  # other context managers of the same `with` stay
            return updated.with_changes(items=[i for n, i in enumerate(updated.items) if n not in handled])
        header = cst.Module([]).code_for_node(updated.with_changes(body=cst.IndentedBlock([]),
                                                                   leading_lines=[]))
        note = note_line(f"`{header.strip().splitlines()[0]}` (Modal) removed; its body runs as is")
        self.state.findings.append(Finding(
            rule="FM215", severity="info", message="Modal context manager removed; its body runs as is",
            location=Location(file=self.state.path, line=self._line(original))))
        body = list(updated.body.body)
        body[0] = body[0].with_changes(leading_lines=[*updated.leading_lines, note, *body[0].leading_lines])
        return cst.FlattenSentinel(body)

    def leave_SimpleStatementLine(self, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine):  # type: ignore[no-untyped-def]
        if id(original) not in self.state.handled:
            return updated
        code = cst.Module([]).code_for_node(updated.with_changes(leading_lines=[])).strip()
        self.state.notes += 1
        marker = cst.SimpleStatementLine([cst.Pass()], leading_lines=[
            *updated.leading_lines, note_line(f"`{code}` not needed on fal (/data is shared storage)")])
        self._markers.add(id(marker))
        return marker

    def leave_IndentedBlock(self, original: cst.IndentedBlock,
                            updated: cst.IndentedBlock) -> cst.IndentedBlock:
        """A dropped volume sync leaves its note on the next statement; ``pass`` only
        where the block needs one."""
        body, carried = [], []
        for stmt in updated.body:
            if id(stmt) in self._markers and len(updated.body) > 1 and stmt is not updated.body[-1]:
                carried += list(stmt.leading_lines)
                continue
            body.append(stmt.with_changes(leading_lines=[*carried, *stmt.leading_lines]) if carried else stmt)
            carried = []
        return updated.with_changes(body=body) if len(body) != len(updated.body) else updated

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
