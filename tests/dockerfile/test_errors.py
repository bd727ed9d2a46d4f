"""Bad Dockerfiles: each a SourceError (exit 2) with file:line, and through `falmigrate convert` nothing
is written."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from falmigrate.cli.app import app
from falmigrate.dockerfile import parse_dockerfile, parse_text
from falmigrate.errors import SourceError
from tests.dockerfile.projects import project


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        pytest.param("FROM python:3.11\nFORM debian\n", 2, "unknown Dockerfile instruction 'FORM'",
                     id="typo"),
        pytest.param("FROM python:3.11\nRUN true\nFROM", 3, "FROM needs arguments", id="from-without-image"),
        pytest.param("FROM python:3.11\nCMD\n", 2, "CMD needs arguments", id="no-arguments"),
        pytest.param("FROM python:3.11 AS a b\n", 1, "cannot read this FROM line", id="from-extra-words"),
        pytest.param("FROM python:3.11\nRUN <<EOF\napt-get update\n", 2, "heredoc <<EOF is never closed",
                     id="heredoc-unclosed"),
        pytest.param("ARG A=${B}-x\nARG B=$A\nFROM python:$A\n", 1, "A -> B -> A",
                     id="arg-cycle-before-from"),
        pytest.param("FROM python:3.11\nARG X=1\nARG TORCH=${CUDA}\nARG CUDA=$TORCH\n", 3,
                     "TORCH -> CUDA -> TORCH", id="arg-cycle-in-stage"),
        pytest.param("FROM python:3.11\nCOPY --from=downloader /models /models\n", 2,
                     "--from=downloader names no stage", id="unknown-stage"),
        pytest.param("FROM python:3.11\nCOPY --from=weights /m /m\nFROM python:3.11 AS weights\n", 2,
                     "--from=weights names no stage", id="stage-defined-later"),
        pytest.param("FROM python:3.11\nRUN --mount=type=cache,from=deps,target=/w true\n", 2,
                     "--from=deps names no stage", id="mount-from-unknown-stage"),
        pytest.param("# escape=x\nFROM python:3.11\n", 1, "unknown escape character", id="bad-escape"),
    ],
)
def test_bad_input_is_a_source_error_with_file_and_line(text, line, needle):
    with pytest.raises(SourceError) as caught:
        parse_text(text, "docker/Dockerfile.prod")
    assert needle in caught.value.message
    assert caught.value.location == f"docker/Dockerfile.prod:{line}"
    assert caught.value.exit_code == 2


def test_self_reference_and_image_refs_are_fine():
    model = parse_text("ARG V=1\nARG V=${V}.2\nFROM python:3.11\nARG PATH_EXTRA=${PATH_EXTRA}:/x\n"
                       "COPY --from=ghcr.io/astral-sh/uv:0.4.18 /uv /bin/uv\n"
                       "COPY --from=busybox:1.36 /bin/sh /sh\n")
    assert model.global_args == {"V": "1.2"}
    assert all(ref.resolved for ref in model.copy_from)


def test_unreadable_file_is_a_source_error(tmp_path):
    path = tmp_path / "Dockerfile"
    path.write_bytes(b"FROM python:3.11\nRUN echo \xff\n")
    with pytest.raises(SourceError) as caught:
        parse_dockerfile(path, tmp_path)
    assert caught.value.location == "Dockerfile"


@pytest.mark.parametrize(
    ("edit", "line", "needle"),
    [
        pytest.param(("ARG BASE_IMAGE=",
                      "ARG BASE_IMAGE=${TORCH_VERSION}\nARG TORCH_VERSION=${BASE_IMAGE}\n#"), 5,
                     "ARG defaults refer to each other", id="arg-cycle"),
        pytest.param(("COPY src/ /worker/src/", "COPY --from=weights src/ /worker/src/"), 28,
                     "--from=weights names no stage", id="unknown-stage"),
        pytest.param(("RUN chmod +x /start.sh", "COPPY start.sh /start.sh\nRUN chmod +x /start.sh"), 30,
                     "unknown Dockerfile instruction 'COPPY'", id="rejected"),
    ],
)
def test_convert_exits_2_with_file_line_and_writes_nothing(tmp_path, edit, line, needle):
    src = tmp_path / "worker"
    shutil.copytree(project("runpod-sdxl").root, src)
    text = (src / "Dockerfile").read_text()
    (src / "Dockerfile").write_text(text.replace(edit[0], edit[1], 1))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["convert", str(src), "--out", str(out), "--from", "docker", "--json"])
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["location"] == f"Dockerfile:{line}"
    assert needle in error["message"]
    assert not out.exists()
