"""The files around a RunPod worker besides its Dockerfile: ``test_input.json``, ``.runpod/hub.json`` and
``.runpod/tests.json`` → examples, GPU and scaling knobs, the endpoint's environment and secrets.

A repository with several workers keeps these per worker folder: each file is looked up from the
worker's folder up to the root, the nearest one wins. Environment variables whose names hold secrets
(``falmigrate.analysis.secrets``) become fal secrets by name; their values are never read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from falmigrate.analysis.secrets import is_secret_name
from falmigrate.errors import SourceError
from falmigrate.importers.runpod.mapping import machine_for
from falmigrate.spec import Finding, HardwareSpec, ImageSpec, Location, ScalingSpec

SECRET_ENV_RULE = "FM312"


@dataclass
class Project:
    hardware: HardwareSpec = field(default_factory=HardwareSpec)
    scaling: dict[str, int] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # the endpoint's environment (non-secret values)
    examples: list[dict[str, Any]] = field(default_factory=list)
    title: str | None = None
    description: str | None = None
    files: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def add_secrets(self, names: list[str], where: Location | None) -> None:
        new = [n for n in names if n not in self.secrets]
        if not new:
            return
        self.secrets += new
        self.findings.append(Finding(rule=SECRET_ENV_RULE, severity="info", location=where,
                                     message=f"{', '.join(new)} "
                                             f"{'is a secret' if len(new) == 1 else 'are secrets'}: listed "
                                             "in the app's `secrets` by name (no values copied)",
                                     remediation="create them with `fal secrets set NAME=...`"))


def nearest(root: Path, entry_dir: str, rel: str) -> str | None:
    """``rel`` looked up from the worker's folder up to the root; the project-relative path found."""
    folder = PurePosixPath(entry_dir) if entry_dir else PurePosixPath(".")
    while True:
        candidate = (folder / rel).as_posix()
        if (root / candidate).is_file():
            return PurePosixPath(candidate).as_posix()
        if folder == PurePosixPath("."):
            return None
        folder = folder.parent


def read_json(root: Path, rel: str | None) -> Any:
    if rel is None:
        return None
    try:
        return json.loads((root / rel).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SourceError(f"invalid JSON: {exc.msg}", file=rel, line=exc.lineno, column=exc.colno) from exc


def _env(entries: Any, project: Project, rel: str) -> dict[str, str]:
    env: dict[str, str] = {}
    secret: list[str] = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            continue
        key = entry["key"]
        if is_secret_name(key):
            secret.append(key)
            continue
        value = entry.get("value", (entry.get("input") or {}).get("default"))
        if value is not None:
            env[key] = str(value).lower() if isinstance(value, bool) else str(value)
    project.add_secrets(secret, Location(file=rel))
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
                                            f"{' or '.join(machines)}"
                                    + (" (fallbacks in order)" if len(machines) > 1 else "")))


def _scaling(config: dict[str, Any], project: Project) -> None:
    pairs = {"workersMin": "min_concurrency", "workersMax": "max_concurrency", "idleTimeout": "keep_alive"}
    for key, knob in pairs.items():
        if isinstance(config.get(key), int):
            project.scaling[knob] = config[key]
    if isinstance(config.get("executionTimeoutMs"), int):
        project.scaling["request_timeout"] = max(1, config["executionTimeoutMs"] // 1000)


def _examples(root: Path, entry_dir: str, project: Project, tests_rel: str | None) -> None:
    rel = nearest(root, entry_dir, "test_input.json")
    test_input = read_json(root, rel)
    if rel is not None and isinstance(test_input, dict) and isinstance(test_input.get("input"), dict):
        project.examples.append(test_input["input"])
        project.files.append(rel)
    tests = read_json(root, tests_rel)
    if tests_rel is not None and isinstance(tests, dict):
        project.files.append(tests_rel)
        for test in tests.get("tests") or []:
            if (isinstance(test, dict) and isinstance(test.get("input"), dict)
                    and test["input"] not in project.examples):
                project.examples.append(test["input"])


def read_project(root: Path, entry_dir: str = "") -> Project:
    project = Project()
    hub_rel = nearest(root, entry_dir, ".runpod/hub.json")
    tests_rel = nearest(root, entry_dir, ".runpod/tests.json")
    _examples(root, entry_dir, project, tests_rel)
    hub, tests = read_json(root, hub_rel), read_json(root, tests_rel)
    env: dict[str, str] = {}
    hub_gpus = False
    if hub_rel is not None and isinstance(hub, dict):  # the endpoint's own settings; tests.json fills gaps
        project.files.append(hub_rel)
        project.title = hub.get("title") if isinstance(hub.get("title"), str) else None
        project.description = hub.get("description") if isinstance(hub.get("description"), str) else None
        config = hub.get("config") if isinstance(hub.get("config"), dict) else {}
        _gpus(config, project, hub_rel)
        hub_gpus = project.hardware != HardwareSpec()
        _scaling(config, project)
        env.update(_env(config.get("env"), project, hub_rel))
    if tests_rel is not None and isinstance(tests, dict) and isinstance(tests.get("config"), dict):
        if not hub_gpus:
            _gpus(tests["config"], project, tests_rel)
        for key, value in _env(tests["config"].get("env"), project, tests_rel).items():
            env.setdefault(key, value)
    project.env = dict(sorted(env.items()))
    return project


def template_image(root: Path, entry_dir: str, project: Project) -> ImageSpec:
    """The image of a worker without a Dockerfile: its requirements.txt on the default base."""
    req = nearest(root, entry_dir, "requirements.txt")
    project.findings.append(Finding(rule="FM315", severity="info", location=None,
                                    message="no Dockerfile: the image installs "
                                            "requirements.txt on the default base",
                                    remediation="add system packages or a CUDA base to the "
                                                "generated Dockerfile if needed"))
    return ImageSpec(requirements_file=req, python_requirements=[] if req else ["runpod"],
                     env=dict(project.env))


def scaling_spec(values: dict[str, int], max_multiplexing: int | None) -> ScalingSpec:
    return ScalingSpec(**values, max_multiplexing=max_multiplexing)
