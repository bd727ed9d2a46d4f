"""Imports of project modules are followed (next to the file, then the root; relative; packages), never
outside the root; cycles end in a reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from falmigrate.analysis import ModuleContext, Project
from falmigrate.errors import SourceError
from tests.analysis.conftest import Write, known, unknown, write_project

CONFIG = 'CUDA = "12.4.0"\nGPU = "A10G"\nMODELS = ("sd15", "sdxl")\n'

CASES = [
    ("from config import", "from config import CUDA\nV = CUDA\n", {"config.py": CONFIG}, "12.4.0"),
    ("import config", "import config\nV = config.GPU\n", {"config.py": CONFIG}, "A10G"),
    ("import as", "import config as c\nV = c.MODELS[1]\n", {"config.py": CONFIG}, "sdxl"),
    ("from import as", "from config import GPU as G\nV = G\n", {"config.py": CONFIG}, "A10G"),
    ("star import", "from config import *\nV = GPU\n", {"config.py": CONFIG}, "A10G"),
    ("package attribute", "from pkg import VALUE\nV = VALUE\n",
     {"pkg/__init__.py": "VALUE = 3\n"}, 3),
    ("package submodule", "from pkg import settings\nV = settings.X\n",
     {"pkg/__init__.py": "", "pkg/settings.py": "X = 'sub'\n"}, "sub"),
    ("dotted import", "import pkg.settings\nV = pkg.settings.X\n",
     {"pkg/__init__.py": "", "pkg/settings.py": "X = 'dotted'\n"}, "dotted"),
    ("dotted import as", "import pkg.settings as s\nV = s.X\n",
     {"pkg/__init__.py": "", "pkg/settings.py": "X = 'alias'\n"}, "alias"),
    ("re-export", "from pkg import X\nV = X\n",
     {"pkg/__init__.py": "from .inner import X\n", "pkg/inner.py": "X = 'deep'\n"}, "deep"),
    ("chained constants", "from config import TAG\nV = TAG\n",
     {"config.py": "from base import CUDA\nTAG = f'{CUDA}-devel'\n", "base.py": "CUDA = '12.1.1'\n"},
     "12.1.1-devel"),
    ("helper from sibling", "from tags import tag\nV = tag('12.4')\n",
     {"tags.py": "SUFFIX = '-devel'\ndef tag(v):\n    return v + SUFFIX\n"}, "12.4-devel"),
    ("class constants of sibling", "from config import Settings\nV = Settings.GPU\n",
     {"config.py": "class Settings:\n    GPU = 'H100'\n"}, "H100"),
    ("sibling try fallback", "from config import GPU\nV = GPU\n",
     {"config.py": "try:\n    from local_config import GPU\nexcept ImportError:\n    GPU = 'T4'\n",
      "local_config.py": "GPU = 'A100'\n"}, "A100"),
]


@pytest.mark.parametrize(("source", "files", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_project_imports_are_followed(load: Write, source: str, files: dict[str, str],
                                      expected: object) -> None:
    assert known(load(source, files).evaluate_name("V")) == expected


def test_relative_imports_in_a_package(tmp_path: Path) -> None:
    write_project(tmp_path, {
        "src/__init__.py": "",
        "src/app/__init__.py": "",
        "src/app/main.py": "from .config import IMAGE\nfrom ..shared import BASE\nfrom . import config\n"
                           "V = (IMAGE, BASE, config.IMAGE)\n",
        "src/app/config.py": "IMAGE = 'img'\n",
        "src/shared.py": "BASE = 'base'\n",
    })
    context = Project(tmp_path).module("src/app/main.py")
    assert known(context.evaluate_name("V")) == ("img", "base", "img")
    assert context.file == "src/app/main.py" and context.name == "src.app.main"


def test_module_next_to_the_file_wins_over_the_root(tmp_path: Path) -> None:
    write_project(tmp_path, {"config.py": "X = 'root'\n", "worker/config.py": "X = 'local'\n",
                             "worker/handler.py": "from config import X\nV = X\n",
                             "other/handler.py": "from config import X\nV = X\n"})
    project = Project(tmp_path)
    assert known(project.module("worker/handler.py").evaluate_name("V")) == "local"
    assert known(project.module("other/handler.py").evaluate_name("V")) == "root"


def test_nothing_outside_the_root_is_read(tmp_path: Path) -> None:
    write_project(tmp_path, {"outside/secret.py": "X = 'leak'\n", "outside/proj/app.py":
                             ("from ..secret import X\nfrom secret import X as Y\nimport linked\nA = X\n"
                              "B = Y\nC = linked.X\n")})
    os.symlink(tmp_path / "outside" / "secret.py", tmp_path / "outside" / "proj" / "linked.py")
    context = Project(tmp_path / "outside" / "proj").module("app.py")
    assert "module ..secret is not found in the project" in unknown(context.evaluate_name("A")).reason
    assert "`secret.X` comes from outside the project" in unknown(context.evaluate_name("B")).reason
    assert "outside the project" in unknown(context.evaluate_name("C")).reason


def test_external_modules_are_references(load: Write) -> None:
    found = unknown(load("from diffusers import DDIMScheduler\nV = DDIMScheduler\n").evaluate_name("V"))
    assert "`diffusers.DDIMScheduler` comes from outside the project" in found.reason
    assert found.location is not None and found.location.line == 2


def test_missing_name_in_a_sibling(load: Write) -> None:
    context = load("from config import NOPE\nV = NOPE\n", {"config.py": CONFIG})
    found = unknown(context.evaluate_name("V"))
    assert "module config does not bind NOPE" in found.reason


def test_import_cycle_ends(load: Write) -> None:
    context = load("from a import X\nV = X\n", {"a.py": "from b import X\n", "b.py": "from a import X\n"})
    found = unknown(context.evaluate_name("V"))
    assert "refers to itself" in found.reason or "cycle" in found.reason


def test_mutual_constants_across_modules(load: Write) -> None:
    context = load("import a\nV = a.X\nW = a.Z\n", {"a.py": "from b import Y\nX = Y + 1\nZ = 5\n",
                                                   "b.py": "from a import X\nY = X + 1\n"})
    assert "refers to itself" in unknown(context.evaluate_name("V")).reason
    assert known(context.evaluate_name("W")) == 5  # the cycle does not poison other names


def test_unparsable_sibling_is_a_reason(load: Write) -> None:
    context = load("from config import X\nV = X\n", {"config.py": "X = (\n"})
    found = unknown(context.evaluate_name("V"))
    assert "config.py is not valid Python" in found.reason
    assert found.location is not None and found.location.file == "app.py" and found.location.line == 1


def test_unparsable_entry_is_a_source_error(tmp_path: Path) -> None:
    write_project(tmp_path, {"app.py": "def broken(:\n"})
    with pytest.raises(SourceError) as raised:
        ModuleContext.load(tmp_path / "app.py", tmp_path)
    assert raised.value.file == "app.py" and raised.value.exit_code == 2


def test_modules_are_parsed_once_per_project(tmp_path: Path) -> None:
    write_project(tmp_path, {"a.py": "from config import X\nV = X\n", "b.py": "from config import X\nV = X\n",
                             "config.py": "X = 1\n"})
    project = Project(tmp_path)
    project.module("a.py").evaluate_name("V")
    project.module("b.py").evaluate_name("V")
    assert project.module("config.py") is project.module(tmp_path / "config.py")


def test_binding_follows_imports_to_the_defining_module(load: Write) -> None:
    context = load("from config import GPU\nV = GPU\n", {"config.py": CONFIG})
    followed = context.binding("GPU")
    assert followed.kind == "assign" and str(followed.location) == "config.py:2"  # type: ignore[union-attr]
    direct = context.binding("GPU", follow_imports=False)
    assert direct.kind == "import" and direct.module == "config"  # type: ignore[union-attr]
    external = load("import os\n").binding("os")
    assert external.kind == "import" and external.module == "os"  # type: ignore[union-attr]
