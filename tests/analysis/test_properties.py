"""Property tests: random literals round-trip; random expressions agree with Python's own ``eval``; random
module shapes never make the evaluator raise."""

from __future__ import annotations

import math
import warnings
from typing import Any

import libcst as cst
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from falmigrate.analysis import Known, ModuleContext, Unknown

pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")
ROOT = "/nonexistent-project-root"
SETTINGS = settings(max_examples=150, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _context(source: str) -> ModuleContext:
    return ModuleContext.from_module(cst.parse_module(source), f"{ROOT}/app.py", ROOT)


hashable = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=8) | st.binary(max_size=4)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3),
    max_leaves=6,
)
literals = st.recursive(
    hashable,
    lambda inner: (st.lists(inner, max_size=4) | st.tuples(inner)
                   | st.dictionaries(hashable, inner, max_size=3))
    | st.sets(hashable, max_size=3),
    max_leaves=12,
)


def _same(left: Any, right: Any) -> bool:
    if type(left) is not type(right):
        return False
    if isinstance(left, float):
        return left == right and math.copysign(1, left) == math.copysign(1, right)
    if isinstance(left, list | tuple):
        return len(left) == len(right) and all(_same(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, dict):
        return list(left) == list(right) and all(_same(left[k], right[k]) for k in left)
    return bool(left == right)


@SETTINGS
@given(literals)
def test_literals_round_trip(value: Any) -> None:
    result = _context(f"VALUE = {value!r}\n").evaluate_name("VALUE")
    assert isinstance(result, Known), result
    assert _same(result.value, value)


def _binary(left: st.SearchStrategy[str], right: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    ops = st.sampled_from(["+", "-", "*", "//", "%", "<", "==", "!=", ">=", " and ", " or ", " in "])
    return st.builds(lambda a, op, b: f"({a}{op}{b})", left, ops, right)


atoms = (st.integers(-20, 20).map(str)
         | st.sampled_from(["'ab'", "''", "'x-y'", "[1, 2]", "()", "None", "True", "2.5", "[]", "{'k': 1}",
                            "(1, 'a')"]))
expressions = st.recursive(
    atoms,
    lambda inner: _binary(inner, inner)
    | st.builds(lambda a, b, c: f"({a} if {b} else {c})", inner, inner, inner)
    | st.builds(lambda a: f"(not {a})", inner)
    | st.builds(lambda a: f"(-{a})", inner)
    | st.builds(lambda a, spec: f'f"<{{{a}{spec}}}>"', inner, st.sampled_from(["", "!r", "!s", ":>4", ":^5"]))
    | st.builds(lambda a: f"len({a})", inner)
    | st.builds(lambda a: f"str({a})", inner)
    | st.builds(lambda a: f"sorted({a})", inner)
    | st.builds(lambda a, b: f"{a}[{b}]", inner, inner)
    | st.builds(lambda a: f"[x for x in {a}]", inner)
    | st.builds(lambda a, b: f'"{{}}-{{}}".format({a}, {b})', inner, inner),
    max_leaves=8,
)


@SETTINGS
@given(expressions)
def test_expressions_agree_with_python(expression: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            code = compile(expression, "<expression>", "eval")
        except SyntaxError:  # nested same-quote f-strings: newer grammar than this Python reads
            assume(False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = eval(code, {})  # generated from the grammar above only
    except Exception:  # noqa: BLE001 - Python itself raises: the evaluator must say it cannot evaluate it
        expected = Unknown
    result = _context(f"VALUE = {expression}\n").evaluate_name("VALUE")
    if expected is Unknown:
        assert isinstance(result, Unknown), (expression, result)
        assert result.location is not None and result.location.line == 1
    else:
        assert isinstance(result, Known), (expression, result)
        assert _same(result.value, expected), (expression, result.value, expected)


statements = st.sampled_from([
    "A = 1", "A = A + 1", "B = [A, A]", "B += [3]", "B.append(A)", "C = {'k': B}", "C['j'] = A",
    "if A > 1:\n    A = 0", "if os.getenv('X'):\n    D = 1\nelse:\n    D = 2", "D = os.environ.get('D', 'd')",
    "try:\n    import torch\n    E = 1\nexcept ImportError:\n    E = 2", "for i in range(3):\n    F = i",
    "def f(x, y=A):\n    z = x + y\n    return z", "E = f(A)", "F = f(*B)", "G = f", "del A",
    "class K:\n    A = 5\n    B = A * 2", "H = K.B", "I = [f(x) for x in range(3)]", "J = f'{A}-{D}'",
    "with open('x') as W:\n    A = 9", "A, B = B", "K = lambda: 1", "L = sys.argv", "import sys",
    "def g():\n    return g()", "M = g()", "N = undefined_name", "O = 'a'.upper().lower()", "P = {**C}",
    "Q = (yield)", "R = A if B else C", "S = not D", "global A", "async def h():\n    return 1",
])
NAMES = "ABCDEFGHIJKLMNOPQRS"


@SETTINGS
@given(st.lists(statements, min_size=1, max_size=12))
def test_random_modules_never_raise(lines: list[str]) -> None:
    source = "import os\n" + "\n".join(lines) + "\n"
    try:
        context = _context(source)
    except cst.ParserSyntaxError:
        return
    for name in NAMES:
        result = context.evaluate_name(name)
        assert isinstance(result, Known | Unknown)
        if isinstance(result, Unknown):
            assert result.reason and "evaluator failed" not in result.reason
        context.binding(name)
    for statement in context.module.body:
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                value = getattr(small, "value", None)
                if isinstance(value, cst.BaseExpression):
                    assert isinstance(context.evaluate(value), Known | Unknown)
                    context.expression_of(value)
