"""Each finding the Modal importer and codemod emit is caused by its construct: a source with the
construct gets the finding (with file:line), the same source with one change removes the construct and
the finding. One row per rule id."""

from __future__ import annotations

import textwrap
from importlib import metadata
from pathlib import Path

import pytest

from falmigrate.codemods.modal import transform_source
from falmigrate.importers.modal import ModalImporter, runtime

HEAD = "import os\nimport subprocess\nimport modal\n\napp = modal.App('findings')\n"
# rule -> (code after HEAD, text to replace, replacement that removes the construct, severity)
CASES: dict[str, tuple[str, str, str, str]] = {
    "FM237": (('GPU = os.environ.get("GPU", "T4")\n\n@app.function(gpu=GPU)\n'
               'def f(x: int) -> int:\n    return x\n'),
              'os.environ.get("GPU", "T4")', '"T4"', "warning"),
    "FM238": (('@app.cls()\nclass M:\n    @modal.enter()\n    def load(self):\n'
               '        self.net = build().cuda()\n\n'
               '    @modal.method()\n    def run(self) -> int:\n        return 1\n'), ".cuda()", ".cpu()",
              "warning"),
    "FM241": (('@app.cls()\nclass M:\n    def __enter__(self):\n        self.x = 1\n\n'
              '    @modal.method()\n    def run(self) -> int:\n        return self.x\n'),
              "def __enter__(self)", "@modal.enter()\n    def load(self)", "info"),
    "FM242": ('app.cache = modal.Dict.from_name("c")\n\n@app.function()\ndef f() -> int:\n    return 1\n',
              "app.cache = ", "cache = ", "error"),
    "FM243": (('@app.function()\n@modal.asgi_app()\ndef web():\n    from fastapi import FastAPI\n'
               '    api = FastAPI()\n\n'
               '    @api.post("/go")\n    def go() -> dict:\n        return {}\n\n    @api.put("/healthz")\n'
               '    def ok() -> dict:\n        return {}\n\n    return api\n'), '@api.put("/healthz")',
              '@api.get("/healthz")', "warning"),
    "FM244": (('lookup = modal.Dict.from_name("lookup")\n\n@app.function()\ndef f(k: str) -> str:\n'
               '    return lookup[k]\n'),
              'modal.Dict.from_name("lookup")', '{"a": "b"}', "error"),
    "FM218": (('image = modal.Image.debian_slim().pip_install(os.environ["PKG"])\n\n'
               '@app.function(image=image)\n'
               'def f() -> int:\n    return 1\n'), 'os.environ["PKG"]', '"six"', "error"),
    "FM216": (('image = modal.Image.debian_slim().run_function(lambda: None)\n\n@app.function(image=image)\n'
              'def f() -> int:\n    return 1\n'), ".run_function(lambda: None)", ".run_commands('true')",
              "error"),
}


def _load(tmp_path: Path, body: str):
    folder = tmp_path / str(len(list(tmp_path.iterdir())))
    folder.mkdir()
    (folder / "app.py").write_text(HEAD + body)
    return ModalImporter().load(folder)


@pytest.mark.parametrize("rule", sorted(CASES))
def test_the_construct_causes_the_finding(rule: str, tmp_path: Path) -> None:
    body, old, new, severity = CASES[rule]
    assert body.count(old) == 1
    found = [f for f in _load(tmp_path, body).findings if f.rule == rule]
    assert (found and found[0].severity == severity and found[0].location is not None
            and found[0].location.line)
    assert not [f for f in _load(tmp_path, body.replace(old, new)).findings
                if f.rule == rule and f.severity == severity]


def test_own_call_without_direct_form_fm245() -> None:
    source = textwrap.dedent("""
        import modal
        app = modal.App("calls")


        @app.function()
        def f(x: int) -> int:
            return x


        @app.function()
        def g(x: int) -> int:
            return f.spawn(x).get()
    """)
    out = transform_source(source)
    assert ([(f.rule, f.severity, f.location.line) for f in out.findings if f.rule == "FM245"]
            == [("FM245", "error", 13)])
    assert "# TODO(falmigrate FM245)" in out.code
    fixed = transform_source(source.replace("f.spawn(x).get()", "f.remote(x)"))
    assert not [f for f in fixed.findings if f.rule == "FM245"] and "return f(x)" in fixed.code


def test_modal_pinned_without_a_local_modal_fm249(monkeypatch: pytest.MonkeyPatch) -> None:
    assert runtime.version_findings() == []  # modal is installed here: its version is the pin
    assert runtime.modal_requirement() == f"modal=={metadata.version('modal')}"

    def missing(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(runtime.metadata, "version", missing)
    [finding] = runtime.version_findings()
    assert (finding.rule == "FM249"
            and runtime.modal_requirement() == f"modal=={runtime.CHECKED_MODAL_VERSION}")
