"""RunPod importer: handler discovery, request fields, knobs, image, and bad input."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from falmigrate.errors import SourceError
from falmigrate.importers import detect
from falmigrate.importers.runpod import RunpodImporter
from falmigrate.importers.runpod.mapping import machine_for
from tests.helpers.golden import fixture_request

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "runpod"


def load(name: str):
    return RunpodImporter().load(FIXTURES / name / "input")


def project(tmp_path: Path, code: str, files: dict[str, str] | None = None) -> Path:
    (tmp_path / "handler.py").write_text(textwrap.dedent(code))
    for rel, text in (files or {}).items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path


def fields(spec) -> dict:
    return {f.name: f for f in spec.endpoints[0].inputs}


def rules(spec) -> list[str]:
    return [f.rule for f in spec.findings]


@pytest.mark.parametrize(("case", "kind"), [
    ("generator_stream", "generator"), ("async_handler", "async"), ("validator_schema", "sync"),
    ("module_init", "sync"), ("error_return", "sync"), ("hub_dockerfile", "async"),
    ("main_guard_init", "sync"),
])
def test_handler_form(case: str, kind: str) -> None:
    spec = load(case)
    assert spec.source.platform == "runpod"
    assert spec.details.kind == kind
    endpoint = spec.endpoints[0]
    assert endpoint.output_mode == ("stream" if kind == "generator" else "single")
    assert endpoint.is_async == (kind == "async")
    assert endpoint.examples, "test_input.json becomes an example"


def test_validator_schema_becomes_constrained_fields() -> None:
    spec = load("validator_schema")
    f = fields(spec)
    assert list(f) == ["text", "times", "style", "ratio", "mode", "sep", "tag"]
    assert f["text"].required and f["text"].type.kind == "str" and f["text"].max_length == 40
    assert (f["times"].required, f["times"].ge, f["times"].le) == (True, 1, 5)
    assert f["mode"].type.kind == "literal" and f["mode"].type.choices == ["join", "lines"]
    assert (f["sep"].required, f["sep"].default, f["sep"].type.kind) == (False, " ", "str")
    # rp_validator skips constraints of fields with a default: not added to the request model
    assert (f["style"].type.kind, f["style"].default, f["ratio"].gt) == ("str", "plain", None)
    notes = {x.location.line: x.message for x in spec.findings if x.rule == "FM304"}
    assert sorted(notes) == [9, 11, 14]
    assert "not enforced by RunPod" in notes[9] and "not a form falmigrate translates" in notes[14]
    assert "FM307" in rules(spec)


def test_reads_without_schema_are_optional_fields() -> None:
    spec = load("async_handler")
    f = fields(spec)
    assert f["numbers"].type.kind == "any" and not f["numbers"].required
    assert f["scale"].type.kind == "float" and f["scale"].default == 2.0
    untyped = [x for x in spec.findings if x.rule == "FM303"]
    assert untyped and "numbers" in untyped[0].message and "scale" not in untyped[0].message


def test_module_init_is_planned_into_setup() -> None:
    spec = load("module_init")
    assert spec.lifecycle.setup == "_falmigrate_init"
    assert spec.details.init == ["VOCAB", "INDEX", "DEVICE"]
    assert "FM309" in rules(spec)


def test_startup_under_the_main_guard_is_planned_too() -> None:
    spec = load("main_guard_init")
    assert spec.lifecycle.setup == "_falmigrate_init" and spec.details.init == ["translator"]
    assert {"FM307", "FM308", "FM309"} <= set(rules(spec))


def test_hub_json_dockerfile_and_tests_json() -> None:
    spec = load("hub_dockerfile")
    assert (spec.name, spec.class_name) == ("word-counter", "WordCounter")
    assert spec.hardware.machine_type == ["GPU-A6000", "GPU-A100"]
    assert spec.scaling.max_multiplexing == 4
    assert spec.secrets == ["HF_TOKEN"]
    image = spec.image
    assert image.base == "runpod/base:0.6.2-cuda12.2.0" and image.cuda == "12.2.0"
    assert image.dockerfile is not None and image.dockerfile.path == "Dockerfile"
    assert image.code_dirs == ["/"]  # `ADD src .` with no WORKDIR: src/handler.py lands in /
    # the endpoint's environment (hub.json/tests.json) is pinned in the image; the secret's is not
    assert [e.lines for e in image.dockerfile.edits] == [["ENV GREETING=hello"]]
    assert spec.source.entry_file == "src/handler.py"
    assert spec.endpoints[0].examples == [{"text": "one two three", "shout": True}, {"text": "a b c d"},
                                          {"text": "hi", "shout": True}]
    assert {"FM305", "FM306", "FM311", "FM312", "FM315", "FM320"} <= set(rules(spec))


def test_scaling_knobs_from_hub_config(tmp_path: Path) -> None:
    hub = {"title": "t", "config": {"gpuIds": "HOPPER_141", "gpuCount": 2, "workersMin": 1, "workersMax": 3,
                                    "idleTimeout": 30, "executionTimeoutMs": 600000}}
    root = project(tmp_path, """
        import runpod
        def handler(job):
            return job["input"]
        runpod.serverless.start({"handler": handler})
    """, {".runpod/hub.json": json.dumps(hub)})
    spec = RunpodImporter().load(root)
    assert spec.hardware.machine_type == "GPU-H200" and spec.hardware.num_gpus == 2
    s = spec.scaling
    assert (s.min_concurrency, s.max_concurrency, s.keep_alive, s.request_timeout) == (1, 3, 30, 600)


@pytest.mark.parametrize(("gpu", "machine", "known"), [
    ("AMPERE_80", "GPU-A100", True), ("ada_80_pro", "GPU-H100", True),
    ("NVIDIA H100 80GB HBM3", "GPU-H100", True),
    ("NVIDIA GeForce RTX 4090", "GPU-A6000", True), ("BLACKWELL_180", "GPU-B200", True),
    ("MYSTERY_1", "GPU-A6000", False),
])
def test_gpu_mapping(gpu: str, machine: str, known: bool) -> None:
    assert machine_for(gpu) == (machine, known)


def test_import_forms_and_config_variable(tmp_path: Path) -> None:
    root = project(tmp_path, """
        from runpod.serverless import start as go
        def work(job):
            return job.get("input", {}).get("n", 3)
        CONFIG = {"handler": work, "concurrency_modifier": lambda c: 8}
        if __name__ == "__main__":
            go(CONFIG)
    """)
    spec = RunpodImporter().load(root)
    assert spec.endpoints[0].handler == "work"
    assert fields(spec)["n"].default == 3 and fields(spec)["n"].type.kind == "int"
    assert spec.scaling.max_multiplexing == 8
    assert "FM316" in rules(spec)  # sync handler multiplexed


def test_detect_prefers_runpod_over_docker(tmp_path: Path) -> None:
    assert RunpodImporter().detect(FIXTURES / "hub_dockerfile" / "input") == 0.9
    assert detect(FIXTURES / "hub_dockerfile" / "input").platform == "runpod"
    (tmp_path / "app.py").write_text("print('hi')\n")
    assert RunpodImporter().detect(tmp_path) == 0.0


def test_no_start_call_is_a_source_error(tmp_path: Path) -> None:
    root = project(tmp_path, "import runpod\n\ndef handler(job):\n    return 1\n")
    with pytest.raises(SourceError, match="no runpod.serverless.start"):
        RunpodImporter().load(root)


def test_two_start_calls_name_both_places(tmp_path: Path) -> None:
    root = project(tmp_path, """
        import runpod
        def a(job):
            return 1
        runpod.serverless.start({"handler": a})
    """, {"other.py": "import runpod\n\ndef b(job):\n    return 2\n\n"
                      "runpod.serverless.start({'handler': b})\n"})
    with pytest.raises(SourceError) as info:
        RunpodImporter().load(root)
    assert "handler.py:5" in str(info.value) and "other.py:6" in str(info.value)
    assert info.value.line is not None


def test_syntax_error_has_file_and_line(tmp_path: Path) -> None:
    root = project(tmp_path,
                   "import runpod\n\ndef handler(job)\n    return 1\n\n"
                   "runpod.serverless.start({'handler': handler})\n")
    with pytest.raises(SourceError) as info:
        RunpodImporter().load(root)
    assert (info.value.file, info.value.line) == ("handler.py", 3)


@pytest.mark.parametrize("config",
                         ['{"handler": lambda job: 1}', '{"handler": imported}', '{"other": 1}', "make()"])
def test_unusable_handler_is_a_source_error(tmp_path: Path, config: str) -> None:
    root = project(tmp_path, f"import runpod\nfrom x import imported\n\nrunpod.serverless.start({config})\n")
    with pytest.raises(SourceError) as info:
        RunpodImporter().load(root)
    assert info.value.file == "handler.py" and info.value.line == 4


def test_invalid_hub_json_is_a_source_error(tmp_path: Path) -> None:
    root = project(tmp_path,
                   "import runpod\ndef h(job):\n    return 1\nrunpod.serverless.start({'handler': h})\n",
                   {".runpod/hub.json": "{\n  \"title\": ,\n}"})
    with pytest.raises(SourceError) as info:
        RunpodImporter().load(root)
    assert (info.value.file, info.value.line) == (".runpod/hub.json", 2)


def test_spec_round_trips_and_is_relative() -> None:
    for case in sorted(p.name for p in FIXTURES.iterdir()):
        spec = RunpodImporter().load(FIXTURES / case / "input", fixture_request(FIXTURES / case))
        assert type(spec).from_json(spec.to_json()) == spec
        assert spec.source.root == "." and not any(f.startswith("/") for f in spec.source.files)


def test_runpod_pytorch_base_keeps_cuda_and_python(tmp_path: Path) -> None:
    root = project(tmp_path,
                   "import runpod\ndef h(job):\n    return 1\nrunpod.serverless.start({'handler': h})\n", {
        "Dockerfile": "ARG BASE=runpod/pytorch:2.1.0-py3.10-cuda11.8.0-devel-ubuntu22.04\nFROM ${BASE}\n"
                      "WORKDIR /workspace\nRUN apt-get update && apt-get install -y git-lfs\n"
                      "RUN pip install diffusers==0.27.2 transformers\nRUN python -c 'print(1)'\n"
                      "COPY handler.py .\nCMD [\"python\", \"-u\", \"handler.py\"]\n"})
    spec = RunpodImporter().load(root)
    image = spec.image
    assert image.base == "runpod/pytorch:2.1.0-py3.10-cuda11.8.0-devel-ubuntu22.04"
    assert (image.python, image.cuda) == ("3.10", "11.8.0")
    assert image.dockerfile.edits == [] and image.code_dirs == ["/workspace"]
    assert image.cmd is None and image.entrypoint is None and image.exposed_port is None
    assert spec.hardware.machine_type == "GPU-A6000" and "FM324" in rules(spec)  # a CUDA base: a GPU machine
