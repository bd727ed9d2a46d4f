"""render.pyproject: the [tool.fal.apps.*] tables, TOML spelling, the project's own pyproject kept."""

from __future__ import annotations

import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from falmigrate import routes
from falmigrate.errors import SourceError
from falmigrate.render import pyproject
from falmigrate.spec import (
    HardwareSpec,
    HealthCheck,
    ImageSpec,
    RunStep,
    ScalingSpec,
    SecretMount,
    ServerSpec,
    VolumeSpec,
)
from tests.helpers.specs import echo_spec

_scalars = st.one_of(st.booleans(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=20))
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=4)), max_leaves=12)


@given(st.dictionaries(st.text(min_size=1, max_size=10), _values, max_size=5))
def test_toml_values_round_trip_through_tomllib(table):
    text = "".join(f"{pyproject._key(k)} = {pyproject.toml_value(v)}\n" for k, v in table.items())
    assert tomllib.loads(text) == table


def _planned(**overrides):
    return routes.plan(echo_spec(**overrides), routes.RouteOptions())


def test_entry_point_app_table():
    spec = _planned(hardware=HardwareSpec(machine_type="GPU-A100", num_gpus=1, gpu=True),
                    scaling=ScalingSpec(keep_alive=300, max_multiplexing=4, request_timeout=3600),
                    secrets=["HF_TOKEN"],
                    volumes=[VolumeSpec(name="w", source_path="/w", fal_path="/data/w")],
                    image=ImageSpec(python="3.12"))
    app = tomllib.loads(pyproject.render(spec, "# h"))["tool"]["fal"]["apps"]["echo"]
    assert app == {"python_entry_point": "fal_app:EchoApp", "python_version": "3.12", "auth": "private",
                   "machine_type": "GPU-A100", "num_gpus": 1, "keep_alive": 300, "max_multiplexing": 4,
                   "request_timeout": 3600, "secrets": ["HF_TOKEN"], "data_mounts": ["/data/w"],
                   "app_scale_settings": True, "image": {"dockerfile": "Dockerfile"}}


def test_image_only_app_table():
    server = ServerSpec(command=["uvicorn"], port=7860,
                        health=HealthCheck(path="/healthz", start_period_seconds=30))
    app = tomllib.loads(pyproject.render(_planned(server=server), "# h"))["tool"]["fal"]["apps"]["echo"]
    assert "python_entry_point" not in app and "python_version" not in app
    assert app["exposed_port"] == 7860
    assert app["health_check"] == {"path": "/healthz", "start_period_seconds": 30}


def test_build_secrets_are_fal_secret_references():
    steps = [RunStep(command="x", secrets=[SecretMount(id="HF_TOKEN")])]
    spec = _planned(image=ImageSpec(run_steps=steps, build_secrets=["GH_TOKEN"]))
    image = tomllib.loads(pyproject.render(spec, "# h"))["tool"]["fal"]["apps"]["echo"]["image"]
    assert image == {"dockerfile": "Dockerfile",
                     "secrets": {"GH_TOKEN": "$GH_TOKEN", "HF_TOKEN": "$HF_TOKEN"}}


def test_pushed_image_with_credentials_names_secrets_never_values():
    ref = "registry.example.com:5000/team/app@sha256:" + "a" * 64
    text = pyproject.render(_planned(), "# h", image_ref=ref, credentials=True)
    image = tomllib.loads(text)["tool"]["fal"]["apps"]["echo"]["image"]
    assert image == {"image": ref, "registries": {"registry.example.com:5000": {
        "username": "$FAL_IMAGE_REGISTRY_USERNAME", "password": "$FAL_IMAGE_REGISTRY_PASSWORD"}}}


@pytest.mark.parametrize(("ref", "host"), [
    ("localhost/app@sha256:x", "localhost"), ("127.0.0.1:5000/a@sha256:x", "127.0.0.1:5000"),
    ("team/app@sha256:x", "docker.io"), ("app@sha256:x", "docker.io"), ("ghcr.io/o/a@sha256:x", "ghcr.io"),
])
def test_registry_of(ref, host):
    assert pyproject.registry_of(ref) == host


def test_project_pyproject_is_kept_and_the_tables_appended():
    own = ('[project]\nname = "mine"  # keep this comment\ndependencies = ["torch"]\n\n[tool.uv]\n'
           'dev-dependencies = []\n')
    text = pyproject.render(_planned(), "# h", existing=own)
    assert text.startswith(own.rstrip("\n"))
    data = tomllib.loads(text)
    assert data["project"]["dependencies"] == ["torch"] and "echo" in data["tool"]["fal"]["apps"]


def test_project_pyproject_that_already_deploys_the_name_is_an_error():
    with pytest.raises(SourceError) as caught:
        pyproject.render(_planned(), "# h", existing='[tool.fal.apps.echo]\nref = "a.py::A"\n')
    assert "--name" in (caught.value.hint or "")


def test_project_pyproject_that_is_not_toml_is_an_error():
    with pytest.raises(SourceError) as caught:
        pyproject.render(_planned(), "# h", existing="[project\n")
    assert caught.value.file == "pyproject.toml"
