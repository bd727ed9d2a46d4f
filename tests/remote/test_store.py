"""The pull store is an OCI layout (one lock, one index writer): pushing a user's layout adds nothing to
it, and a pull and a pack into the same directory at once leave a layout that validates with every tag."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from falmigrate.oci.layout import Layout
from falmigrate.oci.remote import reference
from falmigrate.oci.remote.push import push_layout
from falmigrate.oci.validate import validate


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_pushing_a_users_layout_adds_nothing_to_it(registry, gzip_layout, repo, tmp_path) -> None:
    mine = shutil.copytree(gzip_layout, tmp_path / "mine")
    before = _listing(mine)
    push_layout(mine, "latest", reference.parse(f"{registry}/{repo}:v1"))
    assert _listing(mine) == before  # no lock file, no files/, no temp area


def test_pull_and_pack_into_one_directory_at_once(registry, gzip_layout, flashpack_layout, repo,
                                                  tmp_path) -> None:
    push_layout(gzip_layout, "latest", reference.parse(f"{registry}/{repo}:gz"))
    push_layout(flashpack_layout, "latest", reference.parse(f"{registry}/{repo}:fp"))
    tree = tmp_path / "tree"
    for n in range(30):
        (tree / f"d{n % 5}").mkdir(parents=True, exist_ok=True)
        (tree / f"d{n % 5}" / f"f{n}.txt").write_bytes(os.urandom(64 << 10))
    shared = tmp_path / "shared"
    rounds = 3
    env = {**os.environ, "COLUMNS": "200"}
    falmigrate = [sys.executable, "-m", "falmigrate"]
    pulls = " && ".join(" ".join([*falmigrate, "pull", f"docker://{registry}/{repo}:{name}",
                                  "--store", str(shared)])
                        for _ in range(rounds) for name in ("gz", "fp"))
    packs = " && ".join(" ".join([*falmigrate, "pack", f"dir-tree:{tree}", f"oci:{shared}:packed{n}",
                                  "--compression", "flashpack" if n % 2 else "gzip"]) for n in range(rounds))
    procs = [subprocess.Popen(["sh", "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for script in (pulls, packs)]
    outputs = [proc.communicate(timeout=600)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    assert sorted(Layout(shared).index().tags) == sorted(["gz", "fp", *(f"packed{n}" for n in range(rounds))])
    report = validate(shared)
    assert len(report["manifests"]) == rounds + 2
