"""Hostile sources end in a reason, never in a huge allocation, deep recursion or an exception."""

from __future__ import annotations

from pathlib import Path

import pytest

from falmigrate.analysis import Project, values
from falmigrate.errors import SourceError
from tests.analysis.conftest import Write, known, unknown, write_project

REFUSED = [
    ("huge str repeat", '"x" * 10**12', "would make a value too large"),
    ("huge list repeat", "[0] * 10**9", "would make a value too large"),
    ("nested repeat", "[[0] * 10000] * 10000", "more than 10000 items"),
    ("huge power", "2 ** 10**10", "would make a number too large"),
    ("huge shift", "1 << 10**9", "would make a number too large"),
    ("float overflow", "10.0 ** 1000", "OverflowError"),
    ("format width", '"{:>999999999}".format(1)', "asks for more than"),
    ("fstring width", 'f"{1:>999999999}"', "asks for more than"),
    ("fstring nested width", 'f"{1:>{10**9}}"', "asks for more than"),
    ("percent width", '"%999999999s" % 1', "asks for more than"),
    ("percent star", '"%*s" % (10**9, "x")', "`*` widths"),
    ("zfill", '"a".zfill(10**9)', "longer than"),
    ("replace growth", '("a" * 1000).replace("a", "b" * 1000)', "longer than"),
    ("replace empty", '("a" * 1000).replace("", "b" * 1000)', "longer than"),
    ("join growth", '"".join(["x" * 99999] * 5)', "longer than"),
    ("format repeat", '("{0}" * 1000).format("x" * 1000)', "longer than"),
    ("range", "list(range(10**9))", "too long to iterate"),
    ("set of range", "set(range(10**7))", "too long to iterate"),
    ("comprehension items", "[x for x in range(9000) for y in range(9000)]", "more than 10000 items"),
    ("comprehension work", "[sum(range(9000)) for _ in range(9000)]", "steps"),
    ("int digits", 'int("9" * 5000)', "longer than 4300 digits"),
    ("deep nesting", "[" * 120 + "]" * 120, "nested more than"),
]


@pytest.mark.parametrize(("expression", "reason"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_large_results_are_refused_before_they_are_built(load: Write, expression: str, reason: str) -> None:
    found = unknown(load(f"VALUE = {expression}\n").evaluate_name("VALUE"))
    assert reason in found.reason
    assert found.location is not None and found.location.line == 1


def test_doubling_chains_stop_at_the_size_bound(load: Write) -> None:
    context = load('S = "ab"\n' + "S = S + S\n" * 40 + 'L = [0]\n' + "L = L + L\n" * 40 +
                   'F = "x"\n' + 'F = f"{F}{F}"\n' * 40)
    for name in ("S", "L", "F"):
        found = unknown(context.evaluate_name(name))
        assert "too large" in found.reason or "longer than" in found.reason or "more than" in found.reason


def test_long_self_extending_chains_are_a_loop(load: Write) -> None:
    source = ("PACKAGES = []\n" + "".join(f'PACKAGES += ["pkg{i}"]\n' for i in range(1000))
              + "SCHEDULERS = {}\n" + "".join(f'SCHEDULERS["s{i}"] = {i}\n' for i in range(1000))
              + 'TAG = "v"\n' + 'TAG = f"{TAG}."\n' * 1000)
    context = load(source)
    assert known(context.evaluate_name("PACKAGES")) == [f"pkg{i}" for i in range(1000)]
    assert len(known(context.evaluate_name("SCHEDULERS"))) == 1000  # type: ignore[arg-type]
    assert known(context.evaluate_name("TAG")) == "v" + "." * 1000


def test_long_chains_of_distinct_names_stop_at_the_depth_bound(load: Write) -> None:
    context = load("A0 = 1\n" + "".join(f"A{i} = A{i - 1} + 1\n" for i in range(1, 500)))
    assert known(context.evaluate_name("A20")) == 21
    assert f"nested more than {values.MAX_DEPTH} levels" in unknown(context.evaluate_name("A499")).reason


@pytest.mark.parametrize(("source", "reason"), [
    ("X = X + 1\n", "name X is not defined"),
    ("def f():\n    return f()\nX = f()\n", "nested more than"),
    ("def f(n):\n    return g(n)\ndef g(n):\n    return f(n)\nX = f(1)\n", "nested more than"),
    ("def f():\n    return X\nX = f()\n", "name X is not defined"),  # NameError in Python too
    ("def f():\n    return Y\nY = 1\nX = f()\n", None),
    ("class C:\n    A = 1\nC2 = C\nX = C2.A\n", None),
])
def test_self_references_end(load: Write, source: str, reason: str | None) -> None:
    result = load(source).evaluate_name("X")
    if reason is None:
        assert known(result) == 1
    else:
        assert reason in unknown(result).reason


def test_budget_is_per_call(load: Write) -> None:
    context = load("BIG = [sum(range(5000)) for _ in range(30)]\nSMALL = 1\n")
    assert known(context.evaluate_name("BIG")) == [12497500] * 30
    assert known(context.evaluate_name("SMALL")) == 1


def test_a_module_too_deep_to_analyse_is_a_source_error(tmp_path: Path) -> None:
    write_project(tmp_path, {"app.py": "X = " + " + ".join(["1"] * 1000) + "\n"})
    with pytest.raises(SourceError) as raised:
        Project(tmp_path).module("app.py")
    assert raised.value.exit_code == 2


def test_a_sibling_too_deep_to_analyse_is_a_reason(load: Write) -> None:
    context = load("from deep import X\nV = X\n", {"deep.py": "X = " + " + ".join(["1"] * 1000) + "\n"})
    assert "cannot be parsed" in unknown(context.evaluate_name("V")).reason


def test_large_files_are_not_read(load: Write) -> None:
    context = load("from big import X\nV = X\n", {"big.py": "X = 1\n" + "#" * values.MAX_FILE_BYTES + "\n"})
    assert "larger than" in unknown(context.evaluate_name("V")).reason
