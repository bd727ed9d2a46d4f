"""What the worker's Python code does that changes when it runs inside a fal app, read statically.

- ``argparse`` at module level: the worker parsed ``python handler.py …``'s arguments; in ``setup()``
  it would parse the fal runner's argv instead, so the rewrite parses an empty list (the parser's
  defaults) and the importer reports each call.
- Secrets: environment variables with secret names the code reads become fal secrets (names only);
  literal keys in any of the project's modules are found with ``falmigrate.analysis.secrets`` (the
  rewrite replaces them; the output never holds their values).
- Settings taken from environment variables with literal defaults (``int(os.getenv("MAX_CONCURRENCY",
  "4"))``): the default is the value used, and the finding names the variable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import libcst as cst

from falmigrate.analysis.secrets import LiteralSecret, find_literal_secrets, is_secret_name
from falmigrate.importers.runpod.reader import WorkerModule, parse_source, string_value

PARSE_METHODS = ("parse_args", "parse_known_args", "parse_intermixed_args", "parse_known_intermixed_args")
_ENV_GETS = {"os.getenv", "getenv", "os.environ.get", "environ.get"}


def _dotted(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    return node.value if isinstance(node, cst.Name) else ""


def parsers(mod: WorkerModule) -> set[str]:
    """Module-level names bound to ``argparse.ArgumentParser(...)``."""
    constructors = {name for name, (module, attr) in mod.local_imports.items()
                    if module == "argparse" and attr == "ArgumentParser"}
    constructors |= {f"{name}.ArgumentParser" for name, (module, attr) in mod.local_imports.items()
                     if module == "argparse" and attr is None}
    return {name for name, value in mod.assignments.items()
            if isinstance(value, cst.Call) and _dotted(value.func) in constructors}


def argv_parses(mod: WorkerModule) -> list[tuple[str, int]]:
    """(``parser.parse_args``, line) of every call that reads ``sys.argv`` through a module-level parser."""
    names = parsers(mod)
    found: list[tuple[str, int]] = []

    class _Visit(cst.CSTVisitor):
        def visit_Call(self, call: cst.Call) -> None:
            func = call.func
            if (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)
                    and func.value.value in names
                    and func.attr.value in PARSE_METHODS and not any(a.keyword is None for a in call.args)
                    and not any(a.keyword and a.keyword.value == "args" for a in call.args)):
                found.append((f"{func.value.value}.{func.attr.value}", mod.line(call)))

    mod.module.visit(_Visit())
    return found


@dataclass(frozen=True)
class EnvRead:
    name: str
    default: str | None
    line: int


def env_reads(mod: WorkerModule, node: cst.CSTNode | None = None) -> list[EnvRead]:
    """``os.environ.get``/``os.getenv``/``os.environ[...]`` reads in ``node`` (default: the whole module)."""
    found: list[EnvRead] = []

    class _Visit(cst.CSTVisitor):
        def visit_Call(self, call: cst.Call) -> None:
            if _dotted(call.func) in _ENV_GETS and call.args and (name := string_value(call.args[0].value)):
                default = string_value(call.args[1].value) if len(call.args) > 1 else None
                if default is None and len(call.args) > 1 and isinstance(call.args[1].value, cst.Integer):
                    default = call.args[1].value.value
                found.append(EnvRead(name, default, mod.line(call)))

        def visit_Subscript(self, sub: cst.Subscript) -> None:
            if _dotted(sub.value) in ("os.environ", "environ") and len(sub.slice) == 1 and isinstance(
                    sub.slice[0].slice, cst.Index) and (name := string_value(sub.slice[0].slice.value)):
                found.append(EnvRead(name, None, mod.line(sub)))

    (node or mod.module).visit(_Visit())
    return found


def secret_reads(mod: WorkerModule) -> list[str]:
    """Secret-named environment variables the module reads, in order of first read."""
    names: list[str] = []
    for read in env_reads(mod):
        if is_secret_name(read.name) and read.name not in names:
            names.append(read.name)
    return names


def literal_secrets(root: Path, files: list[Path]) -> dict[str, list[LiteralSecret]]:
    """Literal keys per project module (relative path → what was found; no values)."""
    out: dict[str, list[LiteralSecret]] = {}
    for path in files:
        rel = path.relative_to(root).as_posix()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        found = find_literal_secrets(parse_source(text, rel), rel)
        if found:
            out[rel] = found
    return out
