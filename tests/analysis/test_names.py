"""Names resolve to the module-level binding in effect where they are read, module code in order."""

from __future__ import annotations

import pytest

from tests.analysis.conftest import Write, known, node_of, unknown

KNOWN_CASES = [
    ("reassignment chain", 'BASE = "cuda"\nBASE = BASE + "-cu121"\nBASE = f"{BASE}-x"\n', "BASE",
     "cuda-cu121-x"),
    ("augmented assignment", 'TAG = "v1"\nTAG += "-slim"\nN = 2\nN *= 5\nN -= 1\n', "TAG", "v1-slim"),
    ("augmented number", "N = 2\nN *= 5\nN -= 1\nN **= 2\nN //= 4\n", "N", 20),
    ("list extended by +=", "L = [1]\nL += (2, 3)\n", "L", [1, 2, 3]),
    ("chained targets", 'A = B = "same"\n', "B", "same"),
    ("annotated", 'GPU: str = "A10G"\n', "GPU", "A10G"),
    ("tuple unpacking", 'A, B = "x", "y"\n', "B", "y"),
    ("nested unpacking", "A, (B, C) = 1, (2, 3)\n", "C", 3),
    ("list target", "[A, B] = [1, 2]\n", "A", 1),
    ("unpack a name", 'PAIR = ("p", "q")\nA, B = PAIR\n', "B", "q"),
    ("unpack nested name", "P = (1, (2, 3))\nA, (B, C) = P\n", "C", 3),
    ("swap", "A, B = 1, 2\nA, B = B, A\n", "A", 2),
    ("semicolons", "A = 1; A = A + 1; B = A * 10\n", "B", 20),
    ("if true branch", 'DEV = True\nif DEV:\n    MODE = "dev"\nelse:\n    MODE = "prod"\n', "MODE", "dev"),
    ("elif branch", 'V = 2\nif V == 1:\n    X = "a"\nelif V == 2:\n    X = "b"\nelse:\n    X = "c"\n', "X",
     "b"),
    ("else branch", 'V = 3\nif V == 1:\n    X = "a"\nelif V == 2:\n    X = "b"\nelse:\n    X = "c"\n', "X",
     "c"),
    ("untaken branch keeps previous", 'X = "kept"\nif False:\n    X = "no"\n', "X", "kept"),
    ("one-line if", 'X = 1\nif X: X = 2\n', "X", 2),
    ("nested ifs", "A = 1\nif A:\n    if A > 5:\n        B = 'big'\n    else:\n        B = 'small'\n", "B",
     "small"),
    ("type checking guard", "from typing import TYPE_CHECKING\nX = 1\nif TYPE_CHECKING:\n    X = 2\n", "X",
     1),
    ("__name__ imported", 'X = "lib"\nif __name__ == "__main__":\n    X = "main"\n', "X", "lib"),
    ("try body certain", 'try:\n    X = "a"\nexcept Exception:\n    X = "b"\n', "X", "a"),
    ("try with finally", "try:\n    X = 1\nfinally:\n    Y = 2\n", "Y", 2),
    ("try else", "try:\n    X = 1\nexcept Exception:\n    pass\nelse:\n    X = 3\n", "X", 3),
    ("with body", "import contextlib\nwith contextlib.suppress(Exception):\n    X = 5\n", "X", 5),
    ("class attribute", 'class Cfg:\n    GPU = "A100"\n    N = 2\n    SPEC = f"{GPU}:{N}"\nX = Cfg.SPEC\n',
     "X", "A100:2"),
    ("nested class skips the outer class body", ('X = "module"\nclass Outer:\n    X = "outer"\n'
     '    class Inner:\n        Y = X\nV = Outer.Inner.Y\n'), "V", "module"),
    ("class body reads module", 'BASE = "b"\nclass C:\n    X = BASE + "!"\nY = C.X\n', "Y", "b!"),
    ("list append", 'C = ["a"]\nC.append("b")\nC.extend(["c"])\nC.insert(0, "z")\n', "C",
     ["z", "a", "b", "c"]),
    ("dict items", 'S = {}\nS["DDIM"] = 1\nS["Euler"] = 2\nS.update({"PNDM": 3})\nK = list(S)\n', "K",
     ["DDIM", "Euler", "PNDM"]),
    ("dict item augmented", 'S = {"n": 1}\nS["n"] += 4\n', "S", {"n": 5}),
    ("keys of a dict of classes", ("from diffusers import DDIMScheduler, EulerScheduler\n"
     "S = {'DDIM': DDIMScheduler, 'Euler': EulerScheduler}\nK = list(S.keys())\n"), "K", ["DDIM", "Euler"]),
    ("len of a list with an opaque item", "import torch\nL = [torch.compile(1), 2]\nN = len(L)\n", "N", 2),
    ("builtin shadowed by the module", "def len(x):\n    return 7\nN = len([1])\n", "N", 7),
    ("module constant from a function default", 'D = "d"\ndef f(x=D):\n    return x\nV = f()\n', "V", "d"),
]


