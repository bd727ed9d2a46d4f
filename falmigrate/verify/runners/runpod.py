"""Source side of ``falmigrate verify`` for RunPod: run the worker's handler through the runpod SDK.

The worker module is executed as ``__main__`` (so a ``start`` call under the main guard fires too)
with ``runpod.serverless.start`` replaced by a recorder: the config it receives is exactly what the
SDK would run. Each case then goes through the SDK's own job path, the one ``--test_input`` uses:
``rp_job.run_job`` for plain/async handlers, and for generators ``rp_job.run_job_generator`` with the
aggregation ``handle_job`` applies (an item carrying "error" ends the job). No cloud, no network:
nothing is posted anywhere. Runs inside the verify worker subprocess (cwd = the source root).

What RunPod did around the handler is done here too, with the same helpers the generated app uses
(``falmigrate.apptemplates.runpod_processes``): a launcher script's lines before the worker run first
(in the worker's folder; their exports become this process's environment), and the processes the
worker's own start-up started are stopped after the cases. Job fields the handler reads beside the
input (``s3Config``) travel at the job's top level, where RunPod puts them.

Values returned: the job's ``output`` (the fal side's response model wraps it as ``output``, which
the framework unwraps), or ``{"error": message}`` for a failed job.

A load-balancing worker has no handler and no start call: run as ``__main__`` it would serve forever. It
is started instead the way RunPod starts it — the image's command in the worker's folder, with ``PORT``
and ``PORT_HEALTH`` set — and the cases are sent to it over HTTP as the Docker runner sends them.
"""

from __future__ import annotations

import asyncio
import json
import os
import runpy
import sys
from pathlib import Path
from typing import Any

from falmigrate.apptemplates.runpod_processes import (
    _falmigrate_children,
    _falmigrate_launch,
    _falmigrate_stop,
)
from falmigrate.errors import VerifyError
from falmigrate.spec import AppSpec, RunpodDetails

# The value the fal side reads for a secret that was a literal key in the source (never the key itself).
SECRET_STAND_IN = "falmigrate-verify-stand-in"


