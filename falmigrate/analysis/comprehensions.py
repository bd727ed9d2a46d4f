"""List, set and dict comprehensions (and generator expressions, materialised as lists) over iterables
the evaluator can compute. The loop variables live in a new frame; the number of items produced is
bounded like any other container.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import libcst as cst

from falmigrate.analysis.values import MAX_ITEMS, check_size, fail

if TYPE_CHECKING:
    from falmigrate.analysis.evaluator import Evaluator
    from falmigrate.analysis.frames import Frame


def evaluate(evaluator: Evaluator, node: cst.BaseComp, frame: Frame) -> Any:
    produced: list[Any] = []
    _run(evaluator, node, node.for_in, frame, produced)
    if isinstance(node, cst.DictComp):
        return check_size(dict(produced), evaluator.budget)
    if isinstance(node, cst.SetComp):
        return check_size(set(produced), evaluator.budget)
    return check_size(produced, evaluator.budget)


def _run(evaluator: Evaluator, node: cst.BaseComp, clause: cst.CompFor, frame: Frame,
         produced: list[Any]) -> None:
    if clause.asynchronous is not None:
        fail("`async for` comprehensions are not evaluated")
    for item in evaluator.iterate(evaluator.eval(clause.iter, frame)):
        evaluator.budget.charge()
        inner = frame.with_values(bind_target(evaluator, clause.target, item))
        if not all(evaluator.truth(condition.test, inner) for condition in clause.ifs):
            continue
        if clause.inner_for_in is not None:
            _run(evaluator, node, clause.inner_for_in, inner, produced)
        elif isinstance(node, cst.DictComp):
            produced.append((evaluator.eval(node.key, inner), evaluator.element(node.value, inner)))
        else:
            produced.append(evaluator.element(node.elt, inner))  # type: ignore[attr-defined]
        if len(produced) > MAX_ITEMS:
            fail(f"the comprehension would produce more than {MAX_ITEMS} items")


def bind_target(evaluator: Evaluator, target: cst.BaseExpression, item: Any) -> dict[str, Any]:
    """The names a loop target binds for one item: ``x``, ``k, v``, ``(i, (a, b))``."""
    if isinstance(target, cst.Name):
        return {target.value: item}
    if isinstance(target, (cst.Tuple, cst.List)):
        if any(isinstance(element, cst.StarredElement) for element in target.elements):
            fail("`*` in a comprehension target is not evaluated")
        items = evaluator.iterate(item)
        if len(items) != len(target.elements):
            fail(f"unpacking {len(items)} values into {len(target.elements)} names")
        bound: dict[str, Any] = {}
        for element, value in zip(target.elements, items, strict=True):
            bound.update(bind_target(evaluator, element.value, value))
        return bound
    fail("only names and tuples of names are evaluated as comprehension targets")
