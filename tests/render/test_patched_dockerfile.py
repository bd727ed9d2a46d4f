"""A user's Dockerfile is kept and patched: its edits, then (entry-point route) fal's runtime needs at
the end of the final stage; the preflight of the Dockerfile about to be written lands in the report."""

from __future__ import annotations

import json

from falmigrate import routes
from falmigrate.render import RenderOptions, header, preflight_findings, render_files
from falmigrate.render.userdockerfile import runtime_lines
from falmigrate.spec import DockerfileEdit, ImageSpec, ServerSpec, UserDockerfile
from tests.helpers.specs import echo_spec

USER = """# syntax=docker/dockerfile:1
ARG BASE=python:3.11-slim
FROM ${BASE} AS build
RUN pip wheel --wheel-dir /w tiny==1.0

FROM ${BASE}
ENV PATH="/venv/bin:${PATH}"
COPY --from=build /w /w
COPY . /srv/app
WORKDIR /srv/app
CMD ["python", "handler.py"]
"""


def _spec(**overrides):
    image = ImageSpec(python="3.11", code_dirs=["/srv/app"], dockerfile=UserDockerfile(
        path="docker/Dockerfile",
        edits=[DockerfileEdit(action="replace", line=11, lines=['CMD ["python", "serve.py"]'],
                                                         reason="the server the route needs")]))
    return routes.plan(echo_spec(image=image, **overrides), routes.RouteOptions())


def test_entry_point_route_keeps_the_users_file_and_appends_fals_needs():
    spec = _spec()
    text = render_files(spec, None, RenderOptions(user_dockerfile=USER, fal_version="1.84.0"))["Dockerfile"]
    first, second, rest = text.split("\n", 2)
    # the header goes under the parser directive, which must stay the first line
    assert (first, second) == ("# syntax=docker/dockerfile:1", header(spec))
    patched = USER.replace('CMD ["python", "handler.py"]', 'CMD ["python", "serve.py"]').split("\n", 1)[1]
    assert rest.startswith(patched)
    tail = rest[len(patched):]
    assert tail.rstrip("\n").split("\n") == runtime_lines(spec, USER, "1.84.0")
    assert "COPY fal_app.py /srv/app/fal_app.py" in tail and "write_text('/srv/app\\n')" in tail


def test_image_only_route_gets_only_its_own_edits():
    spec = _spec(server=ServerSpec(command=["python", "serve.py"], port=8000))
    text = render_files(spec, None, RenderOptions(user_dockerfile=USER))["Dockerfile"]
    patched = USER.replace('CMD ["python", "handler.py"]', 'CMD ["python", "serve.py"]')
    assert text == patched.replace("\n", f"\n{header(spec)}\n", 1)


def test_preflight_of_the_written_dockerfile_reaches_the_report():
    broken = USER.replace('ENV PATH="/venv/bin:${PATH}"', 'ENV PATH="/venv/bin"')
    spec = _spec()
    options = RenderOptions(user_dockerfile=broken, context_files=frozenset({"handler.py", "serve.py"}))
    found = preflight_findings(spec, options, {"fal_app.py", "pyproject.toml"})
    # line 7 of the user's file, under the header
    assert [(f.rule, str(f.location)) for f in found] == [("FM055", "Dockerfile:8")]
    report = json.loads(render_files(spec.with_findings(found), None, options)["report.json"])
    assert [f["rule"] for f in report["findings"]] == ["FM055"]
    clean = RenderOptions(user_dockerfile=USER, context_files=frozenset({"handler.py", "serve.py"}))
    assert preflight_findings(spec, clean, {"fal_app.py", "pyproject.toml"}) == []