def _load_config(root: Path, spec: AppSpec) -> dict[str, Any]:
    import runpod
    import runpod.serverless

    entry = root / (spec.source.entry_file or "handler.py")
    captured: list[dict[str, Any]] = []
    real_start = runpod.serverless.start

    def _record(config: dict[str, Any]) -> None:
        captured.append(config)

    folder = str(entry.parent.resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    runpod.serverless.start = _record
    argv = sys.argv
    sys.argv = [str(entry)]
    try:
        runpy.run_path(str(entry), run_name="__main__")
    except SystemExit:
        pass
    except Exception as exc:  # the worker failed to import: the source side cannot start
        raise VerifyError(f"cannot run {spec.source.entry_file} under runpod: {type(exc).__name__}: {exc}",
                          file=spec.source.entry_file) from exc
    finally:
        runpod.serverless.start = real_start
        sys.argv = argv
    if not captured or not callable(captured[0].get("handler")):
        raise VerifyError(f"{spec.source.entry_file} did not call runpod.serverless.start with a handler",
                          file=spec.source.entry_file)
    return captured[0]


def _error_text(error: Any) -> Any:
    """A handler exception arrives as the SDK's JSON error report; keep its message."""
    if isinstance(error, str):
        try:
            info = json.loads(error)
        except ValueError:
            return error
        if isinstance(info, dict) and "error_message" in info:
            return f"{info.get('error_type', '')}: {info['error_message']}"
    return error


async def _run_generator(config: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
    from runpod.serverless.modules import rp_job

    result: dict[str, Any] = {"output": []}
    async for partial in rp_job.run_job_generator(config["handler"], job):
        if isinstance(partial.get("output"), dict) and partial["output"].get("error"):
            partial = {"error": partial["output"]["error"]}
        if partial.get("error"):
            return partial
        result["output"].append(partial["output"])
    return result


async def _run(config: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
    from runpod.serverless.modules import rp_handler, rp_job

    if rp_handler.is_generator(config["handler"]):
        return await _run_generator(config, job)
    return await rp_job.run_job(config["handler"], job)


def job_for(case: dict[str, Any], index: int, job_fields: list[str]) -> dict[str, Any]:
    """The job RunPod would build from a request: the input, with job fields at the top level."""
    body = dict(case.get("input") or {})
    job: dict[str, Any] = {"id": f"falmigrate-verify-{index}", "input": body}
    for key in job_fields:
        if key in body:
            job[key] = body.pop(key)
    return job


def _launch(root: Path, details: RunpodDetails) -> int | None:
    """Run a launcher script's lines the way the image ran them before the worker; the group to stop."""
    launcher = next((p for p in details.processes if p.origin == "launcher"), None)
    if launcher is None:
        return None
    folder = root / Path(details.entry).parent
    return _falmigrate_launch(launcher.script or "", launcher.shell, str(folder), Path(launcher.file).name,
                              port=launcher.port, health_path=launcher.health_path)


def _server_port(root: Path, spec: AppSpec, details: RunpodDetails) -> int:
    """A free port when the server reads PORT (RunPod hands every worker its port there), else its own."""
    from falmigrate.importers.dockerfile.routes import read_module
    from falmigrate.verify.runners import docker

    assert spec.server is not None
    info = read_module(root / details.entry)
    return docker.free_port() if info is not None and info.reads_port_env else spec.server.port


def _run_load_balancer(root: Path, spec: AppSpec, details: RunpodDetails,
                       cases: list[dict[str, Any]]) -> list[Any]:
    """One value per case from the worker's own server (``normalize.response_value``'s
    shape, as the fal side)."""
    import subprocess

    import httpx

    from falmigrate.verify.runners import docker

    assert spec.server is not None
    port = _server_port(root, spec, details)
    env = {**os.environ, **spec.image.env, "PORT": str(port), "PORT_HEALTH": str(port),
           "PYTHONUNBUFFERED": "1"}
    # the image's python3 is this environment's interpreter here (the verify worker's, with the SDKs)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    command = list(spec.server.command)
    try:
        process = subprocess.Popen(command, cwd=root / Path(details.entry).parent, env=env,
                                   start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except OSError as exc:
        raise VerifyError(f"cannot start {' '.join(command)!r}: {exc}") from exc
    try:
        try:
            docker.wait_healthy(process, port, spec.server.health_path, docker.STARTUP_TIMEOUT)
        except VerifyError as exc:
            docker.stop(process)
            tail = (process.stderr.read().decode(errors="replace") if process.stderr else "")[-2000:]
            raise VerifyError(f"{exc.message}\n{tail}".rstrip()) from None
        results: list[Any] = []
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            for case in cases:
                try:
                    results.append(docker.request(client, case))
                except httpx.HTTPError as exc:
                    results.append({"error": f"{type(exc).__name__}: {exc}"})
        return results
    finally:
        docker.stop(process)


def run_source(root: Path, spec: AppSpec, cases: list[dict[str, Any]]) -> list[Any]:
    """One value per case: the job's output, or ``{"error": message}`` when the job failed."""
    root = Path(root)
    details = spec.require_details(RunpodDetails)
    if details.kind == "load_balancer":
        return _run_load_balancer(root, spec, details, cases)
    os.environ.setdefault("RUNPOD_LOG_LEVEL", "ERROR")
    group = _launch(root, details)
    before = set(_falmigrate_children())
    try:
        config = _load_config(root, spec)
        results: list[Any] = []
        for index, case in enumerate(cases):
            outcome = asyncio.run(_run(config, job_for(case, index, details.job_fields)))
            if outcome.get("error"):
                results.append({"error": _error_text(outcome["error"])})
            else:
                results.append(outcome.get("output"))
        return results
    finally:
        _falmigrate_stop(group, sorted(set(_falmigrate_children()) - before))


def fal_side_env(src: Path, spec: AppSpec) -> dict[str, str]:
    """Stand-ins for the secrets the rewrite reads instead of literal keys (unset ones only)."""
    details = spec.details_as(RunpodDetails)
    names = details.literal_secrets if details else []
    return {name: SECRET_STAND_IN for name in names if name not in os.environ}