@pytest.mark.parametrize(("source", "name", "expected"), [c[1:] for c in KNOWN_CASES],
                         ids=[c[0] for c in KNOWN_CASES])
def test_bindings_in_module_order(load: Write, source: str, name: str, expected: object) -> None:
    assert known(load(source).evaluate_name(name)) == expected


UNKNOWN_CASES = [
    ("condition not evaluable", "import sys\nif sys.platform == 'linux':\n    X = 1\nelse:\n    X = 2\n", "X",
     "bound under a condition that cannot be evaluated", 2),
    ("loop", "for i in range(3):\n    X = i\n", "X", "bound inside a loop", 1),
    ("while", "while True:\n    X = 1\n    break\n", "X", "bound inside a loop", 1),
    ("deleted", "X = 1\ndel X\n", "X", "deleted", 2),
    ("deleted with others", "X = 1\nY = 2\ndel Y, X\n", "X", "deleted", 3),
    ("item deleted", "X = {'a': 1}\ndel X['a']\n", "X", "changed by `del`", 2),
    ("try may raise", "try:\n    import torch\n    DEV = 'cuda'\nexcept ImportError:\n    DEV = 'cpu'\n",
     "DEV", "whose body may raise", 1),
    ("with target", "with open('f') as X:\n    pass\n", "X", "`with` statement", 1),
    ("walrus", "if (X := 3):\n    pass\n", "X", "bound under a condition", 1),
    ("not defined", "Y = 1\n", "X", "name X is not defined in app.py", None),
    ("star unpack", "A, *B = 1, 2, 3\n", "B", "unpacked with `*`", 1),
    ("unpack count", "P = (1, 2, 3)\nA, B = P\n", "A", "unpacked from 3 values into 2 names", 2),
    ("pop", "L = [1, 2]\nL.pop()\n", "L", "L.pop() changes L here", 2),
    ("attribute set", "C = {}\nC.x = 1\n", "C", "through an attribute", 2),
    ("class instance", "class C:\n    pass\nX = C()\n", "X", "creating an instance of class C", 3),
    ("function value", "def f():\n    pass\nX = f\n", "X", "function f is not a constant", 1),
    ("external call", "import torch\nX = torch.cuda.device_count()\n", "X",
     "calling `torch.cuda.device_count()`", 2),
    ("external value", "import torch\nX = torch.float16\n", "X", "`torch.float16` comes from outside", 2),
    ("__file__", "import os\nX = os.path.dirname(__file__)\n", "X", "`__file__` depends on", 2),
    ("match", "match 1:\n    case 1:\n        X = 1\n", "X", "match statement", 1),
    ("inherited class attribute", "class A:\n    X = 1\nclass B(A):\n    pass\nY = B.X\n", "Y",
     "does not set X in its body", 3),
]


@pytest.mark.parametrize(("source", "name", "reason", "line"), [c[1:] for c in UNKNOWN_CASES],
                         ids=[c[0] for c in UNKNOWN_CASES])
def test_unknowns_say_why_and_where(load: Write, source: str, name: str, reason: str,
                                    line: int | None) -> None:
    found = unknown(load(source).evaluate_name(name))
    assert reason in found.reason
    assert found.location is not None and found.location.file == "app.py"
    if line is not None:
        assert found.location.line == line


