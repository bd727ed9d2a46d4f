"""The expression evaluator: one libcst node at a time, as far as Python allows without running anything.

Literals, containers, operators, conditionals, subscripts and attribute reads are handled here; names go
through ``resolve`` (the binding in effect, cached per module binding), calls through ``calls``, string
formatting through ``formatting`` and comprehensions through ``comprehensions``. Every node costs a step
of the shared ``Budget`` and nesting is bounded, so hostile sources end in ``Unevaluable`` quickly.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

import libcst as cst

from falmigrate.analysis import comprehensions, formatting, operators
from falmigrate.analysis.frames import Frame
from falmigrate.analysis.resolve import Resolver
from falmigrate.analysis.values import (
    MAX_DEPTH,
    OPERATION_ERRORS,
    Budget,
    DefinitionRef,
    ExternalRef,
    Missing,
    ModuleRef,
    Symbol,
    Unevaluable,
    check_size,
    fail,
    nested_items,
)

_KEYWORDS = {"True": True, "False": False, "None": None}


class Evaluator(Resolver):
    """Evaluates nodes within frames; one instance per public call (it owns the budget)."""

    def __init__(self, budget: Budget | None = None) -> None:
        super().__init__(budget or Budget())

    def eval(self, node: cst.CSTNode, frame: Frame) -> Any:
        budget = self.budget
        budget.charge()
        budget.depth += 1
        try:
            if budget.depth > MAX_DEPTH:
                fail(f"the expression is nested more than {MAX_DEPTH} levels deep", transient=True)
            handler = _HANDLERS.get(type(node))
            if handler is None:
                fail(f"{_describe(node)} is not evaluated statically")
            result = handler(self, node, frame)
            if isinstance(result, ExternalRef) and result.location is None:
                result.location = frame.context.location(node)
            return result
        except Unevaluable as error:
            if error.location is None:
                error.location = frame.context.location(node)
            raise
        except OPERATION_ERRORS as error:
            raise Unevaluable(f"evaluating this raises {type(error).__name__}: {error}",
                              frame.context.location(node)) from None
        except RecursionError:
            raise Unevaluable("the expression is nested too deeply", frame.context.location(node),
                              transient=True) from None
        finally:
            budget.depth -= 1

    def truth(self, node: cst.BaseExpression, frame: Frame) -> bool:
        return bool(self.eval(node, frame))

    def element(self, node: cst.BaseExpression, frame: Frame) -> Any:
        """A container element: one that cannot be evaluated is kept as ``Missing`` until looked at."""
        try:
            return self.eval(node, frame)
        except Unevaluable as error:
            if error.transient:
                raise
            return Missing(error.reason, error.location)

    # -- literals and containers ----------------------------------------------------------------------

    def _number(self, node: cst.Integer | cst.Float | cst.Imaginary, frame: Frame) -> Any:
        return check_size(ast.literal_eval(node.value))

    def _string(self, node: cst.SimpleString, frame: Frame) -> Any:
        return check_size(ast.literal_eval(node.value), self.budget)

    def _concatenated(self, node: cst.ConcatenatedString, frame: Frame) -> Any:
        left, right = self.eval(node.left, frame), self.eval(node.right, frame)
        if type(left) is not type(right):
            fail("str and bytes literals are concatenated")
        return check_size(left + right, self.budget)

    def _sequence(self, node: cst.Tuple | cst.List | cst.Set, frame: Frame) -> Any:
        items: list[Any] = []
        for element in node.elements:
            if isinstance(element, cst.StarredElement):
                items.extend(self.iterate(self.eval(element.value, frame)))
            else:
                items.append(self.element(element.value, frame))
        kind: Callable[[list[Any]], Any] = {cst.Tuple: tuple, cst.List: list, cst.Set: set}[type(node)]
        return check_size(kind(items), self.budget)

    def _dict(self, node: cst.Dict, frame: Frame) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for element in node.elements:
            if isinstance(element, cst.StarredDictElement):
                other = self.eval(element.value, frame)
                if not isinstance(other, dict):
                    fail("`**` of a value that is not a dict", frame.context.location(element))
                result.update(other)
            else:
                assert isinstance(element, cst.DictElement)
                result[self.eval(element.key, frame)] = self.element(element.value, frame)
        return check_size(result, self.budget)

    def iterate(self, value: Any) -> list[Any]:
        """The items a value yields when iterated (sets in sorted order, so results are deterministic)."""
        if isinstance(value, Symbol):
            value.touch()
        if isinstance(value, range) and len(value) > 10_000:
            fail(f"a range of {len(value)} items is too long to iterate statically")
        if isinstance(value, (set, frozenset)):
            items = _sorted_if_possible(value)
        elif isinstance(value, (str, bytes, list, tuple, dict, range)):
            items = list(value)
        else:
            fail(f"a {type(value).__name__} value is not iterable here")
        nested_items(items)
        self.budget.charge(len(items))
        return items

    # -- names and attributes -------------------------------------------------------------------------

    def _name(self, node: cst.Name, frame: Frame) -> Any:
        name = node.value
        if name in frame.values:
            return frame.values[name]
        if name in _KEYWORDS:
            return _KEYWORDS[name]
        return self.name_value(name, frame.context.source.start(node), frame)

    def _attribute(self, node: cst.Attribute, frame: Frame) -> Any:
        return self.attribute_of(self.eval(node.value, frame), node.attr.value)

    def attribute_of(self, receiver: Any, attribute: str) -> Any:
        if isinstance(receiver, ExternalRef):
            return self.external(f"{receiver.qualname}.{attribute}")
        if isinstance(receiver, ModuleRef):
            return self.module_attribute(receiver.context, attribute)
        if isinstance(receiver, DefinitionRef) and isinstance(receiver.node, cst.ClassDef):
            return self.class_attribute(receiver, attribute)
        if isinstance(receiver, Symbol):
            receiver.touch()
        from falmigrate.analysis.library import value_attribute

        return value_attribute(receiver, attribute)

    # -- operators ------------------------------------------------------------------------------------

    def _binary(self, node: cst.BinaryOperation, frame: Frame) -> Any:
        spine = [node]  # a + b + c + ... nests on the left: walk it without recursing
        while isinstance(spine[-1].left, cst.BinaryOperation):
            spine.append(spine[-1].left)
        value = self.eval(spine[-1].left, frame)
        for part in reversed(spine):
            self.budget.charge()
            value = operators.binary(part.operator, value, self.eval(part.right, frame), self.budget)
        return value

    def _unary(self, node: cst.UnaryOperation, frame: Frame) -> Any:
        operand = self.eval(node.expression, frame)
        if isinstance(node.operator, cst.Not):
            return not operand
        return operators.unary(node.operator, operand)

    def _boolean(self, node: cst.BooleanOperation, frame: Frame) -> Any:
        left = self.eval(node.left, frame)
        if isinstance(node.operator, cst.Or):
            return left if left else self.eval(node.right, frame)
        return self.eval(node.right, frame) if left else left

    def _comparison(self, node: cst.Comparison, frame: Frame) -> bool:
        left = self.eval(node.left, frame)
        for target in node.comparisons:
            right = self.eval(target.comparator, frame)
            if not operators.compare(target.operator, left, right):
                return False
            left = right
        return True

    def _if_expression(self, node: cst.IfExp, frame: Frame) -> Any:
        return self.eval(node.body if self.truth(node.test, frame) else node.orelse, frame)

    def _subscript(self, node: cst.Subscript, frame: Frame) -> Any:
        receiver = self.eval(node.value, frame)
        keys = [self._index(element.slice, frame) for element in node.slice]
        key: Any = keys[0] if len(keys) == 1 else tuple(keys)
        if isinstance(receiver, ExternalRef):
            return self.external_item(receiver, key, node, frame)
        if isinstance(receiver, Symbol):
            receiver.touch()
        if not isinstance(receiver, (str, bytes, list, tuple, dict, range)):
            fail(f"subscripting a {type(receiver).__name__} value is not evaluated")
        try:
            return check_size(receiver[key], self.budget)
        except KeyError:
            fail(f"key {key!r} is not in the dict")
        except IndexError:
            fail(f"index {key!r} is out of range")

    def external_item(self, receiver: ExternalRef, key: Any, node: cst.Subscript, frame: Frame) -> Any:
        """``os.environ["X"]``: a read without a default; other external subscripts are not evaluated."""
        if receiver.qualname == "os.environ":
            from falmigrate.analysis.environment import value

            return value(self, key, [], node, frame)
        fail(f"subscripting `{receiver.qualname}` is not evaluated")

    def _index(self, part: cst.BaseSlice, frame: Frame) -> Any:
        if isinstance(part, cst.Index):
            if part.star is not None:
                fail("starred subscripts are not evaluated")
            return self.eval(part.value, frame)
        bounds = [None if p is None else self.eval(p, frame) for p in (part.lower, part.upper, part.step)]  # type: ignore[attr-defined]
        return slice(*bounds)

    # -- delegated ------------------------------------------------------------------------------------

    def _call(self, node: cst.Call, frame: Frame) -> Any:
        from falmigrate.analysis.calls import call

        return call(self, node, frame)

    def _formatted(self, node: cst.FormattedString, frame: Frame) -> str:
        return formatting.formatted_string(self, node, frame)

    def _comprehension(self, node: cst.BaseComp, frame: Frame) -> Any:
        return comprehensions.evaluate(self, node, frame)


def _sorted_if_possible(items: set[Any] | frozenset[Any]) -> list[Any]:
    try:
        return sorted(items)
    except TypeError:
        return sorted(items, key=repr)


def _describe(node: cst.CSTNode) -> str:
    names = {cst.Lambda: "a lambda", cst.Await: "`await`", cst.Yield: "`yield`", cst.NamedExpr: "`:=`",
             cst.Ellipsis: "`...`"}
    return names.get(type(node), f"a {type(node).__name__} expression")


_HANDLERS: dict[type, Callable[[Evaluator, Any, Frame], Any]] = {
    cst.Integer: Evaluator._number, cst.Float: Evaluator._number, cst.Imaginary: Evaluator._number,
    cst.SimpleString: Evaluator._string, cst.ConcatenatedString: Evaluator._concatenated,
    cst.FormattedString: Evaluator._formatted,
    cst.Tuple: Evaluator._sequence, cst.List: Evaluator._sequence, cst.Set: Evaluator._sequence,
    cst.Dict: Evaluator._dict,
    cst.Name: Evaluator._name, cst.Attribute: Evaluator._attribute, cst.Subscript: Evaluator._subscript,
    cst.BinaryOperation: Evaluator._binary, cst.UnaryOperation: Evaluator._unary,
    cst.BooleanOperation: Evaluator._boolean, cst.Comparison: Evaluator._comparison,
    cst.IfExp: Evaluator._if_expression, cst.Call: Evaluator._call,
    cst.ListComp: Evaluator._comprehension, cst.SetComp: Evaluator._comprehension,
    cst.DictComp: Evaluator._comprehension, cst.GeneratorExp: Evaluator._comprehension,
}
