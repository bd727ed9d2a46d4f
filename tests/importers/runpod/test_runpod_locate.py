"""RunPod: the handler and schema found wherever the worker puts them (config variables built before
``start``, aliases, sibling modules, helper functions), converted apps that still answer like the
worker, and bad input through the CLI (exit code, file:line, nothing written)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from falmigrate.cli.app import app as cli_app
from falmigrate.convert import convert, write_output
from falmigrate.errors import SourceError
from falmigrate.importers.runpod import RunpodImporter
from falmigrate.verify import verify


def project(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "worker"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text).lstrip())
    return root


def fields(spec) -> dict:
    return {f.name: f for f in spec.endpoints[0].inputs}


def rules(spec) -> list[str]:
    return [f.rule for f in spec.findings]


def converts_and_agrees(root: Path, tmp_path: Path, inputs: list[dict]) -> dict:
    out = tmp_path / "out"
    write_output(convert(root, "runpod"), out)
    cases = [{"name": f"c{i}", "endpoint": "/", "method": "POST", "input": inp}
             for i, inp in enumerate(inputs)]
    report = verify(root, out, cases, platform="runpod")
    assert report["ok"], report["cases"]
    return report


def test_config_built_in_the_main_guard(tmp_path: Path) -> None:
    root = project(tmp_path, {"handler.py": """
        import runpod

        def handler(job):
            for i in range(job["input"].get("n", 2)):
                yield i

        if __name__ == "__main__":
            config = {"handler": handler}
            config["return_aggregate_stream"] = True
            runpod.serverless.start(config)
    """})
    spec = RunpodImporter().load(root)
    assert spec.details.kind == "generator" and spec.details.return_aggregate_stream
    assert "FM314" not in rules(spec)  # the flag set by item assignment counts
    report = converts_and_agrees(root, tmp_path, [{"n": 3}, {}])
    assert report["cases"][0]["source"] == [0, 1, 2]


def test_config_filled_item_by_item_inside_a_function(tmp_path: Path) -> None:
    root = project(tmp_path, {"handler.py": """
        import runpod

        def handler(job):
            return work(job["input"])

        def work(params):
            return {"p": params["prompt"], "s": params.get("steps", 20)}

        def main():
            cfg = {}
            cfg["handler"] = handler
            cfg["concurrency_modifier"] = lambda current: 4
            runpod.serverless.start(cfg)

        main()
    """})
    spec = RunpodImporter().load(root)
    got = fields(spec)
    assert set(got) == {"prompt", "steps"}  # read by the helper the input is passed to
    assert got["steps"].default == 20 and got["steps"].type.kind == "int"
    assert spec.scaling.max_multiplexing == 4 and "FM306" in rules(spec)
    converts_and_agrees(root, tmp_path, [{"prompt": "a"}, {"prompt": "b", "steps": 3}])


def test_handler_through_an_alias_and_tuple_reads(tmp_path: Path) -> None:
    root = project(tmp_path, {"handler.py": """
        import runpod

        async def handler(job):
            a, b = job["input"]["a"], job["input"]["b"]
            return a + b

        entry = handler
        runpod.serverless.start({"handler": entry})
    """})
    spec = RunpodImporter().load(root)
    assert spec.endpoints[0].handler == "handler" and spec.endpoints[0].is_async
    assert set(fields(spec)) == {"a", "b"}
    converts_and_agrees(root, tmp_path, [{"a": 1, "b": 2}])


def test_handler_and_schema_in_sibling_modules(tmp_path: Path) -> None:
    root = project(tmp_path, {
        "src/handler.py": """
            import runpod
            from rp_handler import run

            runpod.serverless.start({"handler": run})
        """,
        "src/rp_handler.py": """
            from runpod.serverless.utils.rp_validator import validate
            from rp_schemas import INPUT_SCHEMA

            def run(job):
                checked = validate(job["input"], INPUT_SCHEMA)
                if "errors" in checked:
                    return {"error": checked["errors"]}
                args = checked["validated_input"]
                return {"text": args["prompt"] * args["steps"]}
        """,
        "src/rp_schemas.py": """
            INPUT_SCHEMA = {
                "prompt": {"type": str, "required": True},
                "steps": {"type": int, "required": False, "default": 2},
            }
        """,
    })
    spec = RunpodImporter().load(root)
    assert spec.details.handler_file == "src/rp_handler.py"
    assert spec.details.call == "run" and spec.source.entry_file == "src/handler.py"
    got = fields(spec)
    assert got["prompt"].required and got["prompt"].type.kind == "str"
    assert got["steps"].default == 2 and got["steps"].location.file == "src/rp_schemas.py"
    assert [f.location.file for f in spec.findings if f.rule == "FM307"] == ["src/rp_handler.py"]
    report = converts_and_agrees(root, tmp_path,
                                 [{"prompt": "ab"}, {"prompt": "x", "steps": 3}, {"steps": 1}])
    assert report["cases"][1]["source"] == {"text": "xxx"}


def test_unreadable_schema_is_a_finding_and_reads_are_used(tmp_path: Path) -> None:
    root = project(tmp_path, {"handler.py": """
        import runpod
        from runpod.serverless.utils.rp_validator import validate

        def make_schema():
            return {"q": {"type": str, "required": True}}

        def handler(job):
            checked = validate(job["input"], make_schema())
            return (checked["validated_input"]["q"] if "errors" not in checked
                    else {"error": checked["errors"]})

        runpod.serverless.start({"handler": handler})
    """})
    spec = RunpodImporter().load(root)
    finding = next(f for f in spec.findings if f.rule == "FM304")
    assert finding.severity == "warning" and finding.location.line == 8
    assert spec.details.schema_validated is False


@pytest.mark.parametrize(("files", "needle", "where"), [
    ({"handler.py": "import runpod\n\ndef handler(job):\n    return 1\n"}, "no runpod.serverless.start",
     None),
    ({"handler.py": "import runpod\n\ndef h(job):\n    return 1\n\nrunpod.serverless.start({'handler': h})\n",
      "b.py": "import runpod\n\nrunpod.serverless.start({'handler': print})\n"}, "2 RunPod workers",
     "handler.py:6"),
    ({"handler.py": "import runpod\nfrom missing_pkg import h\n\nrunpod.serverless.start({'handler': h})\n"},
     "not a function falmigrate can find", "handler.py:4"),
    ({"handler.py": "import runpod\n\nrunpod.serverless.start(make_config())\n"}, "not a dict literal",
     "handler.py:3"),
    ({"handler.py": "import runpod\n\ndef h(job)\n    return 1\n\nrunpod.serverless.start({'handler': h})\n"},
     "cannot parse Python", "handler.py:3"),
])
def test_bad_workers_fail_through_the_cli(tmp_path: Path, files: dict[str, str], needle: str,
                                          where: str | None) -> None:
    root = project(tmp_path, files)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli_app, ["convert", str(root), "--out", str(out), "--from", "runpod"])
    assert result.exit_code == SourceError.exit_code, result.output
    assert needle in result.stderr
    if where is not None:
        assert where in result.stderr
    assert not out.exists()  # nothing half-written


def test_hub_json_gpus_win_over_tests_json_and_decisions_explain_the_api(tmp_path: Path) -> None:
    root = project(tmp_path, {
        "handler.py": ("import runpod\n\ndef h(job):\n    return 1\n\n"
                       "runpod.serverless.start({'handler': h})\n"),
        ".runpod/hub.json": '{"config": {"gpuIds": "AMPERE_80", "env": [{"key": "HF_TOKEN"}]}}',
        ".runpod/tests.json": '{"tests": [], "config": {"gpuTypeId": "NVIDIA GeForce RTX 4090", '
                              '"env": [{"key": "HF_TOKEN"}, {"key": "MODE", "value": "x"}]}}',
    })
    spec = RunpodImporter().load(root)
    assert spec.hardware.machine_type == "GPU-A100"
    assert [f.location.file for f in spec.findings if f.rule == "FM311"] == [".runpod/hub.json"]
    assert [f.rule for f in spec.findings].count("FM312") == 1 and spec.secrets == ["HF_TOKEN"]
    assert spec.image.env["MODE"] == "x"
    sources = " ".join(d.source for d in spec.decisions)
    assert '{"input": {...}}' in sources and '{"error": msg}' in sources


def test_async_generator_handler_streams_and_aggregates(tmp_path: Path) -> None:
    root = project(tmp_path, {"handler.py": """
        import asyncio
        import runpod

        async def handler(job):
            words = job["input"].get("text", "a b c").split()
            for word in words:
                await asyncio.sleep(0)
                yield {"token": word}
            if job["input"].get("fail"):
                yield {"error": "asked to fail"}

        runpod.serverless.start({"handler": handler})
    """})
    spec = RunpodImporter().load(root)
    assert spec.details.kind == "async_generator" and spec.endpoints[0].output_mode == "stream"
    assert {"FM310", "FM314"} <= set(rules(spec))  # streamed; aggregate flag unset yet "/" aggregates
    report = converts_and_agrees(root, tmp_path, [{"text": "x y"}, {}, {"fail": True}])
    assert report["cases"][0]["source"] == [{"token": "x"}, {"token": "y"}]
    assert "error" in report["cases"][2]["fal"]


@pytest.mark.parametrize(("modifier", "expected"), [
    ("lambda current: 6", 6),
    ("adjust", 5),
    ("lambda current: int(os.environ.get('MAX_CONCURRENCY', '3'))", 3),
    ("lambda current: current", None),
])
def test_concurrency_modifier_ceiling(tmp_path: Path, modifier: str, expected: int | None) -> None:
    root = project(tmp_path, {"handler.py": f"""
        import os
        import runpod

        LIMIT = 5

        def adjust(current):
            return min(current + 1, LIMIT)

        async def handler(job):
            return 1

        runpod.serverless.start({{"handler": handler, "concurrency_modifier": {modifier}}})
    """})
    spec = RunpodImporter().load(root)
    assert spec.scaling.max_multiplexing == expected
    finding = next(f for f in spec.findings if f.rule == "FM306")
    assert finding.severity == "warning" and finding.location.line == 12


def test_input_splatted_into_a_function_gives_its_signature(tmp_path: Path) -> None:
    root = project(tmp_path, {"handler.py": """
        import runpod

        def generate(prompt: str, steps: int = 20, guidance=7.5, *, seed: int | None = None):
            return {"p": prompt, "s": steps, "g": guidance, "seed": seed}

        def handler(job):
            return generate(**job["input"])

        runpod.serverless.start({"handler": handler})
    """})
    spec = RunpodImporter().load(root)
    got = [(f.name, f.type.kind, f.required, f.default) for f in spec.endpoints[0].inputs]
    assert got == [("prompt", "str", True, None), ("steps", "int", False, 20),
                   ("guidance", "float", False, 7.5), ("seed", "int", False, None)]
    assert "FM303" not in rules(spec)  # every field is typed
    converts_and_agrees(root, tmp_path, [{"prompt": "a"}, {"prompt": "b", "steps": 2, "seed": 9}])
