"""falreqs: the app pins `pip install fal` replaces, found at convert time."""

from __future__ import annotations

from importlib import metadata

import pytest
from packaging.requirements import Requirement

from falmigrate import falreqs, routes
from falmigrate.spec import ImageSpec, Location, ServerSpec
from tests.helpers.specs import echo_spec


def test_the_data_file_holds_the_installed_fals_own_requirements():
    """Fails when fal's requirements change: regenerate data/fal_requirements.txt from the new release."""
    from importlib import resources

    text = resources.files("falmigrate.data").joinpath("fal_requirements.txt").read_text()
    own = text.split("# through", 1)[0]
    listed = {str(Requirement(line)) for line in own.splitlines()
              if line.strip() and not line.startswith("#")}
    installed = {str(Requirement(r)) for r in metadata.requires("fal") or [] if "extra ==" not in r}
    assert listed == installed
    assert f"# fal {metadata.version('fal')}" in text


@pytest.mark.parametrize(("pin", "python", "conflict"), [
    ("pillow==9.5.0", "3.11", True),   # fal needs pillow>=13 on Python >= 3.11
    ("pillow==12.0.0", "3.10", False),  # ...and >=10.2 below 3.11
    ("Pillow<10", "3.11", True),
    ("pillow>=9", "3.11", False),
    ("pydantic==1.10.13", "3.11", False),  # fal excludes only pydantic 2.0–2.4
    ("pydantic==2.3.0", "3.11", True),
    ("pydantic<2", "3.11", False),
    ("protobuf==3.19.6", "3.11", True),  # isolate needs protobuf>=3.20
    ("protobuf<3.20", "3.11", True),
    ("protobuf<4", "3.11", False),
    ("grpcio==1.50.0", "3.11", True),
    ("fastapi==0.95.2", "3.11", True),
    ("torch==2.1.0", "3.11", False),
    ("dill==0.3.8", "3.11", True),
    ("-r base.txt", "3.11", False),
    ("git+https://github.com/org/repo.git", "3.11", False),
])
def test_pins_fal_replaces(pin, python, conflict):
    found = falreqs.conflicts([falreqs.Pin(pin, Location(file="requirements.txt", line=3))], python, "1.83.0")
    assert bool(found) is conflict
    for finding in found:
        assert finding.rule == falreqs.RULE and finding.severity == "warning"
        assert str(finding.location) == "requirements.txt:3" and "fal==1.83.0" in finding.message


def test_an_old_tensorflow_needs_the_protobuf_fal_moves_past():
    [finding] = falreqs.conflicts([falreqs.Pin("tensorflow==2.11.0")], "3.10", "1.83.0")
    assert "protobuf<3.20" in finding.message and "protobuf>=3.20.0" in finding.message
    assert falreqs.conflicts([falreqs.Pin("tensorflow==2.15.0")], "3.10", "1.83.0") == []


@pytest.mark.parametrize(("pin", "conflict"), [
    ("runpod", True),  # pip installs the newest runpod, whose FastAPI fal's cap excludes
    ("runpod~=1.10", True),  # allows every 1.x
    ("runpod>=1.9", True),
    ("runpod==1.10.0", False),  # the last release whose FastAPI requirement fal's fits
    ("runpod<1.10.1", False),
    ("runpod~=1.10.0", True),  # allows 1.10.1
    ("runpod==1.9.*", False),
])
def test_an_sdk_whose_newer_releases_need_a_fastapi_fal_excludes(pin, conflict):
    found = falreqs.conflicts([falreqs.Pin(pin)], "3.11", "1.83.0")
    assert bool(found) is conflict
    for finding in found:
        assert "fastapi>=0.138.1" in finding.message and "runpod==1.10.0" in finding.remediation


def test_requirements_file_lines_are_located(tmp_path):
    (tmp_path / "requirements.txt").write_text("# pins\ntorch==2.1.0\n\npillow==9.0.0  # old\n")
    spec = routes.plan(echo_spec(image=ImageSpec(requirements_file="requirements.txt",
                                                 python_requirements=["dill==0.3.5"])), routes.RouteOptions())
    found = falreqs.check(spec, tmp_path, "1.83.0")
    assert sorted(str(f.location) for f in found) == ["None", "requirements.txt:4"]


def test_server_images_get_no_fal_so_nothing_is_replaced(tmp_path):
    server = ServerSpec(command=["python", "serve.py"], port=8000)
    spec = routes.plan(echo_spec(server=server, image=ImageSpec(python_requirements=["pillow==9.0.0"])),
                       routes.RouteOptions())
    assert falreqs.check(spec, tmp_path, "1.83.0") == []
