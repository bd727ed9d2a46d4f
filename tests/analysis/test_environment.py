"""Environment reads: the literal default is the value; every read is recorded with its file:line."""

from __future__ import annotations

import pytest

from falmigrate.analysis import EnvRead, Known
from falmigrate.spec.models import Location
from tests.analysis.conftest import Write, known, unknown

READS = [
    ("os.environ.get", 'import os\nV = os.environ.get("GPU", "L4")\n', "L4"),
    ("os.getenv", 'import os\nV = os.getenv("GPU", "L4")\n', "L4"),
    ("getenv keyword default", 'import os\nV = os.getenv("GPU", default="L4")\n', "L4"),
    ("getenv keyword key", 'import os\nV = os.getenv(key="GPU", default="L4")\n', "L4"),
    ("from os import environ", 'from os import environ\nV = environ.get("GPU", "L4")\n', "L4"),
    ("from os import getenv", 'from os import getenv\nV = getenv("GPU", "L4")\n', "L4"),
    ("aliased module", 'import os as _os\nV = _os.environ.get("GPU", "L4")\n', "L4"),
    ("aliased function", 'from os import getenv as env\nV = env("GPU", "L4")\n', "L4"),
    ("setdefault", 'import os\nV = os.environ.setdefault("GPU", "L4")\n', "L4"),
    ("int of default", 'import os\nV = int(os.getenv("GPU", "7200"))\n', 7200),
    ("or default", 'import os\nV = os.environ.get("GPU") or "L4"\n', "L4"),
    ("is None test", 'import os\nV = "L4" if os.getenv("GPU") is None else "other"\n', "L4"),
    ("falsy test", 'import os\nV = "x" if not os.getenv("GPU") else "y"\n', "x"),
    ("explicit None default", 'import os\nV = os.environ.get("GPU", None)\n', None),
    ("default from a constant", 'import os\nD = "A100"\nV = os.environ.get("GPU", D).lower()\n', "a100"),
    ("name built from constants", 'import os\nP = "APP"\nV = os.getenv(f"{P}_GPU", "T4")\n', "T4"),
    ("bool flag", 'import os\nV = os.getenv("DEBUG", "0") == "1"\n', False),
    ("split list", 'import os\nV = os.getenv("MODELS", "a,b").split(",")\n', ["a", "b"]),
]


@pytest.mark.parametrize(("source", "expected"), [c[1:] for c in READS], ids=[c[0] for c in READS])
def test_reads_use_their_default(load: Write, source: str, expected: object) -> None:
    result = load(source).evaluate_name("V")
    assert known(result) == expected
    assert isinstance(result, Known) and len(result.env_reads) == 1
    read = result.env_reads[0]
    assert read.location == Location(file="app.py", line=source.count("\n"))


def test_read_records_name_default_and_line(load: Write) -> None:
    context = load('import os\n\nGPU = os.environ.get("GPU", "L4")\nTIMEOUT = int(os.getenv("T", "7200"))\n'
                   'SETTINGS = {"gpu": GPU, "timeout": TIMEOUT}\n')
    result = context.evaluate_name("SETTINGS")
    assert result == Known({"gpu": "L4", "timeout": 7200}, (
        EnvRead("GPU", "L4", True, Location(file="app.py", line=3)),
        EnvRead("T", "7200", True, Location(file="app.py", line=4)),
    ))


def test_each_read_recorded_once(load: Write) -> None:
    context = load('import os\nG = os.getenv("G", "a")\nV = G + G + G\n')
    result = context.evaluate_name("V")
    assert isinstance(result, Known) and [r.name for r in result.env_reads] == ["G"]


def test_short_circuit_skips_the_second_read(load: Write) -> None:
    context = load('import os\nV = os.getenv("A", "set") or os.getenv("B", "other")\n')
    result = context.evaluate_name("V")
    assert isinstance(result, Known) and [r.name for r in result.env_reads] == ["A"]


@pytest.mark.parametrize("source", [
    'import os\nV = os.environ["HF_HOME"]\n',
    'import os\nV = os.getenv("HF_HOME")\n',
    'import os\nV = os.environ.get("HF_HOME")\n',
    'import os\nV = os.getenv("HF_HOME") + "/x"\n',
    'import os\nV = int(os.environ.get("HF_HOME"))\n',
    'import os\nV = os.environ["HF_HOME"] or "d"\n',
])
def test_reads_without_default_name_the_variable(load: Write, source: str) -> None:
    found = unknown(load(source).evaluate_name("V"))
    assert "environment variable HF_HOME is read without a default" in found.reason
    assert found.location == Location(file="app.py", line=2)
    assert [read.name for read in found.env_reads] == ["HF_HOME"]
    assert found.env_reads[0].has_default is False


def test_read_in_a_sibling_module_keeps_its_file(load: Write) -> None:
    context = load("from settings import GPU\nV = GPU\n",
                   {"settings.py": 'import os\n\nGPU = os.environ.get("GPU", "L40S")\n'})
    result = context.evaluate_name("V")
    assert isinstance(result, Known) and result.value == "L40S"
    assert result.env_reads[0].location == Location(file="settings.py", line=3)


@pytest.mark.parametrize("source", [
    'def getenv(name, default):\n    return "mine"\nV = getenv("GPU", "L4")\n',
    ('class environ:\n    @staticmethod\n    def get(name, default):\n        return "mine"\n'
     'V = environ.get("GPU", "L4")\n'),
    'import os\nos = {"environ": 1}\nV = 1\n',
])
def test_lookalikes_are_not_environment_reads(load: Write, source: str) -> None:
    result = load(source).evaluate_name("V")
    assert not result.env_reads
    if isinstance(result, Known):
        assert result.value in ("mine", 1)


