"""Helper functions: evaluated through their return expression; followed lazily for callers that walk
expressions themselves (``expression_of`` / ``expand_call`` / ``binding``)."""

from __future__ import annotations

import libcst as cst
import pytest

from falmigrate.analysis import Expression, Known, Unknown
from tests.analysis.conftest import Write, known, node_of, unknown

HELPERS = [
    ("positional", "def tag(v):\n    return v + '-devel'\nV = tag('12.4')\n", "12.4-devel"),
    ("keyword and default", ("def tag(v, os='ubuntu22.04', kind='devel'):\n    return f'{v}-{kind}-{os}'\n"
     "V = tag('12.4', kind='runtime')\n"), "12.4-runtime-ubuntu22.04"),
    ("locals", ("def tag(v):\n    base = 'nvidia/cuda'\n    full = f'{base}:{v}'\n    return full.lower()\n"
     "V = tag('12.4')\n"), "nvidia/cuda:12.4"),
    ("reassigned local", "def f(x):\n    x = x * 2\n    x += 1\n    return x\nV = f(3)\n", 7),
    ("if in body",
     "def dev(gpu):\n    if gpu:\n        return 'cuda'\n    return 'cpu'\nV = (dev(True), dev(None))\n",
     ("cuda", "cpu")),
    ("elif/else", ("def size(n):\n    if n < 10:\n        s = 'small'\n    elif n < 100:\n        s = 'mid'\n"
     "    else:\n        s = 'big'\n    return s\nV = [size(1), size(50), size(500)]\n"),
     ["small", "mid", "big"]),
    ("no return", "def f():\n    x = 1\nV = f()\n", None),
    ("bare return", "def f():\n    return\nV = f()\n", None),
    ("star args", "def join(*parts, sep='-'):\n    return sep.join(parts)\nV = join('a', 'b', sep='+')\n",
     "a+b"),
    ("kwargs", "def kw(**options):\n    return sorted(options)\nV = kw(b=1, a=2)\n", ["a", "b"]),
    ("keyword-only", "def f(a, *, b=2):\n    return a * b\nV = f(3, b=4)\n", 12),
    ("positional-only", "def f(a, /, b):\n    return a - b\nV = f(5, 2)\n", 3),
    ("call with star", "ARGS = ('x', 'y')\ndef pair(a, b):\n    return a + b\nV = pair(*ARGS)\n", "xy"),
    ("call with double star", "OPTS = {'b': 'B'}\ndef f(a, b):\n    return a + b\nV = f('A', **OPTS)\n",
     "AB"),
    ("nested helpers", "def a(x):\n    return x + 1\ndef b(x):\n    return a(x) * 2\nV = b(3)\n", 8),
    ("globals at call site", "SUFFIX = '-a'\ndef f(x):\n    return x + SUFFIX\nV = f('v')\nSUFFIX = '-b'\n",
     "v-a"),
    ("default bound at def", "D = 'first'\ndef f(x=D):\n    return x\nD = 'second'\nV = f()\n", "first"),
    ("lru_cache", "import functools\n@functools.lru_cache(maxsize=None)\ndef f():\n    return 5\nV = f()\n",
     5),
    ("cache", "from functools import cache\n@cache\ndef f():\n    return 6\nV = f()\n", 6),
    ("in comprehension", "def up(x):\n    return x.upper()\nV = [up(m) for m in ('a', 'b')]\n", ["A", "B"]),
    ("docstring", "def f():\n    '''Doc.'''\n    return 1\nV = f()\n", 1),
    ("unused unknown argument", "import torch\ndef f(a, b):\n    return a\nV = f(1, torch.x())\n", 1),
    ("recursion base case",
     "def f(n):\n    if n <= 0:\n        return 0\n    return n + f(n - 1)\nV = f(5)\n", 15),
]


@pytest.mark.parametrize(("source", "expected"), [c[1:] for c in HELPERS], ids=[c[0] for c in HELPERS])
def test_helper_calls(load: Write, source: str, expected: object) -> None:
    assert known(load(source).evaluate_name("V")) == expected


