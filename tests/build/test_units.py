"""Pure parts of the build pipeline: FROM rewriting, secret specs and redaction, strace parsing,
pointing fal_app.py at a pushed digest."""

from __future__ import annotations

import pytest

from falmigrate.build import appref, dockerfile, profile
from falmigrate.build.secrets import MASK, Redactor, parse_secret
from falmigrate.errors import SourceError, UsageError


def _info(tmp_path, text):
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    return dockerfile.read(path)


def test_replace_images_swaps_from_and_copy_from_and_nothing_else(tmp_path):
    text = ("ARG X=1\nFROM ghcr.io/o/uv:1 AS uv\nFROM python:3.11 AS build\n"
            "COPY --from=ghcr.io/o/uv:1 /uv /bin/uv\nCOPY --from=build --chown=1 /a /b\n"
            "RUN --mount=type=cache,from=ghcr.io/o/uv:1,target=/c true\n"
            "# FROM python:3.11 in a comment\nRUN echo python:3.11 \\\n  FROM python:3.11\n")
    (tmp_path / "Dockerfile").write_text(text)
    info = dockerfile.read(tmp_path / "Dockerfile")
    done = dockerfile.replace_images(info, text, {"ghcr.io/o/uv:1": "local/uv:1", "python:3.11": "local/py"})
    assert done == ("ARG X=1\nFROM local/uv:1 AS uv\nFROM local/py AS build\n"
                    "COPY --from=local/uv:1 /uv /bin/uv\nCOPY --from=build --chown=1 /a /b\n"
                    "RUN --mount=type=cache,from=local/uv:1,target=/c true\n"
                    "# FROM python:3.11 in a comment\nRUN echo python:3.11 \\\n  FROM python:3.11\n")
    assert dockerfile.replace_images(info, text, {}) == text


def test_replace_image_option_needs_old_equals_new(tmp_path):
    from typer.testing import CliRunner

    from falmigrate.cli.app import app

    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    for bad in ("no-equals-sign", "=new", "old="):
        result = CliRunner().invoke(app, ["build", str(tmp_path), "--replace-image", bad])
        assert result.exit_code == 2 and "--replace-image" in result.stderr


def test_base_image_single_stage(tmp_path):
    info = _info(tmp_path, "# syntax note\nARG X=1\nFROM --platform=linux/amd64 python:3.11 AS app\n"
                           "RUN echo \\\n  FROM not-this\nCMD [\"x\"]\n")
    assert info.steps == 4
    assert info.first_from_line == 3
    text = dockerfile.replace_base_image(info, "local/base:1")
    assert text.splitlines()[2] == "FROM --platform=linux/amd64 local/base:1 AS app"
    assert text.splitlines()[4] == "  FROM not-this"


def test_base_image_replaces_the_final_stage_not_the_builders(tmp_path):
    info = _info(tmp_path, "FROM golang:1.22 AS build\nRUN go build\n"
                           "FROM node:20 AS assets\nRUN npm ci\n"
                           "FROM debian:bookworm-slim\nCOPY --from=build /x /x\n")
    lines = dockerfile.replace_base_image(info, "local/base:1").splitlines()
    assert lines[0] == "FROM golang:1.22 AS build"
    assert lines[2] == "FROM node:20 AS assets"
    assert lines[4] == "FROM local/base:1"


def test_base_image_follows_a_final_stage_built_on_an_earlier_stage(tmp_path):
    info = _info(tmp_path, "FROM python:3.11 AS Runtime\nRUN pip install x\n"
                           "FROM golang:1.22 AS build\nRUN go build\n"
                           "FROM runtime AS final\nCOPY --from=build /x /x\n")
    assert dockerfile.base_from(info).line == 1
    lines = dockerfile.replace_base_image(info, "local/base:1").splitlines()
    assert lines == ["FROM local/base:1 AS Runtime", "RUN pip install x", "FROM golang:1.22 AS build",
                     "RUN go build", "FROM runtime AS final", "COPY --from=build /x /x"]


def test_base_image_unreadable_from_is_an_error_with_its_line(tmp_path):
    info = _info(tmp_path, "FROM python:3.11 AS a b\nRUN true\n")
    assert info.steps == 2  # reading never fails: only --base-image needs the FROM lines
    with pytest.raises(SourceError) as caught:
        dockerfile.replace_base_image(info, "x")
    assert caught.value.line == 1


def test_parse_secret_forms(tmp_path, monkeypatch):
    assert parse_secret("id=a,src=/x").src.as_posix() == "/x"
    assert parse_secret("id=a,env=TOKEN").env == "TOKEN"
    assert parse_secret("id=HF_TOKEN").env == "HF_TOKEN"
    for bad in ("src=/x", "id=a,src=/x,env=Y", "id=a,colour=red", "id"):
        with pytest.raises(UsageError):
            parse_secret(bad)
    monkeypatch.setenv("TOKEN", "value-from-env\n")
    secret = parse_secret("id=a,env=TOKEN")
    assert secret.describe() == {"id": "a", "source": "env"}
    redact = Redactor([secret])
    assert redact("x value-from-env y") == f"x {MASK} y"


