"""Modal → fal codemod: before/after, no-op, applying twice = once, output parses and passes ruff F;
rewrites by binding (a user's own ``app``/``image`` stays), never comments user code out, no settings
in the generated classes."""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys
import textwrap
from pathlib import Path

import libcst as cst
import pytest

from falmigrate import routes
from falmigrate.codemods.modal import rewrite, transform_source
from falmigrate.importers.modal import ModalImporter
from tests.helpers.golden import fixture_request

DATA = Path(__file__).parent / "data"
FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "modal"
FIXTURE_NAMES = sorted(p.name for p in FIXTURES.iterdir() if (p / "input").is_dir())


def demo() -> str:
    source = (DATA / "demo_before.py.txt").read_text()
    return transform_source(source, "demo_before.py", volumes={"/cache": "/data/cache"}).code


def fixture_rewrite(name: str):
    root = FIXTURES / name / "input"
    spec = routes.plan(ModalImporter().load(root, fixture_request(FIXTURES / name)), routes.RouteOptions())
    return spec, rewrite(spec, root)


def fixture_code(name: str) -> str:
    """The rewritten entry module of a fixture (fal_app.py itself, or the module it imports)."""
    _, result = fixture_rewrite(name)
    return next(iter(result.files.values())) if result.files else result.code


def test_before_after() -> None:
    expected = DATA / "demo_after.py.txt"
    if os.environ.get("FALMIGRATE_UPDATE_GOLDEN") == "1":
        expected.write_text(demo())
    assert demo() == expected.read_text()


def test_no_modal_is_a_no_op() -> None:
    source = "import os\n\n\ndef f(x):  # keep me\n    return os.sep + x\n"
    assert transform_source(source).code == source


@pytest.mark.parametrize("name", ["demo", *FIXTURE_NAMES])
def test_applying_twice_is_applying_once(name: str) -> None:
    once = demo() if name == "demo" else fixture_code(name)
    assert transform_source(once, "fal_app.py").code == once


def test_outputs_parse_and_pass_ruff(tmp_path: Path) -> None:
    outputs = {"demo": demo(), **{n: fixture_code(n) for n in FIXTURE_NAMES}}
    for name, code in outputs.items():
        compile(code, f"{name}.py", "exec")
        cst.parse_module(code)
        assert not re.search(r"^\s*(@app\.|@modal\.|@stub\.)", code, re.MULTILINE), name
        # modal stays imported only where user code uses it at run time (the demo's modal.Dict)
        assert bool(re.search(r"^import modal", code, re.MULTILINE)) == (name == "demo"), name
        assert not re.search(r"_add_extra_routes|_allow_init|ContainerImage|^\s+machine_type =", code,
                             re.MULTILINE), name
        (tmp_path / f"{name}.py").write_text(code)
    ruff = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", "--select",
                           "F,E9", str(tmp_path)],
                          capture_output=True, text=True, check=False)
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr


def test_class_rules() -> None:
    code = demo()
    assert "class Model(fal.App):" in code and "size: int = 2" in code
    assert "async def setup(self):\n        await self.load()" in code  # async enter → async setup
    assert "# load once" in code  # comments kept
    assert '"/data/cache/log.txt"' in code  # volume path rewritten
    assert "first = helper([n])" in code and "many = map(helper, [[1], [2]])" in code
    assert "# falmigrate: `vol.reload()` not needed on fal" in code and "        pass\n" not in code
    # the local entrypoint stays a plain function; nothing of the user's is commented out or stubbed
    assert "\ndef main():\n    print(driver(3))" in code and "# def " not in code and "= None\n" not in code
    # a method of a class that became a fal.App, called from outside: kept as written, with a TODO
    assert "    # TODO(falmigrate FM245): `Model().predict.remote(1.0)`" in code
    assert "    other = Model().predict.remote(1.0)" in code
    # modal.Dict is used at run time: it and `import modal` stay (the importer reports FM244)
    assert ('lookup = modal.Dict.from_name("lookup")' in code
            and "# falmigrate: Modal Image `image` removed" in code)


def test_only_names_bound_to_modal_are_rewritten() -> None:
    source = textwrap.dedent("""
        import modal
        from PIL import Image as PILImage

        image = PILImage.new("RGB", (2, 2))  # a user's image, not a Modal one
        modal_image = modal.Image.debian_slim()
        app = modal.App("bind", image=modal_image)


        class Flask:
            def function(self):
                return lambda f: f


        def make():
            app = Flask()  # a local `app` of the user's

            @app.function()
            def inner():
                return image.size
            return inner


        @app.function()
        def size() -> int:
            return make()()[0]
    """)
    code = transform_source(source).code
    assert 'image = PILImage.new("RGB", (2, 2))' in code and "    app = Flask()" in code
    assert "    @app.function()\n    def inner():" in code  # decorator on the user's own object stays
    assert "modal_image" not in code.replace("Modal Image `modal_image` removed", "")
    assert "import modal" not in code


