"""Helpers for the constant-evaluator tests: write a small project into a temp dir and load a module."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import libcst as cst
import pytest

from falmigrate.analysis import Known, ModuleContext, Project, Result, Unknown

Write = Callable[..., ModuleContext]


def write_project(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))


@pytest.fixture
def load(tmp_path: Path) -> Write:
    """``load(source, files={"config.py": ...})``: app.py written next to the other files, then loaded."""

    def load(source: str, files: dict[str, str] | None = None, *, main: bool = False) -> ModuleContext:
        write_project(tmp_path, {"app.py": source, **(files or {})})
        return Project(tmp_path).module("app.py", main=main)

    return load


def known(result: Result) -> object:
    assert isinstance(result, Known), f"expected a value, got {result}"
    return result.value


def unknown(result: Result) -> Unknown:
    assert isinstance(result, Unknown), f"expected Unknown, got {result}"
    return result


def node_of(context: ModuleContext, code: str) -> cst.CSTNode:
    """The first node of the module whose source text is ``code`` (searched in source order)."""
    found: list[cst.CSTNode] = []

    class Finder(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            if (not found and isinstance(node, cst.BaseExpression)
                    and context.module.code_for_node(node) == code):
                found.append(node)
            return not found

    context.module.visit(Finder())
    assert found, f"no node {code!r} in {context.file}"
    return found[0]