def test_parse_trace_keeps_successful_opens_in_order():
    text = """\
7 execve("/usr/bin/python3", ["python3"], 0x1 /* 4 vars */) = 0
7 openat(AT_FDCWD, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 3
7 openat(AT_FDCWD, "/usr/lib/a.so", O_RDONLY|O_CLOEXEC) = 3
7 openat(AT_FDCWD, "/missing", O_RDONLY) = -1 ENOENT (No such file or directory)
7 openat(AT_FDCWD, "/usr/lib/python3", O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_DIRECTORY) = 3
8 openat(AT_FDCWD, "/app/model.bin", O_RDONLY <unfinished ...>
7 openat(AT_FDCWD, "/proc/self/maps", O_RDONLY) = 4
8 <... openat resumed>) = 5
7 open("/usr/lib/a.so", O_RDONLY) = 6
7 openat(AT_FDCWD, "relative.txt", O_RDONLY) = 6
"""
    assert profile.parse_trace(text) == ["/usr/bin/python3", "/usr/lib/a.so", "/app/model.bin"]


_TWO_APPS = """# Generated by falmigrate 0.1.0 from modal project; edit freely.
[project]
name = "mine"  # the project's own table stays

[tool.fal.apps.web]
python_entry_point = "fal_app:Web"  # a comment that stays
auth = "private"
image = { dockerfile = "Dockerfile", secrets = { HF_TOKEN = "$HF_TOKEN" } }

[tool.fal.apps.worker]
exposed_port = 8000
health_check = { path = "/health" }

[tool.fal.apps.worker.image]
dockerfile = "Dockerfile"
"""


def test_update_app_points_every_app_at_the_pushed_digest_and_keeps_the_rest(tmp_path):
    import tomllib

    (tmp_path / "pyproject.toml").write_text(_TWO_APPS)
    ref = "127.0.0.1:5000/app@sha256:" + "ab" * 32
    appref.update_app(tmp_path, ref, credentials=True)
    text = (tmp_path / "pyproject.toml").read_text()
    data = tomllib.loads(text)
    registries = {"127.0.0.1:5000": {"username": "$FAL_IMAGE_REGISTRY_USERNAME",
                                     "password": "$FAL_IMAGE_REGISTRY_PASSWORD"}}
    for name in ("web", "worker"):
        assert data["tool"]["fal"]["apps"][name]["image"] == {"image": ref, "registries": registries}
    assert data["tool"]["fal"]["apps"]["worker"]["exposed_port"] == 8000
    assert '# a comment that stays' in text and '# the project\'s own table stays' in text
    assert appref.rewrite_pyproject(text, ref, credentials=True) == text  # twice = once


def test_update_app_without_credentials_writes_only_the_reference(tmp_path):
    import tomllib

    (tmp_path / "pyproject.toml").write_text(_TWO_APPS)
    ref = "127.0.0.1:5000/app@sha256:" + "cd" * 32
    appref.update_app(tmp_path, ref)
    apps = tomllib.loads((tmp_path / "pyproject.toml").read_text())["tool"]["fal"]["apps"]
    assert apps["web"]["image"] == {"image": ref} == apps["worker"]["image"]


@pytest.mark.parametrize("text",
                         ["[project]\nname = 'x'\n", "[tool.fal.apps.a]\nauth = 'private'\n", "[tool\n"])
def test_update_app_refuses_a_pyproject_it_cannot_point_at_the_image(tmp_path, text):
    (tmp_path / "pyproject.toml").write_text(text)
    with pytest.raises(SourceError):
        appref.update_app(tmp_path, "r/x@sha256:" + "0" * 64)
    assert (tmp_path / "pyproject.toml").read_text() == text


def test_update_app_needs_a_pyproject(tmp_path):
    with pytest.raises(SourceError):
        appref.update_app(tmp_path, "r/x@sha256:" + "0" * 64)


def test_default_profile_command_runs_each_entry_points_setup(tmp_path):
    """What `build --profile` runs for the entry points of OUT/pyproject.toml: falsdk.py start, by name."""
    import os
    import subprocess
    import sys

    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "fal_app.py").write_text(
        "import fal\n\n\n"
        "class Sync(fal.App):\n"
        "    def setup(self):\n        open('sync-setup-ran', 'w').close()\n\n\n"
        "class Async(fal.App):\n"
        "    async def setup(self):\n        open('async-setup-ran', 'w').close()\n\n\n"
        "class NotDeployed(fal.App):\n"
        "    def setup(self):\n        open('not-deployed-ran', 'w').close()\n"
    )
    (tmp_path / "pyproject.toml").write_text(
        '[tool.fal.apps.a]\npython_entry_point = "fal_app:Sync"\n\n'
        '[tool.fal.apps.b]\npython_entry_point = "fal_app:Async"\n\n'
        '[tool.fal.apps.web]\nexposed_port = 8000\n')
    module, classes = profile.entry_points(tmp_path)
    assert (module, classes) == ("fal_app", ["Sync", "Async"])
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "code")}  # the image's .pth does this
    done = subprocess.run([sys.executable, profile.falsdk.__file__, "start", module, *classes], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "sync-setup-ran").is_file() and (tmp_path / "async-setup-ran").is_file()
    assert not (tmp_path / "not-deployed-ran").exists()


@pytest.mark.parametrize("text", ["", "[tool\n", '[tool.fal.apps.web]\nexposed_port = 8000\n',
                                  ('[tool.fal.apps.a]\npython_entry_point = "m1:A"\n[tool.fal.apps.b]\n'
                                   'python_entry_point = "m2:B"\n')])
def test_no_single_entry_module_means_the_image_command_is_profiled(tmp_path, text):
    (tmp_path / "pyproject.toml").write_text(text)
    assert profile.entry_points(tmp_path) is None
