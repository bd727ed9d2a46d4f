"""Every fixture's output builds on the real engine and its image serves like the source project.

Entry-point apps: inside the built image, ``fal_app`` imported by name from ``/`` without PYTHONPATH
answers the fixture's cases as the source app does under its own SDK. Image-only apps: the image's own
server, started as the image starts it, answers them likewise; cases of kind ``sse``/``websocket`` are
checked against their ``expect``.
"""

from __future__ import annotations

import json
import re

import pytest

from falmigrate import falreqs, verify
from falmigrate.convert import convert, write_output
from falmigrate.verify import compat as verify_compat
from falmigrate.verify import runners
from tests.helpers.golden import (
    FIXTURE_SETS,
    fixture_cases,
    fixture_native,
    fixture_platform,
    fixture_request,
)
from tests.helpers.images import build_output, entry_point_results, pip_check, server_results
from tests.importers.runpod.test_runpod_images import NAMES as RUNPOD_OWN_IMAGES

# The RunPod workers with their own Dockerfiles (RunPod/Docker Hub bases, launchers, a server) or a pinned
# torch install only build on the RunPod stand-in base and its offline wheelhouse, which the generic test
# base cannot stand in for: test_runpod_images.py builds and checks those, so each image is checked once.
CASES = [case for fixture_set in FIXTURE_SETS for case in fixture_cases(fixture_set)
         if not (fixture_set == "runpod" and case.name in RUNPOD_OWN_IMAGES)]


def _cases(case, spec) -> list[dict]:
    path = case / "cases.json"
    if path.is_file():
        return verify.load_cases(path)
    return runners.default_cases(spec.source.platform, spec) or verify.default_cases(spec)


def _by_app(spec, cases):
    """(served app, its cases) for each app that has cases; a case names its app by class (``app``)."""
    apps = {app.class_name: app for app in spec.served_apps()}
    groups: dict[str, list[dict]] = {}
    for case in cases:
        groups.setdefault(case.get("app") or spec.class_name, []).append(case)
    return [(apps[name], group) for name, group in groups.items()]


def _pip_check(client, tag, spec) -> None:
    """`pip install fal` last must leave the image consistent, or convert must have said what it replaces."""
    broken = pip_check(client, tag)
    reported = " ".join(f.message for f in spec.findings if f.rule == falreqs.RULE).lower()
    # "x 1.0 has requirement y<2, but you have y 3.0." / "x 1.0 requires y, which is not installed."
    culprits = [(line, re.search(r"but you have (\S+)|requires (\S+), which", line)) for line in broken]
    unreported = [line for line, match in culprits
                  if match is None or (match.group(1) or match.group(2)).lower().rstrip(",") not in reported]
    assert not unreported, "pip check in the image: " + "; ".join(unreported)


def _check_cog_server(client, tag, spec, cases, source) -> None:
    """The image's CMD serves cog's API: /health-check says READY once fal's readiness path answers, and
    POST /predictions {"input": …} answers each case as the source predictor does under cog (compared as
    ``falmigrate verify`` compares: a refusal matches a refusal whatever the wording)."""
    served = verify_compat.server_answers(client.api, tag, spec, [dict(c.get("input") or {}) for c in cases])
    assert served.health["status"] == "READY", served.health
    report = verify.compare(cases, source, [verify_compat.answer_value(answer) for answer in served.answers])
    assert report["ok"], json.dumps([row for row in report["cases"] if not row["equal"]], indent=1)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.name}" for c in CASES])
def test_image_builds_and_answers_like_the_source(case, tmp_path, docker_client, fal_base_image, base_image):
    result = convert(case / "input", fixture_platform(case), request=fixture_request(case),
                     native=fixture_native(case))
    out = write_output(result, tmp_path / "out")
    spec = result.spec
    tag = f"falmigrate-test/fixture-{case.parent.name}-{case.name}:latest".lower().replace("_", "-")
    build_output(docker_client, out, fal_base_image, tag, spec=spec, plain_base=base_image)
    try:
        if any(app.route == "entry_point" for app in spec.served_apps()):
            _pip_check(docker_client, tag, spec)
        for app, cases in _by_app(spec, _cases(case, spec)):
            plain = [c for c in cases if c.get("kind", "http") == "http"]
            source = verify.run_side("source", case / "input", spec, plain) if plain else []
            if app.route == "entry_point":
                # verify's own comparison: a case both sides refuse agrees whatever each side's message
                report = verify.compare(plain, source, entry_point_results(docker_client, tag, spec, plain))
                assert report["ok"], json.dumps(report["cases"], indent=1)
                continue
            if verify_compat.applies(spec):  # cog's own server: called as a Replicate client calls it
                _check_cog_server(docker_client, tag, spec, plain, source)
                continue
            answers = server_results(docker_client, tag, base_image, app, cases)
            http = [a for c, a in zip(cases, answers, strict=True) if c.get("kind", "http") == "http"]
            assert http == source
            for c, answer in zip(cases, answers, strict=True):
                if c.get("kind", "http") != "http":
                    assert answer == c["expect"], json.dumps(answer)
    finally:
        docker_client.images.remove(tag, force=True)
