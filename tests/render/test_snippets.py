"""render.snippets: definitions copied out of falmigrate/apptemplates with exactly what they need."""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest

from falmigrate.render import snippets
from falmigrate.render.app import TEMPLATE_NAMES

DELEGATE = ["_load_target", "_hook", "_plain", "_arguments", "_fields", "_collect_async", "_call", "_acall"]


def test_dependencies_come_along_in_module_order():
    code = snippets.emit("delegate", {"_fields"}, provided=TEMPLATE_NAMES).code
    assert code.index("def _plain(") < code.index("def _fields(")  # _fields calls _plain
    assert "def _call(" not in code and "ENTRY_MODULE" not in code


def test_only_the_imports_used_are_returned():
    snippet = snippets.emit("delegate", {"_collect_async"})
    assert snippet.import_lines() == ["from typing import Any"]
    assert "from fal import toolkit as _toolkit" in snippets.emit("delegate", {"_arguments"}).import_lines()


def test_provided_names_are_not_copied():
    code = snippets.emit("delegate", {"_load_target"}, provided=TEMPLATE_NAMES).code
    assert "_CODE_DIRS: list" not in code and "def _load_target(" in code
    assert "_CODE_DIRS: list" in snippets.emit("delegate", {"_load_target"}).code


def test_unknown_names_are_an_error():
    with pytest.raises(KeyError):
        snippets.emit("delegate", {"_nope"})


@pytest.mark.parametrize("size", [1, 2, 3])
def test_every_choice_of_helpers_makes_a_clean_module(size, tmp_path):
    """Any subset of helpers, with their imports and the template's own names, is ruff-F clean."""
    files = []
    for index, names in enumerate(itertools.combinations(DELEGATE, size)):
        snippet = snippets.emit("delegate", set(names), provided=TEMPLATE_NAMES)
        uses = "\n".join(f"print({name})" for name in names)
        text = "\n".join([*snippet.import_lines(), "_CODE_DIRS = []", "ENTRY_MODULE = None",
                          "ENTRY_SYMBOL = None", "", snippet.code, uses, ""])
        path = tmp_path / f"m{index}.py"
        path.write_text(text)
        compile(text, str(path), "exec")
        files.append(str(path))
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--select", "F,E9", *files],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout
