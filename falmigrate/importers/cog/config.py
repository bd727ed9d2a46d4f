"""Reading ``cog.yaml``: values plus the line of every key, so findings and errors point at file:line.

Both spellings are accepted: ``predict: "predict.py:Predictor"`` and the newer top-level
``run: "run.py:Runner"``. Deprecated keys (``build.python_packages``, ``build.pre_install``) still map
and give a warning finding; keys cog knows but fal has no use for give an info finding; a file that is
not YAML, or keys with the wrong shape, raise ``SourceError`` with the line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from falmigrate.errors import SourceError
from falmigrate.importers.cog import mapping
from falmigrate.spec import Finding, Location

CONFIG_NAME = "cog.yaml"
KeyPath = tuple[Any, ...]


@dataclass
class CogConfig:
    """The parsed cog.yaml and where each key sits."""

    data: dict[str, Any]
    file: str = CONFIG_NAME  # the config's name in the project folder (cog's ``-f``; usually cog.yaml)
    lines: dict[KeyPath, int] = field(default_factory=dict)
    scalars: dict[KeyPath, str] = field(default_factory=dict)  # scalars as written (3.10 stays "3.10")
    findings: list[Finding] = field(default_factory=list)

    def loc(self, *path: Any) -> Location:
        while path and path not in self.lines:
            path = path[:-1]
        return Location(file=self.file, line=self.lines.get(path) if path else None)

    def error(self, message: str, *path: Any, hint: str | None = None) -> SourceError:
        return SourceError(message, file=self.file, line=self.loc(*path).line, hint=hint)

    def text(self, *path: Any) -> str | None:
        """A scalar as written in the file (versions: ``3.10`` is not the float 3.1)."""
        value = self.scalars.get(path)
        return value.strip() if isinstance(value, str) and value.strip() else None

    @property
    def build(self) -> dict[str, Any]:
        return self.data.get("build") or {}

    def predictor_ref(self) -> tuple[str, str, KeyPath]:
        """``(file, class name or "", key path)`` of the predictor/runner
        (``run:`` wins over ``predict:``)."""
        key = "run" if isinstance(self.data.get("run"), str) else "predict"
        ref = self.data.get(key)
        if not isinstance(ref, str) or not ref.strip():
            raise self.error("cog.yaml names no predictor: add `predict: \"predict.py:Predictor\"` "
                             "or `run: \"run.py:Runner\"`", key)
        file, _, name = ref.strip().partition(":")
        if not file.endswith(".py"):
            raise self.error(f"{key}: {ref!r} is not of the form \"file.py:ClassName\"", key)
        return file, name, (key,)  # name "" → Runner or Predictor, as cog's loader picks


def _walk(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], scalars: dict[KeyPath, str]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            sub = (*path, key_node.value)
            lines[sub] = key_node.start_mark.line + 1
            _walk(value_node, sub, lines, scalars)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            sub = (*path, index)
            lines[sub] = item.start_mark.line + 1
            _walk(item, sub, lines, scalars)
    elif isinstance(node, yaml.ScalarNode):
        scalars[path] = node.value


def _parse(text: str, name: str) -> tuple[Any, dict[KeyPath, int], dict[KeyPath, str]]:
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise SourceError(f"{name} is not valid YAML: {problem}", file=name,
                          line=mark.line + 1 if mark else None,
                          column=mark.column + 1 if mark else None) from None
    lines: dict[KeyPath, int] = {}
    scalars: dict[KeyPath, str] = {}
    if node is not None:
        _walk(node, (), lines, scalars)
    return data, lines, scalars


def _finding(config: CogConfig, rule: str, message: str, remediation: str, *path: Any) -> None:
    config.findings.append(Finding(rule=rule, severity=mapping.severity(rule), message=message,
                                   remediation=remediation, location=config.loc(*path)))


def _check_keys(config: CogConfig) -> None:
    data = mapping.mapping()
    for key in config.data:
        info = data["top_keys"].get(key)
        if info is None:
            _finding(config, "FM101", f"cog.yaml key `{key}` is unknown to falmigrate: ignored",
                     "check whether the app needs it on fal", key)
        elif info["status"] == "info" and info.get("rule"):
            _finding(config, info["rule"], f"cog.yaml key `{key}`: {info['fal']}", "nothing to do", key)
    for key in config.build:
        info = data["build_keys"].get(key)
        if info is None:
            _finding(config, "FM101", f"cog.yaml key `build.{key}` is unknown to falmigrate: ignored",
                     "check whether the image needs it", "build", key)
        elif info["status"] == "deprecated":
            _finding(config, "FM100", f"`build.{key}` is deprecated in cog; still converted: {info['fal']}",
                     info["remediation"], "build", key)
        elif info["status"] == "info":
            _finding(config, info["rule"], f"`build.{key}`: {info['fal']}", "nothing to do", "build", key)


def _check_shapes(config: CogConfig) -> None:
    build = config.data.get("build")
    if build is not None and not isinstance(build, dict):
        raise config.error("`build` must be a mapping", "build")
    for key in ("python_packages", "system_packages", "pre_install", "run"):
        value = config.build.get(key)
        if value is not None and not isinstance(value, list):
            raise config.error(f"`build.{key}` must be a list", "build", key)
    for index, step in enumerate(config.build.get("run") or []):
        _check_run_step(config, index, step)
    _check_top_level_shapes(config)


def _check_run_step(config: CogConfig, index: int, step: object) -> None:
    if isinstance(step, dict):
        if not isinstance(step.get("command"), str):
            raise config.error("a `build.run` entry that is a mapping needs a `command` string",
                               "build", "run", index)
        for m, mount in enumerate(step.get("mounts") or []):
            if not isinstance(mount, dict) or mount.get("type") != "secret" or not mount.get("id"):
                raise config.error("`mounts` entries must be {type: secret, id: …, target: …}",
                                   "build", "run", index, "mounts", m)
    elif not isinstance(step, str):
        raise config.error("`build.run` entries are strings or {command, mounts}", "build", "run", index)


def _check_top_level_shapes(config: CogConfig) -> None:
    env = config.data.get("environment")
    if (env is not None
            and (not isinstance(env, list) or not all(isinstance(e, str) and "=" in e for e in env))):
        raise config.error("`environment` must be a list of \"KEY=value\" strings", "environment")
    concurrency = config.data.get("concurrency")
    if concurrency is not None and not (isinstance(concurrency, dict)
                                        and isinstance(concurrency.get("max", 1), int)):
        raise config.error("`concurrency` must be {max: <integer>}", "concurrency")


def read_config(root: Path, name: str = CONFIG_NAME) -> CogConfig:
    """Parse ``root/name`` (cog.yaml); raise ``SourceError`` (with file:line) when it cannot be used."""
    path = Path(root) / name
    if not path.is_file():
        raise SourceError(f"no {name} in the source directory", file=name)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read {name}: {exc}", file=name) from None
    data, lines, scalars = _parse(text, name)
    if not isinstance(data, dict):
        raise SourceError(f"{name} must be a mapping of keys (build, predict, …)", file=name, line=1)
    config = CogConfig(data=data, file=name, lines=lines, scalars=scalars)
    _check_shapes(config)
    _check_keys(config)
    return config
