"""The pass-through fal app text: literals from the spec, settings, determinism, lint-clean."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from falmigrate.importers.dockerfile import DockerImporter
from falmigrate.render.server_app import render
from falmigrate.spec import HardwareSpec, ScalingSpec

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "docker"
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "input").is_dir())


@pytest.mark.parametrize("case", CASES)
def test_rendered_app_is_deterministic_and_lint_clean(case, tmp_path):
    spec = DockerImporter().load(FIXTURES / case / "input")
    code = render(spec)
    assert code == render(spec)
    tree = ast.parse(code)
    assert [n.name for n in tree.body if isinstance(n, ast.ClassDef)] == [spec.class_name]
    (tmp_path / "fal_app.py").write_text(code)
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "F,E9", "--no-cache", "fal_app.py"],
                          cwd=tmp_path, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout
    assert str(FIXTURES) not in code and "/work/" not in code  # no absolute source paths


def test_literals_and_settings_come_from_the_spec():
    spec = DockerImporter().load(FIXTURES / "flask_gunicorn" / "input")
    spec = spec.model_copy(update={
        "hardware": HardwareSpec(machine_type="GPU-A100", num_gpus=1),
        "scaling": ScalingSpec(keep_alive=300, startup_timeout=900, max_multiplexing=4),
        "secrets": ["HF_TOKEN"],
    })
    code = render(spec)
    assert 'SERVER_COMMAND = ["/bin/sh", "-c", "gunicorn --workers $WORKERS --bind 0.0.0.0:{port} app:app"]' in code
    assert 'int(os.environ.get("FALMIGRATE_SERVER_PORT", "5000"))' in code
    assert 'os.environ.get("FALMIGRATE_SERVER_DIR", "/srv/app")' in code
    assert 'HEALTH_PATH = "/healthz"' in code and "STARTUP_TIMEOUT = 900.0" in code
    for line in ('machine_type = "GPU-A100"', "num_gpus = 1", "keep_alive = 300", "max_multiplexing = 4",
                 "startup_timeout = 900", 'secrets = ["HF_TOKEN"]'):
        assert f"\n    {line}\n" in code


def test_render_needs_a_server():
    spec = DockerImporter().load(FIXTURES / "http_server" / "input").model_copy(update={"server": None})
    with pytest.raises(ValueError, match="spec.server"):
        render(spec)
