"""apply_edits: whole instruction spans changed, every other byte kept; bad edit lists refused."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from falmigrate.dockerfile import parse_text
from falmigrate.dockerfile.patch import apply_edits
from falmigrate.dockerfile.source import scan
from falmigrate.errors import SourceError
from falmigrate.spec import DockerfileEdit
from tests.dockerfile.projects import all_projects, project

PROJECTS = all_projects()


def _edit(action, line=None, lines=(), reason="test"):
    return DockerfileEdit(action=action, line=line, lines=list(lines), reason=reason)


@pytest.mark.parametrize("proj", PROJECTS, ids=lambda p: p.root.name)
def test_no_edits_is_identity(proj):
    assert apply_edits(proj.text, [], proj.rel) == proj.text


def test_each_action_in_place():
    text = project("runpod-downloader").text
    edits = [
        _edit("insert_before", 12, ["# fal: the runtime stage", "LABEL ai.fal.route=entry-point"]),
        _edit("replace", 18, ["RUN pip install -r requirements.txt"]),
        _edit("insert_after", 20, ["RUN pip install fal"]),
        _edit("delete", 24),
        _edit("append", None, ["CMD [\"python\", \"-m\", \"fal_app\"]"]),
    ]
    lines = apply_edits(text, edits).splitlines()
    original = text.splitlines()
    assert lines[:11] == original[:11]
    assert lines[11:13] == ["# fal: the runtime stage", "LABEL ai.fal.route=entry-point"]
    assert lines[13:19] == original[11:17]
    assert lines[19] == "RUN pip install -r requirements.txt"  # both lines of 18-19 replaced
    assert lines[20:22] == [original[19], "RUN pip install fal"]
    assert lines[22:25] == original[20:23]
    assert lines[25:] == ['CMD ["python", "-m", "fal_app"]']  # old CMD deleted, new one at the end


def test_heredoc_instruction_is_one_span():
    text = project("docker-gunicorn").text
    out = apply_edits(text, [_edit("insert_after", 4, ["RUN pip install fal"]), _edit("delete", 18)])
    model = parse_text(out)
    assert model.instruction_at(10).source == "RUN pip install fal\n"  # after the body's EOF line
    assert "CONF" not in out and "gunicorn.conf.py\n" not in out.split("ENTRYPOINT")[0]
    assert out.count("EOF") == 2


def test_crlf_and_missing_final_newline_are_kept():
    text = "FROM python:3.11\r\nRUN pip install \\\r\n    numpy\r\nCMD [\"python\"]"
    out = apply_edits(text, [_edit("insert_after", 2, ["RUN pip install fal"])])
    assert (out == "FROM python:3.11\r\nRUN pip install \\\r\n    numpy\r\n"
                   "RUN pip install fal\r\nCMD [\"python\"]")
    out = apply_edits(text, [_edit("append", None, ["EXPOSE 8000"])])
    assert out == text + "\r\nEXPOSE 8000\r\n"


def test_several_inserts_at_one_place_keep_list_order():
    text = "FROM python:3.11\nCMD [\"python\"]\n"
    edits = [_edit("insert_before", 2, ["ENV A=1"]), _edit("insert_before", 2, ["ENV B=2"]),
             _edit("append", None, ["LABEL x=1"]), _edit("append", None, ["LABEL y=2"])]
    assert (apply_edits(text, edits)
            == "FROM python:3.11\nENV A=1\nENV B=2\nCMD [\"python\"]\nLABEL x=1\nLABEL y=2\n")


@pytest.mark.parametrize(
    ("edits", "line", "needle"),
    [
        pytest.param([_edit("replace", 4, ["RUN true"])], 4, "does not start an instruction",
                     id="continuation-line"),
        pytest.param([_edit("delete", 1)], 1, "does not start an instruction", id="comment-line"),
        pytest.param([_edit("insert_after", 99, ["RUN true"])], 99, "does not start an instruction",
                     id="past-end"),
        pytest.param([_edit("replace", 2, ["RUN a"]), _edit("insert_after", 2, ["RUN b"])], 2, "overlapping",
                     id="replace-and-insert"),
        pytest.param([_edit("delete", 2), _edit("delete", 2)], 2, "overlapping", id="two-deletes"),
        pytest.param([_edit("append", 2, ["RUN a"])], 2, "takes no line", id="append-with-line"),
        pytest.param([_edit("delete", 2, ["RUN a"])], 2, "takes no lines", id="delete-with-lines"),
        pytest.param([_edit("insert_before", 2)], 2, "needs lines", id="insert-without-lines"),
        pytest.param([_edit("insert_before", 2, ["pip install fal"])], 2, "not Dockerfile instructions",
                     id="not-an-instruction"),
        pytest.param([_edit("insert_before", 2, ["RUN <<EOF", "echo"])], 2, "not whole instructions",
                     id="unclosed-heredoc"),
        pytest.param([_edit("insert_before", 2, ["# only a note"])], 2, "not Dockerfile instructions",
                     id="comment-only"),
    ],
)
def test_bad_edits_are_refused(edits, line, needle):
    text = "# worker\nFROM debian:12\nRUN apt-get update && \\\n    apt-get install -y curl\nCMD [\"sh\"]\n"
    with pytest.raises(SourceError) as caught:
        apply_edits(text, edits, "docker/Dockerfile")
    assert needle in caught.value.message
    assert caught.value.location == f"docker/Dockerfile:{line}"


def test_an_edit_cannot_swallow_the_rest_of_the_file():
    text = "FROM debian:12\nRUN true\nCMD [\"sh\"]\n"
    with pytest.raises(SourceError) as caught:
        apply_edits(text, [_edit("insert_after", 1, ["RUN echo \\", "  done \\"])])
    assert "not whole instructions" in caught.value.message or "how the rest" in caught.value.message


# -- property: random edit sets on the real files leave every untouched instruction byte-identical --

_NEW = st.sampled_from(["RUN pip install fal", "ENV FAL_X=1", "LABEL fal.route=image",
                        "RUN <<EOF\necho hi\nEOF"])


@st.composite
def _edit_sets(draw):
    proj = draw(st.sampled_from(PROJECTS))
    starts = [span.first_line for span in scan(proj.text).spans]
    chosen = draw(st.lists(st.sampled_from(starts), unique=True, max_size=len(starts)))
    edits = []
    for line in chosen:
        kind = draw(st.sampled_from(["insert_before", "insert_after", "replace", "delete", "both_inserts"]))
        if kind == "both_inserts":
            edits += [_edit("insert_before", line, [draw(_NEW)]), _edit("insert_after", line, [draw(_NEW)])]
        else:
            edits.append(_edit(kind, line, [] if kind == "delete" else [draw(_NEW)]))
    edits += [_edit("append", None, [draw(_NEW)]) for _ in range(draw(st.integers(0, 2)))]
    return proj, draw(st.permutations(edits))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_edit_sets())
def test_untouched_instructions_are_byte_identical(case):
    proj, edits = case
    text = proj.text
    out = apply_edits(text, edits, proj.rel)
    before = scan(text)
    after = scan(out)
    touched = {e.line for e in edits if e.action in ("replace", "delete")}
    kept = [before.text_of(s) for s in before.spans if s.first_line not in touched]
    new = {"\n".join(e.lines) + "\n" for e in edits if e.lines}
    out_sources = [after.text_of(s) for s in after.spans]
    assert [s for s in out_sources if s not in new or s in kept] == kept
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#") or not line.strip()]
    out_lines = out.splitlines()
    assert all(out_lines.count(c) >= comments.count(c) for c in set(comments))
    assert len(after.spans) == len(before.spans) - len(touched) + sum(1 for e in edits if e.lines)
