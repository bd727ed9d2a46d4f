"""Values the predictor writes as names instead of literals: ``Input(choices=list(COLORS))``,
``choices=SCHEDULERS.keys()``, ``default=DEFAULT_STEPS``. Module-level ``NAME = <literal>`` assignments
(and the literal keys of a dict whose values are not literal) are read statically, never executed.
"""

from __future__ import annotations

import ast
from typing import Any

import libcst as cst


def literal(node: cst.BaseExpression) -> Any:
    return ast.literal_eval(cst.Module([]).code_for_node(node))


def module_constants(module: cst.Module) -> dict[str, Any]:
    """Top-level ``NAME = <literal>`` assignments (``COLORS = {...}``), for ``Input(choices=list(COLORS))``."""
    found: dict[str, Any] = {}
    for statement in module.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            target = small.targets[0].target if isinstance(small, cst.Assign) and len(small.targets) == 1 \
                else small.target if isinstance(small, cst.AnnAssign) and small.value is not None else None
            if isinstance(target, cst.Name):
                try:
                    found[target.value] = literal(small.value)
                except (ValueError, SyntaxError, TypeError):
                    keys = _literal_keys(small.value)  # {"DDIM": DDIMScheduler, …}: the keys still count
                    if keys is None:
                        found.pop(target.value, None)  # rebound to something not literal
                    else:
                        found[target.value] = keys
    return found


def _literal_keys(node: cst.BaseExpression) -> dict[Any, None] | None:
    """A dict display whose keys are literals (values may be anything) as ``{key: None}``."""
    if not isinstance(node, cst.Dict):
        return None
    try:
        return {literal(e.key): None for e in node.elements if isinstance(e, cst.DictElement)} \
            if all(isinstance(e, cst.DictElement) for e in node.elements) else None
    except (ValueError, SyntaxError, TypeError):
        return None


_CONTAINERS = {"list": list, "tuple": tuple, "sorted": sorted}


def static_value(node: cst.BaseExpression, constants: dict[str, Any]) -> Any:
    """A literal, a module constant, or ``list``/``tuple``/``sorted`` of one (``.keys()`` too)."""
    if isinstance(node, cst.Name) and node.value in constants:
        return constants[node.value]
    if isinstance(node, cst.Call) and not node.args and isinstance(node.func, cst.Attribute) \
            and node.func.attr.value == "keys":
        value = static_value(node.func.value, constants)
        if isinstance(value, dict):
            return list(value)
        raise ValueError("not a dict")
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value in _CONTAINERS \
            and len(node.args) == 1 and node.args[0].keyword is None and not node.args[0].star:
        return _CONTAINERS[node.func.value](static_value(node.args[0].value, constants))
    return literal(node)
