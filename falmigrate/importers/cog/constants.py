"""Values the predictor writes as expressions instead of literals — ``Input(choices=list(COLORS))``,
``choices=SCHEDULERS.keys()``, ``default=DEFAULT_STEPS``, ``default=os.environ.get("MODEL", "sdxl")``,
``f"{BASE}-v2"``, constants imported from the project's own modules — evaluated statically by the shared
constant evaluator (``falmigrate.analysis``; never executed).

cog-specific on top: a variable cog.yaml's ``environment`` sets has that value (the image sets it before
the module is imported, under cog and on fal alike), so the module is evaluated as if its first statement
set them; every environment read met is kept (``EnvRead``: the variable, the value used, whether cog.yaml
set it, where it is read) so the importer can say which variable it assumed.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import libcst as cst

from falmigrate.analysis import Known, Project
from falmigrate.spec import Location

_ENVIRON_ALIAS = "_falmigrate_environ_os"


class NotStatic(ValueError):
    """An expression whose value needs the program to run."""


@dataclass(frozen=True)
class EnvRead:
    """An environment read met while evaluating: the variable, the value used, and whether cog.yaml's
    ``environment`` set it (else the read's literal default was used)."""

    name: str
    value: Any
    from_config: bool
    location: Location | None


def literal(node: cst.BaseExpression) -> Any:
    return ast.literal_eval(cst.Module([]).code_for_node(node))


def _with_environment(module: cst.Module, environment: dict[str, str]) -> cst.Module:
    """``module`` with cog.yaml's environment set by a first statement (its other nodes are kept, so a node
    of ``module`` can be evaluated in either)."""
    prelude = cst.parse_statement(f"import os as {_ENVIRON_ALIAS}; "
                                  f"{_ENVIRON_ALIAS}.environ.update({dict(sorted(environment.items()))!r})\n")
    return module.with_changes(body=[prelude, *module.body])


class StaticValues:
    """The values of expressions of one module of a cog project (see the module docstring)."""

    def __init__(self, root: Path, file: str, module: cst.Module,
                 environment: dict[str, str] | None = None) -> None:
        self.environment = dict(environment or {})
        self.plain = Project(root).adopt(module, file)
        self.configured = Project(root).adopt(_with_environment(module, self.environment), file) \
            if self.environment else self.plain

    def value(self, node: cst.BaseExpression) -> tuple[Any, tuple[EnvRead, ...]]:
        """The value of ``node`` (a node of the module) and the environment reads it took; ``NotStatic``
        with the evaluator's reason when it has none."""
        reads = tuple(EnvRead(r.name, self.environment.get(r.name, r.default), r.name in self.environment,
                              r.location) for r in self.plain.evaluate(node).env_reads)
        result = self.configured.evaluate(node)
        if not isinstance(result, Known):
            raise NotStatic(result.reason)
        return result.value, reads
