"""The files around a RunPod worker: Dockerfile, ``test_input.json``, ``.runpod/hub.json`` and
``.runpod/tests.json`` → image, examples and knobs.

The Dockerfile is parsed by the Docker-server importer's parser (ARG/ENV substitution, stages) and
turned into an ImageSpec the same way; the RunPod base (``runpod/base:…-cuda12…``,
``runpod/pytorch:…-py3.10-cuda11.8…``) is kept, so the CUDA userland stays what the worker used.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from falmigrate.dockerfile import parse_dockerfile
from falmigrate.errors import SourceError
from falmigrate.importers.dockerfile import find_dockerfile
from falmigrate.importers.dockerfile.image import image_spec
from falmigrate.importers.runpod.mapping import machine_for
from falmigrate.spec import Finding, HardwareSpec, ImageSpec, Location, ScalingSpec

_PY = re.compile(r"py(?:thon)?[-:]?(\d\.\d+)")
_SECRET = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)


@dataclass
class Project:
    image: ImageSpec
    hardware: HardwareSpec = field(default_factory=HardwareSpec)
    scaling: dict[str, int] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    examples: list[dict[str, Any]] = field(default_factory=list)
    title: str | None = None
    description: str | None = None
    files: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def read_json(root: Path, rel: str) -> Any:
    path = root / rel
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SourceError(f"invalid JSON: {exc.msg}", file=rel, line=exc.lineno, column=exc.colno) from exc


def _image(root: Path, entry_dir: str, project: Project) -> ImageSpec:
    path = find_dockerfile(root)
    if path is None and entry_dir:
        path = find_dockerfile(root / entry_dir)
    if path is None:
        req = "requirements.txt" if (root / "requirements.txt").is_file() else None
        project.findings.append(Finding(rule="FM315", severity="info", location=None,
                                        message="no Dockerfile: the image installs requirements.txt on the default base",
                                        remediation="add system packages or a CUDA base to the generated Dockerfile if needed"))
        return ImageSpec(requirements_file=req, python_requirements=[] if req else ["runpod"])
    parsed = parse_dockerfile(path, root)
    project.files.append(parsed.path)
    image, findings = image_spec(parsed, 0)
    project.findings += findings
    python = image.python or (m.group(1) if (m := _PY.search(image.base or "")) else None)
    loc = Location(file=parsed.path, line=parsed.final.line)
    project.findings.append(Finding(
        rule="FM315", severity="info", location=loc,
        message=f"the worker's Dockerfile (base {image.base}) became the fal Dockerfile; its CMD is replaced by fal's runtime",
    ))
    code = {entry_dir or ".", "."}
    copies = [c for c in image.copies  # the project itself is copied to the workdir by the fal Dockerfile
              if c.src.strip("/").removeprefix("./") not in code and c.src.rstrip("/") not in code
              and c.src != image.requirements_file and not c.src.endswith(".py")]
    env = dict(image.env)
    if entry_dir:  # the worker's own modules sit next to it: keep them importable from /app/fal_app.py
        env.setdefault("PYTHONPATH", f"{image.workdir.rstrip('/')}/{entry_dir}")
    return image.model_copy(update={"python": python, "exposed_port": None, "entrypoint": None, "cmd": None,
                                    "env": dict(sorted(env.items())), "copies": copies})


def _env(entries: Any, project: Project, rel: str) -> dict[str, str]:
    env: dict[str, str] = {}
    found: list[str] = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            continue
        key = entry["key"]
        value = entry.get("value", (entry.get("input") or {}).get("default"))
        if _SECRET.search(key):
            if key not in project.secrets:
                project.secrets.append(key)
                found.append(key)
            continue
        if value is not None:
            env[key] = str(value).lower() if isinstance(value, bool) else str(value)
    if found:
        project.findings.append(Finding(rule="FM312", severity="info", location=Location(file=rel),
                                        message=f"environment variables {', '.join(found)} look secret: they become fal "
                                                "secrets (names only, no values copied)",
                                        remediation="create them with `fal secrets set NAME=...`"))
    return env


def _gpus(config: dict[str, Any], project: Project, rel: str) -> None:
    ids = config.get("gpuIds") or config.get("gpuTypeId") or config.get("gpuTypeIds")
    if isinstance(ids, str):
        ids = [i for i in ids.split(",") if i.strip()]
    if config.get("runsOn") == "CPU" and not ids:
        project.hardware = HardwareSpec(machine_type="M")
        return
    if not ids:
        return
    machines: list[str] = []
    for gpu in ids:
        machine, known = machine_for(str(gpu))
        if not known:
            project.findings.append(Finding(rule="FM311", severity="warning", location=Location(file=rel),
                                            message=f"unknown RunPod GPU id {gpu!r}; using {machine}",
                                            remediation="set machine_type to the fal GPU you need"))
        if machine not in machines:
            machines.append(machine)
    count = config.get("gpuCount")
    project.hardware = HardwareSpec(machine_type=machines[0] if len(machines) == 1 else machines, gpu=True,
                                    num_gpus=int(count) if isinstance(count, int) and count > 1 else None)
    project.findings.append(Finding(rule="FM311", severity="info", location=Location(file=rel),
                                    message=f"RunPod GPUs {', '.join(map(str, ids))} → fal machine_type "
                                            f"{' or '.join(machines)}" + (" (fallbacks in order)" if len(machines) > 1 else "")))


def _scaling(config: dict[str, Any], project: Project) -> None:
    pairs = {"workersMin": "min_concurrency", "workersMax": "max_concurrency", "idleTimeout": "keep_alive"}
    for key, knob in pairs.items():
        if isinstance(config.get(key), int):
            project.scaling[knob] = config[key]
    if isinstance(config.get("executionTimeoutMs"), int):
        project.scaling["request_timeout"] = max(1, config["executionTimeoutMs"] // 1000)


def _examples(root: Path, project: Project) -> None:
    test_input = read_json(root, "test_input.json")
    if isinstance(test_input, dict) and isinstance(test_input.get("input"), dict):
        project.examples.append(test_input["input"])
        project.files.append("test_input.json")
    tests = read_json(root, ".runpod/tests.json")
    if isinstance(tests, dict):
        project.files.append(".runpod/tests.json")
        for test in tests.get("tests") or []:
            if isinstance(test, dict) and isinstance(test.get("input"), dict) and test["input"] not in project.examples:
                project.examples.append(test["input"])


def read_project(root: Path, entry_dir: str = "") -> Project:
    project = Project(image=ImageSpec())
    project.image = _image(root, entry_dir, project)
    _examples(root, project)
    hub = read_json(root, ".runpod/hub.json")
    tests = read_json(root, ".runpod/tests.json")
    env: dict[str, str] = {}
    hub_gpus = False
    if isinstance(hub, dict):  # the endpoint's own settings; tests.json only fills what it leaves open
        project.files.append(".runpod/hub.json")
        project.title = hub.get("title") if isinstance(hub.get("title"), str) else None
        project.description = hub.get("description") if isinstance(hub.get("description"), str) else None
        config = hub.get("config") if isinstance(hub.get("config"), dict) else {}
        _gpus(config, project, ".runpod/hub.json")
        hub_gpus = project.hardware != HardwareSpec()
        _scaling(config, project)
        env.update(_env(config.get("env"), project, ".runpod/hub.json"))
    if isinstance(tests, dict) and isinstance(tests.get("config"), dict):
        if not hub_gpus:
            _gpus(tests["config"], project, ".runpod/tests.json")
        for key, value in _env(tests["config"].get("env"), project, ".runpod/tests.json").items():
            env.setdefault(key, value)
    if env:
        project.image = project.image.model_copy(update={"env": {**project.image.env, **dict(sorted(env.items()))}})
    return project


def scaling_spec(values: dict[str, int], max_multiplexing: int | None) -> ScalingSpec:
    return ScalingSpec(**values, max_multiplexing=max_multiplexing)
