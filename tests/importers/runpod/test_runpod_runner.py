"""The RunPod verify runner: the worker's own start call hands over the config; cases go through the
SDK's job path (errors, generator aggregation, handler exceptions)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from falmigrate.errors import VerifyError
from falmigrate.importers.runpod import RunpodImporter
from falmigrate.verify.runners.runpod import run_source


def worker(tmp_path: Path, code: str) -> tuple[Path, object]:
    (tmp_path / "handler.py").write_text(textwrap.dedent(code))
    return tmp_path, RunpodImporter().load(tmp_path)


def test_generator_items_are_aggregated_and_an_error_item_ends_the_job(tmp_path: Path) -> None:
    root, spec = worker(tmp_path, """
        import runpod
        def gen(job):
            for i in range(job["input"]["n"]):
                yield {"error": "too far"} if i == 2 else i
        if __name__ == "__main__":
            runpod.serverless.start({"handler": gen, "return_aggregate_stream": True})
    """)
    assert (run_source(root, spec, [{"input": {"n": 2}}, {"input": {"n": 5}}])
            == [[0, 1], {"error": "too far"}])


def test_async_generator_and_exceptions(tmp_path: Path) -> None:
    root, spec = worker(tmp_path, """
        from runpod.serverless import start
        async def gen(job):
            if job["input"].get("boom"):
                raise ValueError("boom")
            yield job["id"].startswith("falmigrate-verify")
        start({"handler": gen})
    """)
    ok, failed = run_source(root, spec, [{"input": {}}, {"input": {"boom": True}}])
    assert ok == [True]
    assert "boom" in failed["error"]


def test_plain_handler_errors_and_exceptions(tmp_path: Path) -> None:
    root, spec = worker(tmp_path, """
        import runpod
        def h(job):
            x = job["input"]["x"]
            return {"error": "negative"} if x < 0 else {"double": 2 * x}
        runpod.serverless.start({"handler": h})
    """)
    results = run_source(root, spec, [{"input": {"x": 2}}, {"input": {"x": -1}}, {"input": {}}])
    assert results[:2] == [{"double": 4}, {"error": "negative"}]
    assert results[2] == {"error": "<class 'KeyError'>: 'x'"}


def test_worker_that_cannot_start_is_a_verify_error(tmp_path: Path) -> None:
    root, spec = worker(tmp_path, """
        import runpod
        import a_module_that_does_not_exist
        def h(job):
            return 1
        runpod.serverless.start({"handler": h})
    """)
    with pytest.raises(VerifyError, match="a_module_that_does_not_exist"):
        run_source(root, spec, [{"input": {}}])


def test_start_is_restored_after_the_run(tmp_path: Path) -> None:
    import runpod.serverless

    before = runpod.serverless.start
    root, spec = worker(tmp_path,
                        "import runpod\ndef h(job):\n    return 1\nrunpod.serverless.start({'handler': h})\n")
    assert run_source(root, spec, [{"input": {}}]) == [1]
    assert runpod.serverless.start is before


def test_load_balancer_is_served_on_the_port_runpod_hands_it(tmp_path: Path) -> None:
    """No handler, no start call: run as __main__ it would serve forever, so the runner starts it as RunPod
    does (PORT/PORT_HEALTH set) and sends the cases over HTTP."""
    (tmp_path / "Dockerfile").write_text('FROM python:3.11-slim\nCOPY app.py .\nCMD ["python3", "app.py"]\n')
    (tmp_path / "app.py").write_text(textwrap.dedent("""
        import os
        from fastapi import FastAPI
        app = FastAPI()
        @app.get("/ping")
        def ping():
            return {"status": "healthy"}
        @app.post("/echo")
        def echo(body: dict):
            return {"port": os.environ["PORT"] == os.environ["PORT_HEALTH"], **body}
        if __name__ == "__main__":
            import uvicorn
            uvicorn.run(app, host="0.0.0.0", port=int(os.getenv("PORT", "80")))
    """))
    spec = RunpodImporter().load(tmp_path)
    assert spec.server is not None
    cases = [{"endpoint": "/echo", "method": "POST", "input": {"a": 1}},
             {"endpoint": "/ping", "method": "GET"}]
    assert run_source(tmp_path, spec, cases) == [{"port": True, "a": 1}, {"status": "healthy"}]
