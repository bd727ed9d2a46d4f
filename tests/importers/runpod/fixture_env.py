"""How a RunPod fixture is run locally by the tests: its convert options and its ``prepare.json``.

Some workers need what their image provides before either side can answer: weights a build stage
fetched (``run`` the fixture's own fetch script into a temporary folder) or a port of their own for a
server they start (``{free_port}``, so tests running in parallel do not share one). ``prepare.json``
says so: ``{"run": [[argv…]], "env": {NAME: value}}`` with ``{python}`` (this interpreter), ``{tmp}``
(a fresh folder) and ``{free_port}`` substituted. Both sides inherit the environment.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from falmigrate.convert import ConvertResult, convert
from tests.helpers.golden import fixture_request

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "runpod"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def convert_fixture(case: Path) -> ConvertResult:
    return convert(case / "input", "runpod", request=fixture_request(case))


def prepared(case: Path, tmp: Path) -> dict[str, str]:
    """Run the fixture's preparation into ``tmp``; the environment both sides then need."""
    path = case / "prepare.json"
    if not path.is_file():
        return {}
    plan = json.loads(path.read_text())
    values = {"python": sys.executable, "tmp": str(tmp), "free_port": str(free_port())}
    for argv in plan.get("run", []):
        subprocess.run([arg.format(**values) for arg in argv], cwd=case / "input", check=True,
                       capture_output=True, timeout=120)
    return {name: value.format(**values) for name, value in plan.get("env", {}).items()}


@contextmanager
def fixture_env(case: Path, tmp: Path) -> Iterator[dict[str, str]]:
    """The fixture's environment set in this process (and so in every subprocess) while in the block."""
    env = prepared(case, tmp)
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield env
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
