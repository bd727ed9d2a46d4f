"""Python's operators on plain values, with the result sizes checked *before* anything large is built
(``"x" * 10**12``, ``2 ** 10**10`` and ``1 << 10**9`` are refused, not computed).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import libcst as cst

from falmigrate.analysis.values import (
    MAX_INT_BITS,
    MAX_ITEMS,
    MAX_STRING,
    Budget,
    Missing,
    Symbol,
    check_size,
    fail,
    nested_items,
)

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    cst.Add: operator.add, cst.Subtract: operator.sub, cst.Multiply: operator.mul,
    cst.Divide: operator.truediv, cst.FloorDivide: operator.floordiv, cst.Modulo: operator.mod,
    cst.Power: operator.pow, cst.LeftShift: operator.lshift, cst.RightShift: operator.rshift,
    cst.BitAnd: operator.and_, cst.BitOr: operator.or_, cst.BitXor: operator.xor,
}
_AUGMENTED: dict[type, type] = {
    cst.AddAssign: cst.Add, cst.SubtractAssign: cst.Subtract, cst.MultiplyAssign: cst.Multiply,
    cst.DivideAssign: cst.Divide, cst.FloorDivideAssign: cst.FloorDivide, cst.ModuloAssign: cst.Modulo,
    cst.PowerAssign: cst.Power, cst.LeftShiftAssign: cst.LeftShift, cst.RightShiftAssign: cst.RightShift,
    cst.BitAndAssign: cst.BitAnd, cst.BitOrAssign: cst.BitOr, cst.BitXorAssign: cst.BitXor,
}
_UNARY: dict[type, Callable[[Any], Any]] = {
    cst.Minus: operator.neg, cst.Plus: operator.pos, cst.BitInvert: operator.invert,
}
_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    cst.Equal: operator.eq, cst.NotEqual: operator.ne, cst.LessThan: operator.lt,
    cst.LessThanEqual: operator.le, cst.GreaterThan: operator.gt, cst.GreaterThanEqual: operator.ge,
    cst.In: lambda left, right: left in right, cst.NotIn: lambda left, right: left not in right,
}
_SEQUENCES = (str, bytes, list, tuple)


def _plain(value: Any) -> Any:
    if isinstance(value, Symbol):
        value.touch()
    return value


def binary(op: cst.BaseBinaryOp, left: Any, right: Any, budget: Budget) -> Any:
    """``left <op> right`` as Python computes it, refused when the result would be too large."""
    _plain(left)
    _plain(right)
    kind = type(op)
    if kind is cst.Modulo and isinstance(left, (str, bytes)):
        from falmigrate.analysis.formatting import percent

        return percent(left, right, budget)
    if kind is cst.Multiply:
        _check_repeat(left, right)
    elif kind is cst.Power:
        _check_power(left, right)
    elif kind is cst.LeftShift and isinstance(right, int) and right > MAX_INT_BITS:
        fail(f"shifting by {right} bits would make a number too large")
    function = _BINARY.get(kind)
    if function is None:
        fail("the `@` operator is not evaluated")
    try:
        result = function(left, right)
    except ZeroDivisionError:
        fail("division by zero")
    except TypeError:
        fail(f"`{_symbol(op)}` is not defined between {type(left).__name__} and {type(right).__name__}")
    return check_size(result, budget)


def augmented(op: cst.BaseAugOp, left: Any, right: Any, budget: Budget) -> Any:
    """``left <op>= right``; a list extended by ``+=`` takes any iterable, like ``list.__iadd__``."""
    base = _AUGMENTED[type(op)]
    if base is cst.Add and isinstance(left, list) and isinstance(right, (tuple, set, frozenset, dict, str)):
        right = list(right)
    return binary(base(), left, right, budget)


def unary(op: cst.BaseUnaryOp, operand: Any) -> Any:
    _plain(operand)
    if not isinstance(operand, (int, float, complex)):
        fail(f"`{_symbol(op)}` of a {type(operand).__name__} value")
    return _UNARY[type(op)](operand)


def compare(op: cst.BaseCompOp, left: Any, right: Any) -> bool:
    """One comparison; ``is``/``is not`` only against None/True/False (other identities are not fixed)."""
    if isinstance(op, (cst.Is, cst.IsNot)):
        same = _identical(left, right)
        return same if isinstance(op, cst.Is) else not same
    _plain(left)
    _plain(right)
    if isinstance(op, (cst.In, cst.NotIn)) and not isinstance(right, (str, bytes, list, tuple, dict, set,
                                                                        frozenset, range)):
        fail(f"`in` a {type(right).__name__} value")
    return bool(_COMPARE[type(op)](left, right))


def _identical(left: Any, right: Any) -> bool:
    for this, other in ((left, right), (right, left)):
        if isinstance(this, Missing) and this.unset_env and other is None:
            return True  # os.environ.get("X") is None: the read without a default gives None
    for value in (left, right):
        if value is None or isinstance(value, bool):
            _plain(left)
            _plain(right)
            return left is right
    fail("`is` between values other than None, True and False is not evaluated")


def _check_repeat(left: Any, right: Any) -> None:
    for sequence, count in ((left, right), (right, left)):
        if isinstance(sequence, _SEQUENCES) and isinstance(count, int) and count > 0:
            limit = MAX_STRING if isinstance(sequence, (str, bytes)) else MAX_ITEMS
            if len(sequence) * count > limit:
                fail(f"repeating {len(sequence)} items {count} times would make a value too large")
            if isinstance(sequence, (list, tuple)) and nested_items(sequence) * count > MAX_ITEMS:
                fail(f"repeating {len(sequence)} items {count} times would make a value too large")


def _check_power(base: Any, exponent: Any) -> None:
    growing = isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1
    if growing and exponent * abs(base).bit_length() > MAX_INT_BITS:
        fail(f"{base} ** {exponent} would make a number too large")


def _symbol(op: cst.CSTNode) -> str:
    return cst.Module([]).code_for_node(op).strip() if not isinstance(op, cst.BaseUnaryOp) else \
        {cst.Minus: "-", cst.Plus: "+", cst.BitInvert: "~"}.get(type(op), "not")