def test_membership_in_environ_is_unknown(load: Write) -> None:
    found = unknown(load('import os\nV = "A" if "GPU" in os.environ else "B"\n').evaluate_name("V"))
    assert "outside the project" in found.reason and "os.environ" in found.reason


def test_env_name_must_be_known(load: Write) -> None:
    found = unknown(load('import os, sys\nV = os.getenv(sys.argv[1], "x")\n').evaluate_name("V"))
    assert "sys.argv" in found.reason


WRITES = [
    ("set then read",
     'import os\nos.environ["HF_HOME"] = "/data/hf"\nV = os.environ.get("HF_HOME", "/root")\n',
     "/data/hf", []),
    ("set then subscript",
     'import os\nos.environ["HF_HOME"] = "/data"\nV = os.path.join(os.environ["HF_HOME"], "m")\n',
     "/data/m", []),
    ("set through environ", 'from os import environ, getenv\nenviron["A"] = "1"\nV = getenv("A")\n', "1", []),
    ("update", 'import os\nos.environ.update({"A": "x", "B": "y"})\nV = os.getenv("B", "d")\n', "y", []),
    ("update keywords", 'import os\nos.environ.update(A="kw")\nV = os.getenv("A")\n', "kw", []),
    ("setdefault is the default", 'import os\nos.environ.setdefault("A", "sd")\nV = os.getenv("A")\n', "sd",
     ["A"]),
    ("other variable untouched", 'import os\nos.environ["A"] = "1"\nV = os.getenv("B", "b")\n', "b", ["B"]),
    ("latest write wins", ('import os\nos.environ["A"] = "1"\nos.environ["B"] = "2"\nos.environ["A"] = "3"\n'
     'V = os.environ["A"]\n'), "3", []),
    ("read before the write", 'import os\nV = os.getenv("A", "early")\nos.environ["A"] = "late"\n', "early",
     ["A"]),
    ("removed", 'import os\nos.environ["A"] = "1"\ndel os.environ["A"]\nV = os.getenv("A", "gone")\n', "gone",
     []),
    ("popped", 'import os\nos.environ["A"] = "1"\nos.environ.pop("A", None)\nV = os.getenv("A") or "x"\n',
     "x", []),
    ("write under a known condition", ('import os\nFAST = True\nif FAST:\n    os.environ["T"] = "1"\n'
     'V = os.getenv("T", "0")\n'), "1", []),
    ("key from a constant", 'import os\nK = "HF_HOME"\nos.environ[K] = "/x"\nV = os.environ["HF_HOME"]\n',
     "/x", []),
    ("user dict named environ", 'import os\nenviron = {}\nenviron["A"] = "mine"\nV = os.getenv("A", "d")\n',
     "d", ["A"]),
    ("module still resolves",
     'import os\nos.environ["A"] = "1"\nos.environ["B"] = "2"\nV = os.path.join("a", "b")\n', "a/b", []),
    ("helper reads at the call site", ('import os\ndef gpu():\n    return os.getenv("GPU", "L4")\n'
     'os.environ["GPU"] = "H100"\nV = gpu()\n'), "H100", []),
]


@pytest.mark.parametrize(("source", "expected", "reads"), [c[1:] for c in WRITES], ids=[c[0] for c in WRITES])
def test_writes_before_a_read_decide_its_value(load: Write, source: str, expected: object,
                                               reads: list[str]) -> None:
    result = load(source).evaluate_name("V")
    assert known(result) == expected
    assert [read.name for read in result.env_reads] == reads


@pytest.mark.parametrize(("source", "reason", "line"), [
    ('import os, sys\nif sys.argv:\n    os.environ["A"] = "1"\nV = os.getenv("A", "d")\n',
     "environment variable A is set under a condition that cannot be evaluated", 2),
    ('import os, sys\nif sys.argv:\n    os.environ[sys.argv[1]] = "1"\nV = os.getenv("A", "d")\n',
     "an environment variable is set under a condition that cannot be evaluated", 2),
    ('import os\nfor k in ("A", "B"):\n    os.environ[k] = "1"\nV = os.getenv("A", "d")\n',
     "an environment variable is set inside a loop", 2),
    ('import os\nos.environ["PATH"] += ":/x"\nV = os.environ["PATH"]\n', "augmented assignment", 2),
    ('import os\nos.environ.clear()\nV = os.getenv("A", "d")\n', "removes variables", 2),
    ('import os\nos.environ["A"] = "1"\ndel os.environ["A"]\nV = os.environ["A"]\n',
     "removed before it is read", 4),
])
def test_writes_that_cannot_be_followed_make_reads_unknown(load: Write, source: str, reason: str,
                                                           line: int) -> None:
    found = unknown(load(source).evaluate_name("V"))
    assert reason in found.reason
    assert found.location is not None and found.location.line == line


def test_writes_of_other_variables_under_unknown_conditions_do_not_matter(load: Write) -> None:
    context = load('import os\nimport torch\nif torch.cuda.is_available():\n'
                   '    os.environ["CUDA_VISIBLE_DEVICES"] = "0"\n'
                   '    torch.backends.cuda.matmul.allow_tf32 = True\nGPU = os.environ.get("GPU", "L4")\n')
    assert known(context.evaluate_name("GPU")) == "L4"
