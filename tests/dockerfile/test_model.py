"""The Dockerfile model on real-looking files: spans, stages, pre-FROM ARGs, scopes, --from references,
RUN mounts, heredocs, directives, and the physical corner cases Docker accepts."""

from __future__ import annotations

import pytest

from falmigrate.dockerfile import parse_dockerfile, parse_text
from falmigrate.dockerfile.source import scan
from tests.dockerfile.projects import all_projects, project


def test_spans_cover_each_instruction_exactly():
    model = parse_dockerfile(project("runpod-sdxl").dockerfile)
    lines = model.text.splitlines(keepends=True)
    for ins in model.instructions:
        assert ins.source == "".join(lines[ins.line - 1:ins.end_line])
    env = model.instruction_at(11)
    assert (env.instruction, env.line, env.end_line) == ("ENV", 11, 13)
    assert env.source.endswith("HF_HOME=/runpod-volume/hf-cache\n")
    assert model.instruction_at(12) is None  # a continuation line starts nothing
    assert [ins.line for ins in model.instructions] == [3, 4, 5, 7, 9, 10, 11, 15, 19, 20, 21, 24,
                                                        25, 28, 29, 30, 31]


def test_pre_from_args_choose_the_base_and_stay_as_written():
    model = parse_dockerfile(project("runpod-sdxl").dockerfile)
    assert model.directives == {"syntax": "docker/dockerfile:1.6"}
    assert [(d.name, d.default, d.line) for d in model.global_arg_decls] == [
        ("CUDA_VERSION", "12.1.0", 3), ("UBUNTU_VERSION", "22.04", 4),
        ("BASE_IMAGE", "nvidia/cuda:${CUDA_VERSION}-cudnn8-runtime-ubuntu${UBUNTU_VERSION}", 5)]
    stage = model.final
    assert stage.base_as_written == "${BASE_IMAGE}"
    assert stage.base == "nvidia/cuda:12.1.0-cudnn8-runtime-ubuntu22.04"
    assert (stage.index, stage.name, stage.parent, stage.line) == (0, "runtime", None, 7)


def test_arg_pinned_versions_resolve_for_analysis_only():
    model = parse_dockerfile(project("runpod-sdxl").dockerfile)
    stage = model.final
    assert stage.args == {"TORCH_VERSION": "2.3.1", "TORCH_INDEX": "https://download.pytorch.org/whl/cu121"}
    assert stage.pip_packages == ["torch==2.3.1"]
    assert stage.pip_requirement_files == ["requirements.txt"]
    run = model.instruction_at(21)
    assert "torch==${TORCH_VERSION}" in run.raw and "torch==${TORCH_VERSION}" in run.value  # the shell's job
    assert "torch==2.3.1 --index-url https://download.pytorch.org/whl/cu121" in run.expanded
    assert run.workdir == "/worker"
    assert stage.env["HF_HOME"] == "/runpod-volume/hf-cache"


def test_secret_and_cache_mounts():
    sdxl = parse_dockerfile(project("runpod-sdxl").dockerfile)
    run = sdxl.instruction_at(25)
    assert [(m.type, m.id, m.target) for m in run.mounts] == [("secret", "hf_token", "/run/secrets/hf_token")]
    assert run.arguments.startswith('HF_TOKEN="$(cat /run/secrets/hf_token)" python3.11 fetch_weights.py')
    assert sdxl.secret_ids() == ["hf_token"]
    downloader = parse_dockerfile(project("runpod-downloader").dockerfile)
    assert ([(m.type, m.target) for m in downloader.instruction_at(18).mounts]
            == [("cache", "/root/.cache/pip")])
    assert downloader.secret_ids() == []


def test_multi_stage_copy_from_and_stage_scopes():
    model = parse_dockerfile(project("runpod-downloader").dockerfile)
    downloader, runtime = model.stages
    assert (downloader.name, downloader.base, runtime.name, runtime.base) == (
        "downloader", "python:3.11-slim", None, "python:3.11-slim")
    assert downloader.args == {"MODEL_ID": "stabilityai/sdxl-turbo"}
    assert runtime.args == {}  # ARGs end with their stage
    assert runtime.env == {"VIRTUAL_ENV": "/opt/venv", "PATH": "/opt/venv/bin:",
                           "MODEL_DIR": "/runpod-volume/models"}
    assert model.instruction_at(15).raw == 'PATH="/opt/venv/bin:${PATH}"'  # the text keeps ${PATH}
    [ref] = model.copy_from
    assert (ref.ref, ref.line, ref.stage, ref.resolved) == ("downloader", 20, 0, True)
    assert model.chain() == [runtime]