REFUSED = [
    ("loop", "def f():\n    for i in range(3):\n        pass\n    return 1\nV = f()\n",
     "has a `for` statement", 2),
    ("decorated", "import x\n@x.wrap\ndef f():\n    return 1\nV = f()\n", "is decorated", 3),
    ("async", "async def f():\n    return 1\nV = f()\n", "is async", 1),
    ("generator", "def f():\n    yield 1\nV = f()\n", "is a generator", 1),
    ("missing argument", "def f(a):\n    return a\nV = f()\n", "called without its parameter a", 3),
    ("too many", "def f(a):\n    return a\nV = f(1, 2)\n", "takes 1 positional arguments but 2", 3),
    ("unknown keyword", "def f(a):\n    return a\nV = f(a=1, b=2)\n", "has no parameter b", 3),
    ("twice", "def f(a):\n    return a\nV = f(1, a=2)\n", "gets two values for a", 3),
    ("deep recursion", "def f(n):\n    return f(n + 1)\nV = f(0)\n", "nested more than", None),
    ("used unknown argument", "import torch\ndef f(a):\n    return a\nV = f(torch.x())\n", "torch.x", 4),
    ("raise", "def f():\n    raise ValueError()\nV = f()\n", "has a `raise` statement", 2),
    ("unknown condition", "import sys\ndef f():\n    if sys.argv:\n        return 1\n    return 2\nV = f()\n",
     "sys.argv", 3),
]


