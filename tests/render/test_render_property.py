"""Property: any spec the IR allows renders to a fal_app.py that compiles, defines the App and models,
and whose request models accept the declared defaults (random names, kinds, constraints, endpoints)."""

from __future__ import annotations

import keyword
import sys
import tempfile
import types
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from falmigrate.render import render_files
from falmigrate.spec import Endpoint, InputField, TypeRef
from tests.helpers.specs import echo_spec

NAMES = st.one_of(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
                  st.sampled_from(["class", "from", "model_config", "_private", "def"]))
APP_DIR = Path(tempfile.mkdtemp(prefix="falmigrate-property-"))
SIMPLE = st.sampled_from(["str", "int", "float", "bool", "json", "any", "file", "image"])


@st.composite
def type_refs(draw, depth=0):
    kind = draw(st.sampled_from(["simple", "list", "optional", "literal", "model"] if depth < 2
                                else ["simple"]))
    if kind == "simple":
        return TypeRef(kind=draw(SIMPLE))
    if kind in ("list", "optional"):
        return TypeRef(kind=kind, item=draw(type_refs(depth + 1)))
    if kind == "literal":
        return TypeRef(kind="literal", choices=draw(st.lists(st.text(max_size=4) | st.integers(), min_size=1,
                                                             max_size=3, unique=True)))
    fields = draw(st.lists(st.builds(InputField, name=NAMES, type=st.just(TypeRef(kind="int"))), max_size=2,
                           unique_by=lambda f: f.name))
    return TypeRef(kind="model", name=draw(st.sampled_from(["Box", "Pair"])), fields=fields)


@st.composite
def fields(draw):
    ref = draw(type_refs())
    required = draw(st.booleans())
    default = None
    if not required and ref.kind == "int":
        default = draw(st.integers(-5, 5))
    extra = {}
    if ref.kind == "int" and draw(st.booleans()):
        extra = {"ge": -10, "le": 10}
    if ref.kind == "str" and draw(st.booleans()):
        extra = {"min_length": 0, "max_length": 50, "pattern": "^.*$"}
    return InputField(name=draw(NAMES), type=ref, required=required, default=default,
                      description=draw(st.none() | st.text(max_size=10)), **extra)


endpoints = st.builds(
    Endpoint, handler=NAMES, path=st.sampled_from(["/", "/run", "/x-y"]),
    inputs=st.lists(fields(), max_size=4, unique_by=lambda f: f.name), output=type_refs(),
    output_mode=st.sampled_from(["single", "stream"]), is_async=st.booleans())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(endpoints, min_size=1, max_size=3, unique_by=lambda e: e.path))
def test_any_spec_renders_to_a_working_module(eps):
    spec = echo_spec(endpoints=eps)
    files = render_files(spec, None)
    code = files["fal_app.py"]
    (APP_DIR / "Dockerfile").write_text(files["Dockerfile"])
    module = types.ModuleType("fal_app_property")
    module.__file__ = str(APP_DIR / "fal_app.py")
    sys.modules[module.__name__] = module  # pydantic resolves annotations through sys.modules
    exec(compile(code, "fal_app.py", "exec"), module.__dict__)  # noqa: S102 - our own generated code
    assert isinstance(module.EchoApp, type)
    for endpoint in eps:
        optional = all(not f.required for f in endpoint.inputs)
        models = [v for k, v in vars(module).items() if k.endswith("Input") and isinstance(v, type)]
        assert models
        if optional and len(eps) == 1:
            models[0]()  # every field has its default
    assert not any(f"def {kw}(" in code for kw in keyword.kwlist)
