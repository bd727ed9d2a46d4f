"""The edit builders on the example projects, applied and read back."""

from __future__ import annotations

import pytest

from falmigrate.dockerfile import parse_dockerfile, parse_text
from falmigrate.dockerfile.edits import (
    append_to_final_stage,
    edit_decision,
    replace_base,
    rewrite_paths,
    set_command,
)
from falmigrate.dockerfile.patch import apply_edits
from falmigrate.spec import DockerfileEdit, Location
from tests.dockerfile.projects import project


def _diff(before: str, after: str) -> list[tuple[str, str]]:
    """The lines that differ, pairwise (same line count expected)."""
    a, b = before.splitlines(), after.splitlines()
    assert len(a) == len(b)
    return [(x, y) for x, y in zip(a, b, strict=True) if x != y]


def test_append_to_final_stage_lands_after_the_last_instruction():
    proj = project("runpod-downloader")
    model = parse_dockerfile(proj.dockerfile)
    edit = append_to_final_stage(model, ["RUN pip install --no-cache-dir fal", "ENV FAL_APP=1"],
                                 "fal's runtime")
    assert edit == DockerfileEdit(action="append",
                                  lines=["RUN pip install --no-cache-dir fal", "ENV FAL_APP=1"],
                                  reason="fal's runtime")
    out = apply_edits(proj.text, [edit])
    assert out == proj.text + "RUN pip install --no-cache-dir fal\nENV FAL_APP=1\n"
    patched = parse_text(out)
    assert patched.final.env["FAL_APP"] == "1" and "fal" in patched.final.pip_packages


def test_set_command_replaces_in_place_or_appends():
    proj = project("docker-gunicorn")
    model = parse_dockerfile(proj.dockerfile)
    edits = set_command(model, cmd=["python", "-m", "fal_app"], entrypoint=[],
                        reason="fal's runtime starts the app")
    assert [(e.action, e.line, e.lines) for e in edits] == [
        ("replace", 26, ["ENTRYPOINT []"]), ("replace", 27, ['CMD ["python", "-m", "fal_app"]'])]
    out = apply_edits(proj.text, edits)
    assert _diff(proj.text, out) == [
        ('ENTRYPOINT ["gunicorn", "-c", "/srv/gunicorn.conf.py"]', "ENTRYPOINT []"),
        ('CMD ["service.main:app", "-k", "uvicorn.workers.UvicornWorker"]',
         'CMD ["python", "-m", "fal_app"]')]
    # decided by the ENTRYPOINT line
    assert parse_text(out).effective_argv() == (["python", "-m", "fal_app"], 26)


def test_set_command_appends_when_the_final_stage_has_none():
    proj = project("runpod-sdxl")
    model = parse_dockerfile(proj.dockerfile)
    edits = set_command(model, entrypoint="/start.sh --fal", reason="the launcher stays")
    assert [(e.action, e.lines) for e in edits] == [("append", ["ENTRYPOINT /start.sh --fal"])]
    assert (parse_text(apply_edits(proj.text, edits)).effective_argv()
            == (["/bin/sh", "-c", "/start.sh --fal"], 32))
    assert set_command(model, cmd=["/start.sh"], reason="unchanged") == []  # already that command: no edit


def test_rewrite_paths_touches_only_the_instructions_that_mention_them():
    proj = project("runpod-comfy")
    model = parse_dockerfile(proj.dockerfile)
    edits = rewrite_paths(model, {"/runpod-volume": "/data"}, "fal mounts persistent storage at /data")
    assert [(e.action, e.line) for e in edits] == [("replace", 16)]
    out = apply_edits(proj.text, edits)
    assert _diff(proj.text, out) == [(
        "RUN chmod +x start.sh && ln -s /runpod-volume/models /comfyui/models",
        "RUN chmod +x start.sh && ln -s /data/models /comfyui/models")]


def test_rewrite_paths_keeps_continuations_and_whole_path_boundaries():
    proj = project("runpod-sdxl")
    model = parse_dockerfile(proj.dockerfile)
    [edit] = rewrite_paths(model, {"/runpod-volume/": "/data/"}, "volume")
    assert edit.line == 11 and edit.lines == ["ENV DEBIAN_FRONTEND=noninteractive \\",
                                              "    PYTHONUNBUFFERED=1 \\", "    HF_HOME=/data/hf-cache"]
    text = "FROM x\nENV A=/runpod-volumes B=/mnt/runpod-volume C=/runpod-volume D=\"/runpod-volume/x\"\n"
    [edit] = rewrite_paths(parse_text(text), {"/runpod-volume": "/data"}, "volume")
    assert edit.lines == ['ENV A=/runpod-volumes B=/mnt/runpod-volume C=/data D="/data/x"']
    assert rewrite_paths(parse_text(text), {}, "nothing") == []


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        pytest.param("ARG BASE=nvidia/cuda:12.1.0-runtime-ubuntu22.04\n"
                     "FROM --platform=linux/amd64 ${BASE} AS app\nRUN true\n", 2,
                     "FROM --platform=linux/amd64 local/base:1 AS app", id="arg-base-with-flag"),
        pytest.param("FROM python:3.11 AS Runtime\nRUN pip install x\n"
                     "FROM golang:1.22 AS build\nRUN go build\nFROM runtime AS final\n"
                     "COPY --from=build /x /x\n", 1, "FROM local/base:1 AS Runtime",
                     id="follows-stage-chain"),
        pytest.param("FROM golang:1.22 AS build\nRUN go build\nFROM \\\n    debian:bookworm-slim\n", 3,
                     "FROM \\\n    local/base:1", id="continued-from"),
    ],
)
def test_replace_base_swaps_the_image_of_the_stage_that_becomes_the_image(text, line, expected):
    edit = replace_base(parse_text(text), "local/base:1", "build on the local base")
    assert (edit.action, edit.line) == ("replace", line)
    out = apply_edits(text, [edit])
    assert "\n".join(edit.lines) == expected
    assert expected in out and out.count("local/base:1") == 1


def test_replace_base_on_a_real_worker_keeps_the_pre_from_args():
    proj = project("runpod-sdxl")
    model = parse_dockerfile(proj.dockerfile)
    out = apply_edits(proj.text, [replace_base(model, "falmigrate-test/base:bookworm", "local base")])
    assert _diff(proj.text, out) == [("FROM ${BASE_IMAGE} AS runtime",
                                      "FROM falmigrate-test/base:bookworm AS runtime")]
    assert parse_text(out).global_args == model.global_args


def test_edit_decision_says_where_what_and_why():
    decision = edit_decision("docker/Dockerfile", DockerfileEdit(
        action="replace", line=26, lines=["ENTRYPOINT []"], reason="fal's runtime starts the app"))
    assert decision.source == "docker/Dockerfile:26"
    assert decision.target == "replaced by `ENTRYPOINT []`"
    assert decision.note == "fal's runtime starts the app"
    assert decision.location == Location(file="docker/Dockerfile", line=26)
    appended = edit_decision("Dockerfile",
                             DockerfileEdit(action="append", lines=["RUN a", "RUN b"], reason="r"))
    assert (appended.source, appended.target) == ("Dockerfile (end of file)",
                                                  "appended to the final stage `RUN a` (+1 line(s))")
    deleted = edit_decision("Dockerfile", DockerfileEdit(action="delete", line=3, reason="r"))
    assert deleted.target == "deleted"