def test_name_read_before_a_later_rebinding(load: Write) -> None:
    context = load('TAG = "a"\nFIRST = TAG\nTAG = "b"\nSECOND = TAG\n')
    assert known(context.evaluate_name("FIRST")) == "a"
    assert known(context.evaluate_name("SECOND")) == "b"
    assert known(context.evaluate_name("TAG")) == "b"
    assert known(context.evaluate_name("TAG", at=node_of(context, "FIRST"))) == "a"


def test_evaluate_a_node_reads_names_at_its_place(load: Write) -> None:
    context = load('GPU = "T4"\nuse(gpu=GPU)\nGPU = "H100"\nuse(gpu=GPU + "!")\n')
    first, second = _calls(context, "use")
    assert known(context.evaluate(first.args[0].value)) == "T4"
    assert known(context.evaluate(second.args[0].value)) == "H100!"


def test_name_inside_its_own_branch(load: Write) -> None:
    context = load('import sys\nX = 1\nif sys.argv:\n    X = 2\n    use(X)\nelse:\n    use(X)\n')
    uses = [n for n in _calls(context, "use")]
    assert known(context.evaluate(uses[0].args[0].value)) == 2
    assert known(context.evaluate(uses[1].args[0].value)) == 1


def test_code_in_a_function_body_reads_the_loaded_module(load: Write) -> None:
    context = load('MODEL = "a"\ndef predict():\n    return MODEL.upper()\nMODEL = "b"\n')
    assert known(context.evaluate(node_of(context, "MODEL.upper()"))) == "B"


def test_function_locals_and_parameters(load: Write) -> None:
    context = load('X = "global"\ndef f(p, q="dq"):\n    X = "local"\n    use(X, p, q)\n')
    call = next(_calls(context, "use"))
    assert known(context.evaluate(call.args[0].value)) == "local"
    assert "parameter of f()" in unknown(context.evaluate(call.args[1].value)).reason
    binding = context.binding("q", at=call.args[2].value)
    assert binding.kind == "parameter" and binding.value is not None  # type: ignore[union-attr]


def test_local_read_before_assignment(load: Write) -> None:
    context = load('X = 1\ndef f():\n    use(X)\n    X = 2\n')
    call = next(_calls(context, "use"))
    assert "read before it is assigned" in unknown(context.evaluate(call.args[0].value)).reason


def test_global_declaration_reads_the_module(load: Write) -> None:
    context = load('X = 1\ndef f():\n    global X\n    use(X)\n')
    assert known(context.evaluate(next(_calls(context, "use")).args[0].value)) == 1


def test_closure_variables_are_not_followed(load: Write) -> None:
    context = load('def outer():\n    X = 1\n    def inner():\n        use(X)\n')
    found = unknown(context.evaluate(next(_calls(context, "use")).args[0].value))
    assert "enclosing function outer()" in found.reason


def test_method_defaults_read_the_class_body(load: Write) -> None:
    context = load('MODELS = ["m"]\nclass Predictor:\n    MODELS = ["a", "b"]\n'
                   '    def predict(self, model=Input(choices=MODELS)):\n        pass\n')
    choices = node_of(context, "Input(choices=MODELS)")
    assert known(context.evaluate(choices.args[0].value)) == ["a", "b"]  # type: ignore[attr-defined]


def test_main_module_name(load: Write) -> None:
    source = 'MODE = "lib"\nif __name__ == "__main__":\n    MODE = "script"\nNAME = __name__\n'
    assert known(load(source, main=True).evaluate_name("MODE")) == "script"
    assert known(load(source).evaluate_name("NAME")) == "app"


def _calls(context, name: str):  # type: ignore[no-untyped-def]
    import libcst as cst

    class Calls(cst.CSTVisitor):
        def __init__(self) -> None:
            self.found: list[cst.Call] = []

        def visit_Call(self, node: cst.Call) -> None:
            if isinstance(node.func, cst.Name) and node.func.value == name:
                self.found.append(node)

    visitor = Calls()
    context.module.visit(visitor)
    return iter(visitor.found)
