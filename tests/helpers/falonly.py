"""A virtualenv with only ``fal`` (the fal version the test venv has), like a CI runner that deploys.

Made once per machine under ``~/.cache/falmigrate`` (serialised by a file lock, reused while the fal
version is the same) and used to run ``fal_deploy_probe.py`` in a converted app's folder without a
network (``unshare -rn``): fal's own reader and deploy preparation, nothing of the app imported.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import sys
import venv
from importlib import metadata
from pathlib import Path

PROBE = Path(__file__).with_name("fal_deploy_probe.py")
CACHE = Path.home() / ".cache" / "falmigrate"


def fal_only_python() -> Path:
    """The python of a venv that has fal (same version as this venv's) and what fal needs, nothing else."""
    version = metadata.version("fal")
    root = CACHE / f"fal-only-{version}-py{sys.version_info.major}{sys.version_info.minor}"
    python = root / "bin" / "python"
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f"{root.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (root / ".ready").is_file():
            return python
        shutil.rmtree(root, ignore_errors=True)
        venv.create(root, with_pip=True)
        done = subprocess.run([str(python), "-m", "pip", "install", "-q", f"fal=={version}"],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"pip install fal=={version} failed:\n{done.stderr[-3000:]}")
        (root / ".ready").write_text(version)
    return python


def probe(folder: Path) -> dict:
    """What fal's reader and deploy preparation make of ``folder``/pyproject.toml, read offline."""
    command = ["unshare", "-rn", str(fal_only_python()), str(PROBE)]
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise AssertionError(f"fal's reader refused {folder}/pyproject.toml:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