@pytest.mark.parametrize(("source", "reason", "line"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_helpers_not_followed_say_why(load: Write, source: str, reason: str, line: int | None) -> None:
    found = unknown(load(source).evaluate_name("V"))
    assert reason in found.reason
    if line is not None:
        assert found.location is not None and found.location.line == line


MODAL_IMAGES = """\
import modal
from images import make_image

img = modal.Image.from_registry("nvidia/cuda:12.4.0-devel-ubuntu22.04", add_python="3.11")
img = img.pip_install("torch")
alias = img
shared = make_image(["torch", "numpy"], python=PY)
app = modal.App("demo")

@app.function(image=alias, gpu="A10G")
def first():
    pass

@app.function(image=shared)
def second():
    pass
"""
IMAGES_PY = """\
import modal

PY = "3.11"


def make_image(extra, python="3.10"):
    img = modal.Image.debian_slim(python_version=python)
    img = img.pip_install(*extra)
    if python == "3.11":
        img = img.env({"MODE": "new"})
    return img
"""


@pytest.fixture
def modal_app(load: Write):  # type: ignore[no-untyped-def]
    return load(MODAL_IMAGES.replace("python=PY", 'python="3.11"'), {"images.py": IMAGES_PY})


def _decorator_image(context, index: int) -> cst.BaseExpression:  # type: ignore[no-untyped-def]
    functions = [s for s in context.module.body if isinstance(s, cst.FunctionDef)]
    call = functions[index].decorators[0].decorator
    return next(arg.value for arg in call.args if arg.keyword and arg.keyword.value == "image")


def test_expression_of_follows_a_reassigned_image(modal_app) -> None:  # type: ignore[no-untyped-def]
    found = modal_app.expression_of(_decorator_image(modal_app, 0))
    assert isinstance(found, Expression)
    assert (found.code, str(found.location)) == ('img.pip_install("torch")', "app.py:5")
    receiver = found.node.func.value  # type: ignore[attr-defined]
    previous = found.context.expression_of(receiver, within=found)
    assert isinstance(previous, Expression) and str(previous.location) == "app.py:4"
    assert previous.code.startswith("modal.Image.from_registry(")
    assert known(modal_app.evaluate(previous.node.args[0].value)) == "nvidia/cuda:12.4.0-devel-ubuntu22.04"  # type: ignore[attr-defined]


def test_expression_of_expands_a_helper_from_another_module(modal_app) -> None:  # type: ignore[no-untyped-def]
    found = modal_app.expression_of(_decorator_image(modal_app, 1))
    assert isinstance(found, Expression)
    assert (found.code, str(found.location)) == ('img.env({"MODE": "new"})', "images.py:10")
    assert set(found.arguments) == {"extra", "python"}
    install = found.context.expression_of(found.node.func.value, within=found)  # type: ignore[attr-defined]
    assert isinstance(install, Expression) and install.code == "img.pip_install(*extra)"
    extra = install.node.args[0].value  # type: ignore[attr-defined]
    assert known(install.context.evaluate(extra, within=install)) == ["torch", "numpy"]
    argument = install.context.expression_of(extra, within=install)
    assert isinstance(argument, Expression) and str(argument.location) == "app.py:7"
    parameter = install.context.binding("extra", at=extra, within=install)
    assert parameter.kind == "parameter" and str(parameter.location) == "images.py:6"  # type: ignore[union-attr]
    base = install.context.expression_of(install.node.func.value, within=install)  # type: ignore[attr-defined]
    assert isinstance(base, Expression) and base.code == "modal.Image.debian_slim(python_version=python)"
    version = base.node.args[0].value  # type: ignore[attr-defined]
    assert known(base.context.evaluate(version, within=base)) == "3.11"


def test_expand_call_binds_defaults_in_the_defining_module(load: Write) -> None:
    context = load("from images import make_image\nIMG = make_image(['x'])\n", {"images.py": IMAGES_PY})
    call = node_of(context, "make_image(['x'])")
    assert isinstance(call, cst.Call)
    expanded = context.expand_call(call)
    assert isinstance(expanded, Expression) and expanded.code == "img"  # python="3.10": no env step
    chain = expanded.context.expression_of(expanded.node, within=expanded)
    assert isinstance(chain, Expression) and chain.code == "img.pip_install(*extra)"
    python = expanded.arguments["python"]
    assert isinstance(python, Expression) and python.context.file == "images.py"
    assert known(python.evaluate()) == "3.10"


def test_expand_call_refuses_what_is_not_a_project_function(load: Write) -> None:
    context = load("import modal\nIMG = modal.Image.debian_slim()\n")
    call = node_of(context, "modal.Image.debian_slim()")
    assert isinstance(call, cst.Call)
    assert "not a call of a function defined in the project" in unknown(context.expand_call(call)).reason  # type: ignore[arg-type]


def test_expression_of_stops_at_what_it_cannot_follow(load: Write) -> None:
    context = load("import modal\nimport os\nA = 1\nA += 1\nB, C = PAIR = (1, 2)\nE = os.environ\n"
                   "use(A, C, E, modal)\n")
    call = node_of(context, "use(A, C, E, modal)")
    a, c, e, mod = (arg.value for arg in call.args)  # type: ignore[attr-defined]
    assert "changed in place" in unknown(context.expression_of(a)).reason  # type: ignore[arg-type]
    assert isinstance(context.expression_of(c), Expression)  # a literal tuple: the element itself
    assert context.expression_of(e).code == "os.environ"  # type: ignore[union-attr]
    assert context.expression_of(mod).code == "modal"  # type: ignore[union-attr]


def test_expression_of_module_attribute(load: Write) -> None:
    context = load("import settings\nuse(settings.IMAGE)\n",
                   {"settings.py": "import modal\nIMAGE = modal.Image.debian_slim()\n"})
    found = context.expression_of(node_of(context, "settings.IMAGE"))  # type: ignore[arg-type]
    assert isinstance(found, Expression) and str(found.location) == "settings.py:2"


def test_evaluate_within_requires_bound_parameters(load: Write) -> None:
    context = load("def tag(v):\n    return v + '-x'\n")
    returned = node_of(context, "v + '-x'")
    assert "parameter of tag()" in unknown(context.evaluate(returned)).reason  # type: ignore[arg-type]


def test_results_are_typed(load: Write) -> None:
    context = load("V = 1\n")
    assert isinstance(context.evaluate_name("V"), Known)
    assert isinstance(context.evaluate_name("W"), Unknown)
