"""Expressions without names: the evaluator must agree with Python itself (``eval`` of the same text)."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from falmigrate.analysis import Known
from tests.analysis.conftest import Write, known, unknown

LITERALS = [
    '"text"', "'single'", 'b"bytes"', 'r"raw\\n"', '"esc\\t\\u00e9"', '"""triple"""', '"a" "b" "c"',
    "42", "-7", "0x1F", "1_000_000", "3.5", "1e-3", "2j", "True", "False", "None",
    "(1, 'a', None)", "()", "(1,)", "[1, [2, [3]]]", "[]", "{'a': 1, 'b': [2]}", "{}", "{1, 2, 3}",
    "[*[1, 2], *(3,)]", "{**{'a': 1}, 'b': 2}", "(*'ab',)",
]
OPERATORS = [
    "1 + 2 * 3", "7 / 2", "7 // 2", "-7 // 2", "7 % 3", "-7 % 3", "2 ** 10", "2 ** -1", "2.5 * 4",
    "'ab' + 'cd'", "'ab' * 3", "3 * 'ab'", "[1] + [2, 3]", "[0] * 4", "(1,) * 2", "1 << 4", "256 >> 2",
    "6 & 3", "6 | 3", "6 ^ 3", "~5", "-(3 - 5)", "+4", "not 0", "not 'x'", "{'a': 1} | {'b': 2}",
    "{1, 2} | {3}", "{1, 2} & {2}", "{1, 2} - {2}", "(1 + 2) * (3 + 4)", "10 - 2 - 3", "2 ** 3 ** 2",
]
COMPARISONS = [
    "1 < 2", "2 < 1", "1 < 2 < 3", "1 < 3 < 2", "'a' == 'a'", "'a' != 'a'", "[1] == [1]", "(1, 2) < (1, 3)",
    "'x' in 'xyz'", "'q' not in 'xyz'", "1 in [1, 2]", "'k' in {'k': 1}", "None is None",
    "(1 > 2) is not None", "True is True", "1 >= 1.0", "2 <= 1",
]
BOOLEANS = [
    "0 or 'default'", "'set' or 'default'", "'' and 'x'", "'a' and 'b'", "None or [] or 'last'",
    "1 and 2 and 3", "0 or 0.0 or ''", "'a' if 1 < 2 else 'b'", "'a' if [] else 'b'",
    "('cuda' if True else 'cpu') + ':0'",
]
FSTRINGS = [
    'f"plain"', 'f"{1 + 1}"', 'f"{\'x\'!r}"', 'f"{\'é\'!a}"', 'f"{3!s}"', 'f"{3.14159:.2f}"',
    'f"{42:>6}|"', 'f"{42:<6}|"', 'f"{42:^7}|"', 'f"{42:06d}"', 'f"{255:x} {255:#o} {5:b}"',
    'f"{1234567:,}"', 'f"{0.25:.0%}"', 'f"{\'ab\':*^8}"', 'f"{3:{4}}"', 'f"{3.14159:{2}.{3}}"',
    'f"{{literal}} {1}"', 'f"a\\tb{1}\\n"', 'rf"raw\\n{1}"', 'f"{1 + 2 = }"', 'f"{\'s\'=}"',
    'f"{3.5=:.2f}"', "f'{\"nested\"}'", 'f"""multi\n{1}"""', 'f"{[1, 2]}"', 'f"{ {\'a\': 1} }"',
    'f"{None}-{True}"', '"pre-" f"{2}" "-post"',
]
FORMATS = [
    '"{} {}".format(1, "a")', '"{1}{0}".format("a", "b")', '"{name}:{tag}".format(name="img", tag=3)',
    '"{0[1]}".format([5, 6])', '"{d[k]}".format(d={"k": "v"})', '"{:>5}".format("x")',
    '"{:.{}f}".format(3.14159, 2)', '"{!r}".format("q")', '"{{}} {}".format(1)',
    '"{a}-{b}".format_map({"a": 1, "b": 2})',
    '"%s-%d" % ("a", 3)', '"%05.1f" % 3.14159', '"%(k)s" % {"k": "v"}', '"%s" % "single"', '"100%%" % ()',
    '"%r %x" % ("q", 255)', 'b"%s" % b"x"',
]
STR_METHODS = [
    '"-".join(["a", "b", "c"])', '"".join("abc")', '"Ab".upper()', '"Ab".lower()', '"  x ".strip()',
    '"xxaxx".strip("x")', '"  x ".lstrip()', '"  x ".rstrip()', '"a.b.c".replace(".", "/")',
    '"a.b.c".replace(".", "", 1)', '"a,b,,c".split(",")', '"a b  c".split()', '"a,b,c".split(",", 1)',
    '"a,b,c".rsplit(",", 1)', '"model.ckpt".endswith(".ckpt")', '"model".startswith(("x", "m"))',
    '"v1.2".removeprefix("v")', '"name.py".removesuffix(".py")', '"hello world".title()',
    '"x".capitalize()', '"a\\nb".splitlines()', '"k=v".partition("=")', '"abc".find("c")',
    '"aXbX".count("X")', '"12".isdigit()', '"7".zfill(3)', '"x".ljust(3, ".")', '"x".center(5, "*")',
    '"é".encode()', 'b"abc".decode()', '"abc".index("b")', '"x y".rpartition(" ")',
]
BUILTINS = [
    'int("7200")', 'int("ff", 16)', "int(3.9)", "int()", 'float("1.5")', "float(2)", "str(3)", "str()",
    'str(b"x", "ascii")', "str([1, 'a'])", "bool('')", "bool([0])", "list('ab')", "list((1, 2))",
    "tuple([1, 2])", "sorted([3, 1, 2])", "sorted('cab', reverse=True)", "len('abc')", "len({'a': 1})",
    "min(3, 1, 2)", "max([3, 1, 2])", "min([], default=0)", "sum([1, 2, 3])", "sum([1, 2], 10)", "abs(-3)",
    "round(2.567, 1)", "round(2.5)", "list(range(3))", "list(range(1, 10, 3))", "list(enumerate('ab'))",
    "list(enumerate('ab', 1))", "list(zip('ab', [1, 2]))", "list(reversed([1, 2, 3]))", "any([0, 1])",
    "all([1, 0])", "repr('x')", "dict(a=1, b=2)", "dict([('a', 1)])", "dict({'a': 1}, b=2)",
    "set('aab') == {'a', 'b'}", "frozenset([1]) == frozenset({1})", "ord('a')", "chr(97)",
    "len(range(5))",
]
CONTAINERS = [
    "[1, 2, 3][0]", "[1, 2, 3][-1]", "[1, 2, 3][1:]", "[1, 2, 3][::-1]", "'abcdef'[1:4]", "'abcdef'[::2]",
    "(1, 2, 3)[:2]", "{'a': 1}['a']", "{(1, 2): 'p'}[1, 2]", "{'a': 1}.get('a')", "{'a': 1}.get('z')",
    "{'a': 1}.get('z', 0)", "list({'a': 1, 'b': 2}.keys())", "list({'a': 1}.values())",
    "list({'a': 1}.items())", "{'a': 1}.copy()", "[1, 2, 2].count(2)", "(1, 2).index(2)",
    "[x * 2 for x in [1, 2, 3]]", "[x for x in range(10) if x % 3 == 0]",
    "[(i, c) for i in range(2) for c in 'ab']", "{k: v for k, v in [('a', 1), ('b', 2)]}",
    "{x % 2 for x in range(5)}", "list(x.upper() for x in 'ab')", "'-'.join(str(i) for i in range(3))",
    "[[y for y in range(x)] for x in range(3)]", "sorted({'b': 1, 'a': 2})",
    "[a + b for a, b in zip('ab', 'cd')]",
]


def _evaluate(load: Write, expression: str) -> object:
    context = load(f"VALUE = {expression}\n")
    return known(context.evaluate_name("VALUE"))


@pytest.mark.parametrize("expression", LITERALS + OPERATORS + COMPARISONS + BOOLEANS)
def test_literals_and_operators_match_python(load: Write, expression: str) -> None:
    expected = eval(expression)  # our own test expressions
    value = _evaluate(load, expression)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("expression", FSTRINGS + FORMATS + STR_METHODS)
def test_strings_match_python(load: Write, expression: str) -> None:
    expected = eval(expression)
    value = _evaluate(load, expression)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("expression", BUILTINS + CONTAINERS)
def test_builtins_and_containers_match_python(load: Write, expression: str) -> None:
    expected = eval(expression)
    value = _evaluate(load, expression)
    if isinstance(expected, set | frozenset):
        assert value == expected
    else:
        assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(("expression", "expected"), [
    ('Path("/models") / "sd" / "v1.5"', PurePosixPath("/models/sd/v1.5")),
    ('str(Path("/data", "weights") / "unet")', "/data/weights/unet"),
    ('Path("/a/b/model.safetensors").name', "model.safetensors"),
    ('Path("/a/b/model.safetensors").stem', "model"),
    ('Path("/a/b/model.safetensors").suffix', ".safetensors"),
    ('str(Path("/a/b/c").parent)', "/a/b"),
    ('Path("/a").joinpath("b", "c").as_posix()', "/a/b/c"),
    ('str(Path("/a/x.txt").with_suffix(".json"))', "/a/x.json"),
    ('f"{Path(\'/cache\') / \'hf\'}"', "/cache/hf"),
    ('os.path.join("/data", "models", "x.bin")', "/data/models/x.bin"),
    ('os.path.basename("/a/b.txt")', "b.txt"),
    ('os.path.dirname("/a/b.txt")', "/a"),
    ('os.path.splitext("m.tar.gz")', ("m.tar", ".gz")),
    ('os.sep.join(["a", "b"])', "a/b"),
    ("Path('/x').parts", ("/", "x")),
])
def test_paths_are_posix(load: Write, expression: str, expected: object) -> None:
    context = load(f"import os\nfrom pathlib import Path\nVALUE = {expression}\n")
    assert known(context.evaluate_name("VALUE")) == expected


@pytest.mark.parametrize(("expression", "reason"), [
    ("1 / 0", "division by zero"),
    ("1 % 0", "division by zero"),
    ("'a' + 1", "`+` is not defined between str and int"),
    ("[1][5]", "index 5 is out of range"),
    ("{'a': 1}['b']", "key 'b' is not in the dict"),
    ("int('x')", "ValueError"),
    ("'x'.frobnicate()", "method frobnicate() is not evaluated"),
    ("lambda: 1", "a lambda is not evaluated"),
    ("'{0.real}'.format(1)", "reads an attribute"),
    ("'{}'.format()", "no argument"),
    ("'%d' % 'x'", "TypeError"),
    ("sorted([2, 1], key=abs)", "sorted(key=...)"),
    ("len(5)", "TypeError"),
    ("[1, 2] @ [3]", "`@` operator"),
    ("'a' is 'a'", "`is` between values"),
    ("open('x')", "calling `open()`"),
    ("(x := 3)", "`:=` is not evaluated"),
    ("...", "`...` is not evaluated"),
])
def test_errors_become_reasons_with_lines(load: Write, expression: str, reason: str) -> None:
    context = load(f"import os\n\n\nVALUE = {expression}\n")
    found = unknown(context.evaluate_name("VALUE"))
    assert reason in found.reason
    assert found.location is not None and (found.location.file, found.location.line) == ("app.py", 4)


def test_result_is_a_private_copy(load: Write) -> None:
    context = load("VALUE = [[1], {'a': [2]}]\n")
    first = context.evaluate_name("VALUE")
    assert isinstance(first, Known)
    first.value[0].append(99)
    first.value[1]["a"].clear()
    assert known(context.evaluate_name("VALUE")) == [[1], {"a": [2]}]