def test_own_calls_become_direct_calls_or_findings() -> None:
    source = textwrap.dedent("""
        import itertools as it
        import modal
        app = modal.App("calls")


        @app.function()
        def add(a: int, b: int) -> int:
            return a + b


        @app.function()
        async def slow(x: int) -> int:
            return x


        @app.cls()
        class Box:
            @modal.method()
            def twice(self, x: int) -> int:
                return self.once.local(x) + self.once.remote(x)

            @modal.method()
            def once(self, x: int) -> int:
                return x


        @app.function()
        async def combine(n: int) -> list:
            pairs = list(add.starmap([(1, 2), (3, n)]))
            handle = add.spawn(1, 2)
            later = await slow.remote.aio(n)
            old = add.call(1, 1)
            add.for_each([(1, 2)])
            return [pairs, handle, later, old, list(it.chain([1]))]
    """)
    out = transform_source(source)
    code = out.code
    assert "return self.once(x) + self.once(x)" in code
    assert "pairs = list(itertools.starmap(add, [(1, 2), (3, n)]))" in code and "\nimport itertools\n" in code
    assert "later = await slow(n)" in code and "old = add(1, 1)" in code
    assert "list(map(add, [(1, 2)]))" in code
    assert "    # TODO(falmigrate FM245): `add.spawn(1, 2)`" in code and "handle = add.spawn(1, 2)" in code
    assert [f.rule for f in out.findings if f.severity == "error"] == ["FM245"]


def test_lifecycle_names_and_exit(tmp_path: Path) -> None:
    source = textwrap.dedent("""
        import modal
        app = modal.App("life")

        @app.cls()
        class Svc:
            @modal.enter()
            def setup(self):
                self.ready = True

            @modal.exit()
            def close(self):
                self.ready = False

            @modal.fastapi_endpoint(method="POST")
            def status(self, body: dict) -> dict:
                return {"ready": self.ready, **body}
    """)
    code = transform_source(source).code
    assert code.count("def setup(self)") == 1  # the user's own setup is fal's setup
    assert "def teardown(self):\n        self.close()" in code
    assert "def status_endpoint(self, body: dict[str, Any]):\n        return self.status(body)" in code


def test_batched_and_generator_wrappers(tmp_path: Path) -> None:
    source = textwrap.dedent("""
        import modal
        app = modal.App("b")

        @app.function()
        @modal.batched(max_batch_size=4, wait_ms=10)
        def double(xs: list[int]) -> list[int]:
            return [2 * x for x in xs]

        @app.function()
        def count(n: int = 2):
            yield from range(n)
    """)
    code = transform_source(source).code
    assert "return DoubleOutput(output=(double(xs=[input.xs]))[0])" in code
    assert "    xs: int\n" in code  # one item per request
    assert "return CountOutput(output=list(count(n=input.n)))" in code
    (tmp_path / "b.py").write_text(code)
    namespace = runpy.run_path(str(tmp_path / "b.py"))
    assert namespace["double"]([3]) == [6]
    assert "image" not in vars(namespace["BApp"])  # the image is pyproject.toml's, not the class's


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_every_todo_marker_has_a_finding(name: str) -> None:
    spec, result = fixture_rewrite(name)
    code = "\n".join([result.code, *result.files.values()])
    markers = set(re.findall(r"TODO\(falmigrate (FM\d+)\)", code))
    markers |= set(re.findall(r"TODO\(falmigrate (FM\d+)\)", "\n".join(spec.image.dockerfile_extra)))
    found = {f.rule for f in [*spec.findings, *result.findings]}
    assert markers <= found, markers - found


def test_settings_are_not_class_attributes() -> None:
    code = fixture_code("gpu_volumes_secrets")
    assert "# TODO(falmigrate FM210)" in code  # modal.parameter: a change in the class itself
    for attribute in ("image", "machine_type", "num_gpus", "keep_alive", "secrets", "data_mounts",
                      "request_timeout"):
        assert not re.search(rf"^\s+{attribute} = ", code, re.MULTILINE), attribute
    assert "pathlib" not in code and "_FALMIGRATE_DIR" not in code
