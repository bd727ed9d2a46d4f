"""Small rewrites of the worker module for life inside a fal app (libcst; everything else kept).

FM326: ``parser.parse_args()`` on a module-level ``argparse`` parser reads the process's argv, which in
``setup()`` is the fal runner's; it parses an empty list instead (the parser's defaults), under a TODO
marker. FM313: string literals naming RunPod's network volume (``/runpod-volume/...``) name fal's
persistent storage (``/data/...``) instead.
"""

from __future__ import annotations

import libcst as cst

from falmigrate.importers.runpod.codescan import PARSE_METHODS

VOLUME = "/runpod-volume"
DATA = "/data"


def _comment(rule: str, text: str) -> cst.EmptyLine:
    return cst.EmptyLine(comment=cst.Comment(f"# TODO(falmigrate {rule}): {text}"))


class _EmptyArgv(cst.CSTTransformer):
    def __init__(self, parsers: set[str]) -> None:
        super().__init__()
        self.parsers = parsers
        self.marks = 0

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        func = original.func
        if (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)
                and func.value.value in self.parsers
                and func.attr.value in PARSE_METHODS and all(a.keyword is not None for a in original.args)
                and not any(a.keyword and a.keyword.value == "args" for a in original.args)):
            self.marks += 1
            return updated.with_changes(args=[cst.Arg(cst.List([])), *updated.args])
        return updated

    def leave_SimpleStatementLine(self, original: cst.SimpleStatementLine,
                                  updated: cst.SimpleStatementLine) -> cst.SimpleStatementLine:
        if not self.marks:
            return updated
        self.marks = 0
        note = _comment("FM326",
                        "parses an empty argument list (the defaults): argv is the fal runner's here")
        return updated.with_changes(leading_lines=[*updated.leading_lines, note])


def empty_argv(module: cst.Module, parsers: set[str]) -> cst.Module:
    """Every no-argument parse of a module-level parser parses ``[]`` instead."""
    return module.visit(_EmptyArgv(parsers)) if parsers else module


class _Volume(cst.CSTTransformer):
    def leave_SimpleString(self, original: cst.SimpleString, updated: cst.SimpleString) -> cst.SimpleString:
        value = original.evaluated_value
        if not isinstance(value, str) or not (value == VOLUME or value.startswith(VOLUME + "/")):
            return updated
        return updated.with_changes(value=updated.value.replace(VOLUME, DATA, 1))

    def leave_FormattedStringText(self, original: cst.FormattedStringText,
                                  updated: cst.FormattedStringText) -> cst.FormattedStringText:
        if original.value == VOLUME or original.value.startswith(VOLUME + "/"):
            return updated.with_changes(value=DATA + original.value[len(VOLUME):])
        return updated


def volume_paths(module: cst.Module) -> cst.Module:
    """String literals that start with RunPod's volume path start with fal's /data instead."""
    return module.visit(_Volume()) if VOLUME in module.code else module
