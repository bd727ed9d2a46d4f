"""``convert --route compat``: cog projects served by cog's own HTTP server (fixtures/cog-compat/*).

Goldens of every compat fixture, the shape of what fal deploys (image-only app, cog's CMD, the schema
file), the same base image as the native route, the choices that depend on the pinned cog release,
and the refusals (exit 2) for platforms without a server fit to keep. The engine side (the image
builds and answers like the source) is in tests/image and tests/verify/test_verify_compat.py.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from falmigrate.cli.app import app
from falmigrate.convert import convert
from falmigrate.importers.base import ImportRequest
from falmigrate.importers.cog import compat
from falmigrate.render.dockerfile import base_image
from falmigrate.spec import CogDetails
from tests.helpers.golden import FIXTURES, assert_golden, fixture_cases, fixture_request

CASES = fixture_cases("cog-compat")
COMPAT = ImportRequest(route="compat")


def _compat(src: Path, **request: str):
    return convert(src, "cog", request=ImportRequest(route="compat", **request))


def _project(tmp_path: Path, cog_yaml: str, predict: str) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "cog.yaml").write_text(cog_yaml)
    (src / "predict.py").write_text(predict)
    return src


PREDICT = '''from cog import BasePredictor, Input, Path


class Predictor(BasePredictor):
    def predict(self, text: str = Input(default="hi")) -> str:
        return text
'''


def test_three_kinds_of_predictor_among_the_fixtures() -> None:
    specs = {case.name: convert(case / "input", "cog", request=fixture_request(case)).spec for case in CASES}
    assert len(specs) >= 3
    endpoints = [spec.endpoints[0] for spec in specs.values()]
    assert any(e.output.kind in ("file", "image") and any(f.type.kind == "file" for f in e.inputs)
               for e in endpoints)
    assert any(e.output_mode == "stream" for e in endpoints)
    assert any(e.is_async and spec.scaling.max_multiplexing for e, spec in zip(endpoints, specs.values(),
                                                                               strict=True))


@pytest.mark.parametrize("case_dir", CASES, ids=lambda p: p.name)
def test_golden_and_image_only_shape(case_dir: Path) -> None:
    result = convert(case_dir / "input", "cog", request=fixture_request(case_dir))
    assert_golden(case_dir, result.files)
    spec = result.spec
    assert "fal_app.py" not in result.files and not result.rewritten
    assert [app.route for app in spec.served_apps()] == ["image_only"]
    table = tomllib.loads(result.files["pyproject.toml"])["tool"]["fal"]["apps"][spec.name]
    assert table["exposed_port"] == compat.PORT and "python_entry_point" not in table
    assert table["health_check"] == {"path": "/openapi.json"}
    dockerfile = result.files["Dockerfile"]
    assert dockerfile.rstrip().endswith('CMD ["python", "-m", "cog.server.http"]')
    assert 'ENTRYPOINT ["tini", "--"]' in dockerfile and f"EXPOSE {compat.PORT}" in dockerfile
    assert "fal==" not in dockerfile and ".pth" not in dockerfile
    details = spec.require_details(CogDetails)
    assert details.compat is not None
    assert f'ENV COG_PREDICT_TYPE_STUB="{details.compat.predictor_ref}"' in dockerfile
    assert len(re.findall(r"\bcog==", dockerfile)) == 1
    slots = re.search(r"ENV COG_MAX_CONCURRENCY=(\d+)", dockerfile)
    multiplexing = table.get("max_multiplexing", 1)
    assert (int(slots.group(1)) if slots else 1) == (2 * multiplexing if multiplexing > 1 else 1)
    assert details.compat.max_concurrency == multiplexing
    schema = json.loads(result.files[compat.SCHEMA_FILE])
    assert (list(schema["components"]["schemas"]["Input"]["properties"])
            == [f.name for f in spec.endpoints[0].inputs])


@pytest.mark.parametrize("case_dir", CASES, ids=lambda p: p.name)
def test_nothing_of_the_fal_rewrite_is_reported(case_dir: Path) -> None:
    report = json.loads((case_dir / "expected" / "report.json").read_text())
    assert not {f["rule"] for f in report["findings"]} & compat.NATIVE_ONLY_RULES
    for decision in report["decisions"]:
        assert "fal_app" not in decision["target"] and "@fal.endpoint" not in decision["target"], decision
    text = (case_dir / "expected" / "MIGRATION.md").read_text()
    assert "Authorization: Key $FAL_KEY" in text and "/predictions" in text and "TODO(falmigrate" not in text


@pytest.mark.parametrize("name", ["setup_weights", "gpu_devel", "streaming", "image_output"])
def test_same_base_image_as_the_native_route(name: str) -> None:
    source = FIXTURES / "cog" / name / "input"
    native, served = convert(source, "cog").spec, _compat(source).spec
    assert base_image(served.image) == base_image(native.image)
    assert (served.image.cuda, served.image.python_from_uv) == (native.image.cuda,
                                                                native.image.python_from_uv)


def test_pinned_legacy_cog_serves_with_its_fastapi_server(tmp_path: Path) -> None:
    src = _project(tmp_path,
                   'build:\n  python_version: "3.9"\n  sdk_version: "0.16.12"\n'
                   'predict: "predict.py:Predictor"\n',
                   PREDICT)
    result = _compat(src)
    details = result.spec.require_details(CogDetails)
    assert details.compat is not None and details.compat.server == "python"
    assert details.compat.schema_file is None and compat.SCHEMA_FILE not in result.files
    assert result.spec.server is not None and result.spec.server.health.path == "/health-check"
    assert "cog==0.16.12" in result.files["Dockerfile"]
    assert result.spec.image.python == "3.9"
    assert "FM192" in {f.rule for f in result.spec.findings}


def test_python_raised_to_the_floor_of_cogs_server(tmp_path: Path) -> None:
    src = _project(tmp_path,
                   'build:\n  python_version: "3.10"\npredict: "predict.py:Predictor"\nconcurrency:\n'
                   '  max: 3\n', PREDICT.replace("def predict", "async def predict"))
    spec = _compat(src).spec
    assert spec.image.python == "3.11"  # cog's minimum for concurrency
    assert {f.rule for f in spec.findings if f.rule.startswith("FM19")} == {"FM190", "FM195"}


def test_one_prediction_slot_warns_about_409(tmp_path: Path) -> None:
    """cog frees its slot a moment after answering; with one slot nothing can absorb a request then."""
    src = _project(tmp_path, 'build:\n  python_version: "3.11"\npredict: "predict.py:Predictor"\n', PREDICT)
    spec = _compat(src).spec
    details = spec.require_details(CogDetails)
    assert details.compat is not None and (details.compat.slots, details.compat.max_concurrency) == (1, 1)
    busy = [f for f in spec.findings if f.rule == "FM195"]
    assert len(busy) == 1 and "retry a 409" in busy[0].remediation and "COG_MAX_CONCURRENCY" not in \
        _compat(src).files["Dockerfile"]


def test_synchronous_predictor_with_slots_is_an_error(tmp_path: Path) -> None:
    src = _project(tmp_path,
                   'build:\n  python_version: "3.11"\npredict: "predict.py:Predictor"\nconcurrency:\n'
                   '  max: 2\n', PREDICT)
    found = {f.rule: f for f in _compat(src).spec.findings}
    assert found["FM193"].severity == "error" and "async" in found["FM193"].remediation


def test_trainer_is_not_served(tmp_path: Path) -> None:
    source = FIXTURES / "cog" / "function_train" / "input"
    spec = _compat(source).spec
    assert spec.more_apps == [] and "FM191" in {f.rule for f in spec.findings}
    assert "FM124" not in {f.rule for f in spec.findings}


def test_entry_picks_one_project_of_several() -> None:
    case = FIXTURES / "cog" / "multi_model"
    request = json.loads((case / "request.json").read_text())
    spec = _compat(case / "input", entry=request["entry"]).spec
    assert spec.server is not None and spec.source.root == str(Path(request["entry"]).parent)


def test_route_without_compat_leaves_the_native_spec_alone() -> None:
    source = FIXTURES / "cog" / "image_output" / "input"
    assert convert(source, "cog", request=ImportRequest(route="native")).files == convert(source, "cog").files


def _invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize("fixture, words", [
    ("modal/concurrent", ["cog projects only", "Modal"]),
    ("docker/http_server", ["cog projects only", "Docker"]),
    ("runpod/async_handler", ["refused for RunPod", "development tool", "Job ID not found",
                              "docs/from-runpod.md"]),
])
def test_compat_route_elsewhere_is_exit_2_naming_cog(fixture: str, words: list[str], tmp_path: Path) -> None:
    result = _invoke("convert", FIXTURES / fixture / "input", "--route", "compat", "--out", tmp_path / "out")
    assert result.exit_code == 2, result.output
    message = " ".join(result.stderr.split())
    for word in [*words, "cog.server.http"]:
        assert word in message, (word, message)
    assert not (tmp_path / "out").exists()


def test_unknown_route_is_exit_2(tmp_path: Path) -> None:
    result = _invoke("convert", FIXTURES / "cog" / "text_io" / "input", "--route", "replicate",
                     "--out", tmp_path / "out")
    assert result.exit_code == 2 and "native, compat" in result.stderr
    assert not (tmp_path / "out").exists()


def test_cli_writes_the_compat_app(tmp_path: Path) -> None:
    case = CASES[0]
    result = _invoke("convert", case / "input", "--route", "compat", "--out", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert [a["route"] for a in summary["apps"]] == ["image_only"] and "fal_app.py" not in summary["files"]
    assert (tmp_path / "out" / compat.SCHEMA_FILE).is_file()


def test_guide_shows_the_worked_example_as_generated() -> None:
    """docs/from-replicate.md's compat example is the golden output of fixtures/cog-compat/async_batcher."""
    doc = (Path(__file__).resolve().parents[3] / "docs" / "from-replicate.md").read_text()
    expected = FIXTURES / "cog-compat" / "async_batcher" / "expected"
    assert "## Compatibility route" in doc
    assert (expected / "Dockerfile").read_text().split("\n", 1)[1].rstrip() in doc
    assert (expected / "pyproject.toml").read_text().split("\n\n", 1)[1].rstrip() in doc