def test_heredocs_stage_chain_and_commands():
    model = parse_dockerfile(project("docker-gunicorn").dockerfile)
    base, app = model.stages
    assert model.directives == {"syntax": "docker/dockerfile:1.7"}
    run = model.instruction_at(4)
    [doc] = run.heredocs
    assert ((doc.marker, doc.first_line, doc.last_line, doc.quoted, doc.strip_tabs)
            == ("EOF", 5, 9, False, False))
    assert (run.line, run.end_line) == (4, 9)
    assert base.apt_packages == ["curl"]  # the heredoc body is the script the RUN runs
    copy = model.instruction_at(18)
    [conf] = copy.heredocs
    assert (conf.marker, conf.quoted, conf.strip_tabs, copy.end_line) == ("CONF", True, True, 21)
    assert conf.body == '\tbind = "0.0.0.0:8000"\n\tworkers = 2\n'
    assert model.instruction_at(22).instruction == "USER"  # the lines after the body read normally
    assert app.parent == 0 and model.external_base() == "python:3.12-slim"
    assert (app.user, app.workdir, app.expose) == ("app", "/srv", [8000])
    assert app.healthcheck.text == "curl -fsS http://localhost:8000/healthz || exit 1"
    assert model.effective_argv() == (
        ["gunicorn", "-c", "/srv/gunicorn.conf.py", "service.main:app", "-k",
         "uvicorn.workers.UvicornWorker"], 26)


def test_entrypoint_reset_and_relative_launcher():
    model = parse_dockerfile(project("runpod-comfy").dockerfile)
    entry, cmd = model.command()
    assert (entry.form, entry.argv, cmd.argv) == ("exec", [], ["./start.sh"])
    assert model.final.env["PATH"] == "/opt/venv/bin:"  # $PATH is the base image's: unknown here
    assert model.final.pip_requirement_files == ["requirements.txt"]


@pytest.mark.parametrize("proj", all_projects(), ids=lambda p: p.root.name)
def test_every_line_of_every_project_is_accounted_for(proj):
    source = scan(proj.text, proj.rel)
    lines = proj.text.splitlines(keepends=True)
    covered = {n for span in source.spans for n in range(span.first_line, span.last_line + 1)}
    for number, line in enumerate(lines, start=1):
        assert number in covered or not line.strip() or line.lstrip().startswith("#")


def test_crlf_bom_and_escape_directive():
    text = "\ufeff# escape=`\r\nFROM python:3.11 AS app\r\nRUN echo one `\r\n    two\r\nCMD [\"x\"]\r\n"
    model = parse_text(text)
    assert model.directives == {"escape": "`"}
    run = model.instruction_at(3)
    assert (run.end_line, run.source) == (4, "RUN echo one `\r\n    two\r\n")
    assert run.raw == "echo one     two"


def test_empty_and_comment_lines_inside_a_continuation_belong_to_it():
    text = ("FROM debian:12\nRUN apt-get update \\\n\n    # a note\n"
            "    && apt-get install -y curl\nCMD [\"sh\"]\n")
    model = parse_text(text)
    run = model.instruction_at(2)
    assert (run.end_line, model.final.apt_packages) == (5, ["curl"])
    assert "# a note" in run.source and "# a note" not in run.raw


def test_an_instruction_continued_at_the_end_of_the_file_is_kept():
    model = parse_text("FROM debian:12\nRUN echo a \\\n    b \\")
    run = model.instruction_at(2)
    assert (run.end_line, run.raw.split()) == (3, ["echo", "a", "b"])


def test_from_flags_stage_names_and_image_copy_from():
    text = ("ARG GO=1.22\nFROM --platform=$BUILDPLATFORM golang:${GO} AS Build\nRUN go build -o /out/app .\n"
            "FROM build AS test\nRUN go test ./...\n"
            "FROM gcr.io/distroless/static\nCOPY --from=BUILD /out/app /app\n"
            "COPY --from=ghcr.io/astral-sh/uv:0.4 /uv /bin/uv\nCOPY --from=0 /out/app /app2\n")
    model = parse_text(text)
    assert [(s.name, s.base, s.parent) for s in model.stages] == [
        ("Build", "golang:1.22", None), ("test", "build", 0), (None, "gcr.io/distroless/static", None)]
    from_build = model.stages[0].instructions[0]
    assert from_build.raw == "--platform=$BUILDPLATFORM golang:${GO} AS Build"
    assert from_build.flags == {"platform": ""}  # the builder's automatic ARGs are unknown statically
    assert [(r.ref, r.stage, r.image) for r in model.copy_from] == [
        ("BUILD", 0, False), ("ghcr.io/astral-sh/uv:0.4", None, True), ("0", 0, False)]
