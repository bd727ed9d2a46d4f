"""routes.plan: the route of each app, its deploy name, the image's Python, the fal version pinned."""

from __future__ import annotations

import pytest

from falmigrate import routes
from falmigrate.errors import UsageError
from falmigrate.spec import ImageSpec, ServedApp, ServerSpec
from tests.helpers.specs import echo_spec


@pytest.mark.parametrize(("raw", "expected"), [
    ("MyModel", "my-model"), ("my_model", "my-model"), ("Stable Diffusion XL!", "stable-diffusion-xl"),
    ("HTTPServer2", "httpserver2"), ("--x--", "x"), ("", ""),
])
def test_kebab(raw, expected):
    assert routes.kebab(raw) == expected


@pytest.mark.parametrize("bad",
                         ["My App", "app.py", "a::b", "-lead", "trail-", "two--dashes", "x" * 64, "ünï"])
def test_names_fal_would_not_take_as_an_app_name_are_refused(bad):
    with pytest.raises(UsageError) as caught:
        routes.check_name(bad)
    assert caught.value.exit_code == 2 and "kebab-case" in caught.value.message


@pytest.mark.parametrize("good", ["a", "my-app", "sdxl-2", "x" * 63])
def test_names_fal_takes(good):
    assert routes.check_name(good) == good


@pytest.mark.parametrize("bad", ["banana", "1", "1.83.0.0", "v1.83.0", "0.9.0", "1.82.9"])
def test_unknown_or_too_old_fal_versions_are_refused(bad):
    with pytest.raises(UsageError):
        routes.fal_version(bad)


@pytest.mark.parametrize("good", ["1.83.0", "1.90", "2.0.1", "1.84.0rc1", "1.83.0.post1"])
def test_fal_versions_taken_as_given(good):
    assert routes.fal_version(good) == (good, [])


def test_default_fal_version_is_the_installed_one():
    from importlib import metadata

    assert routes.fal_version(None) == (metadata.version("fal"), [])


def test_model_code_takes_the_entry_point_route_and_servers_the_image_route():
    server = ServerSpec(command=["uvicorn", "main:app"], port=8000)
    spec = echo_spec(more_apps=[ServedApp(name="x", class_name="Web", server=server)])
    planned = routes.plan(spec, routes.RouteOptions())
    assert ([(a.name, a.route) for a in planned.served_apps()]
            == [("echo", "entry_point"), ("echo-web", "image_only")])
    native = routes.plan(spec, routes.RouteOptions(native=True))
    assert [a.route for a in native.served_apps()] == ["entry_point", "entry_point"]


def test_name_option_renames_every_app_and_names_stay_unique():
    spec = echo_spec(more_apps=[ServedApp(name="a", class_name="Web"), ServedApp(name="b", class_name="web")])
    planned = routes.plan(spec, routes.RouteOptions(name="prod-echo"))
    assert [a.name for a in planned.served_apps()] == ["prod-echo", "prod-echo-web", "prod-echo-web-2"]


@pytest.mark.parametrize(("pinned", "expected", "raised"), [
    ("3.8", "3.10", True), ("3.9", "3.10", True), ("3.10", "3.10", False), ("3.12", "3.12", False),
    (None, "3.11", False),
])
def test_python_below_fal_minimum_is_raised_with_a_warning(pinned, expected, raised):
    planned = routes.plan(echo_spec(image=ImageSpec(python=pinned)), routes.RouteOptions())
    assert planned.image.python == expected
    warnings = [f for f in planned.findings if f.rule == routes.PYTHON_RAISED_RULE]
    assert bool(warnings) is raised
    if raised:
        assert warnings[0].severity == "warning" and pinned in warnings[0].message
        assert "distutils" in (warnings[0].remediation or "")


def test_a_server_only_image_keeps_its_python():
    server = ServerSpec(command=["python", "serve.py"], port=8000)
    planned = routes.plan(echo_spec(image=ImageSpec(python="3.8"), server=server), routes.RouteOptions())
    assert planned.route == "image_only" and planned.image.python == "3.8"
    assert not [f for f in planned.findings if f.rule == routes.PYTHON_RAISED_RULE]
