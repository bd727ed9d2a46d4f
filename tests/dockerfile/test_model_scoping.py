"""Dockerfile parsing: stages, ARG/ENV scoping and substitution, command forms, installs, errors."""

from __future__ import annotations

import pytest

from falmigrate.dockerfile import installs, parse_dockerfile, parse_text, substitute
from falmigrate.errors import SourceError


def test_substitute_forms():
    env = {"A": "1", "EMPTY": ""}
    assert substitute("$A ${A} ${B:-x} ${EMPTY:-d} ${A:+set} ${B:+set}", env) == "1 1 x d set "
    assert substitute(r"\$A", env) == "$A"


def test_global_args_reach_from_only_through_redeclaration():
    parsed = parse_text("ARG V=3.11\nFROM python:${V}-slim AS b\nARG V\nENV X=$V\nFROM b\nENV Y=${X}-y\n")
    assert [s.base for s in parsed.stages] == ["python:3.11-slim", "b"]
    assert parsed.stages[0].env == {"X": "3.11"}
    assert parsed.final.env == {"X": "3.11", "Y": "3.11-y"}  # inherited from stage b
    assert parsed.external_base() == "python:3.11-slim"
    assert [s.index for s in parsed.chain()] == [0, 1]


def test_undeclared_arg_in_stage_is_empty():
    parsed = parse_text("ARG V=1\nFROM scratch\nENV X=a${V}b\nCMD [\"x\"]\n")
    assert parsed.final.env["X"] == "ab"


def test_env_legacy_and_quoted_forms():
    parsed = parse_text('FROM x\nENV LEGACY some value\nENV A="two words" B=c\n')
    assert parsed.final.env == {"LEGACY": "some value", "A": "two words", "B": "c"}


def test_exec_and_shell_commands_and_entrypoint_reset():
    parsed = parse_text('FROM x AS base\nCMD ["a", "b"]\nFROM base\nENTRYPOINT run.sh --flag\n')
    entry, cmd = parsed.command()
    assert entry.form == "shell" and entry.argv == ["/bin/sh", "-c", "run.sh --flag"]
    assert cmd is None  # ENTRYPOINT resets the CMD inherited from the base stage
    assert parsed.effective_argv() == (["/bin/sh", "-c", "run.sh --flag"], 4)
    parsed = parse_text('FROM x\nCMD ["a"]\nENTRYPOINT ["e"]\n')
    assert parsed.effective_argv() == (["e", "a"], 3)  # a CMD of the same stage stays
    parsed = parse_text('FROM x\nENTRYPOINT ["/e.sh"]\nCMD ["serve", "--port", "1"]\n')
    assert parsed.effective_argv() == (["/e.sh", "serve", "--port", "1"], 2)


def test_invalid_json_exec_form_is_shell_form():
    parsed = parse_text("FROM x\nCMD [uvicorn, main:app]\n")
    assert parsed.final.cmd.form == "shell"


def test_expose_healthcheck_workdir_user():
    parsed = parse_text(
        "FROM x\nENV P=8000\nWORKDIR /srv\nWORKDIR app\nUSER nobody\nEXPOSE $P 9000/udp\n"
        "HEALTHCHECK --interval=5s CMD curl -f http://localhost:8000/hz || exit 1\n"
    )
    final = parsed.final
    assert final.expose == [8000, 9000]
    assert final.workdir == "/srv/app" and final.user == "nobody"
    assert "http://localhost:8000/hz" in final.healthcheck.text


def test_installs_from_run_lines():
    apt, pip, files = installs(
        "apt-get update && apt-get install -y --no-install-recommends curl git && "
        "pip install --no-cache-dir -r req.txt 'numpy<2' torch==2.3 -i https://x/simple ."
    )
    assert apt == ["curl", "git"]
    assert pip == ["numpy<2", "torch==2.3"]
    assert files == ["req.txt"]


def test_multiline_run_is_one_instruction_with_its_line():
    parsed = parse_text("FROM x\nRUN apt-get update \\\n && apt-get install -y vim\nCMD [\"x\"]\n")
    assert parsed.final.apt_packages == ["vim"]
    assert parsed.final.cmd.line == 4


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("RUN echo hi\nFROM x\n", 1, "before the first FROM"),
        ("FROM x\nFORM y\n", 2, "unknown Dockerfile instruction"),
        ("FROM x\nEXPOSE http\n", 2, "not a port"),
        ("# only a comment\n", 1, "no FROM"),
        ("ARG A=1\n", 1, "no FROM"),
    ],
)
def test_broken_dockerfiles_raise_with_line(text, line, needle):
    with pytest.raises(SourceError) as info:
        parse_text(text, "Dockerfile")
    assert needle in info.value.message
    assert info.value.location == f"Dockerfile:{line}"


def test_parse_dockerfile_reads_relative_path_and_never_writes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sub = tmp_path / "proj"
    sub.mkdir()
    (sub / "Dockerfile").write_text("FROM x\nCMD [\"y\"]\n")
    parsed = parse_dockerfile(sub / "Dockerfile", sub)
    assert parsed.path == "Dockerfile"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proj"]  # dockerfile-parse wrote nothing to cwd
