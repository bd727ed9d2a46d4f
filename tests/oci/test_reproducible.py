"""Reproducibility: the same tree packed by processes with different umasks, made on disk in a different
order with different mtimes, gives the same layer and manifest digests in every compression; a real
difference (one file's mode) does change them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# (path, kind, payload, mode): made in list order or reversed; modes set explicitly (umask must not leak)
ENTRIES = [
    ("bin", "dir", None, 0o755),
    ("bin/run.sh", "file", b"#!/bin/sh\necho hi\n", 0o755),
    ("lib", "dir", None, 0o755),
    ("lib/python3", "dir", None, 0o750),
    ("lib/python3/m\u00f6dule_\u65e5\u672c.py", "file", b"x = 1\n" * 700, 0o644),
    ("lib/python3/" + "long_" * 30 + "name.py", "file", b"", 0o600),
    ("lib/python3/weights.bin", "file", bytes(range(256)) * 9000, 0o644),
    ("lib/python3/alias.bin", "hardlink", "lib/python3/weights.bin", None),
    ("lib/current", "symlink", "python3", None),
    ("empty-dir", "dir", None, 0o700),
]

MAKER = r"""
import json, os, sys
from pathlib import Path
from falmigrate.oci.transports import repack
umask, mtime, order, root, layout, chmods = sys.argv[1:7]
os.umask(int(umask, 8))
entries = json.loads(sys.stdin.read())
if order == "reversed":  # parents still first: sort by depth, then reverse name order
    entries = sorted(entries, key=lambda e: (e[0].count("/"), [-ord(c) for c in e[0]]))
    entries.sort(key=lambda e: e[1] == "hardlink")  # a link needs its target to exist
root = Path(root)
root.mkdir()
for path, kind, payload, mode in entries:
    target = root / path
    if kind == "dir":
        target.mkdir()
    elif kind == "file":
        target.write_bytes(payload.encode("latin-1"))
    elif kind == "hardlink":
        os.link(root / payload, target)
    else:
        os.symlink(payload, target)
    if mode is not None:
        os.chmod(target, mode)
for path, mode in json.loads(chmods).items():
    os.chmod(root / path, int(mode, 8))
for dirpath, dirs, files in os.walk(root, topdown=False):
    for name in dirs + files:
        os.utime(os.path.join(dirpath, name), (int(mtime), int(mtime)), follow_symlinks=False)
out = {}
for compression in ("gzip", "zstd", "flashpack"):
    result = repack(f"dir-tree:{root}", f"oci:{layout}:{compression}", compression)
    out[compression] = [result["digest"], [layer["digest"] for layer in result["layers"]]]
print(json.dumps(out))
"""


def _pack(tmp: Path, name: str, umask: str, mtime: int, order: str, chmods: dict | None = None) -> dict:
    payload = json.dumps([(p, k, d.decode("latin-1") if isinstance(d, bytes) else d, m)
                          for p, k, d, m in ENTRIES])
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run([sys.executable, "-c", MAKER, umask, str(mtime), order, str(tmp / name),
                           str(tmp / f"{name}-oci"), json.dumps(chmods or {})],
                          input=payload, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_same_digests_across_umask_mtime_and_creation_order(tmp_path):
    first = _pack(tmp_path, "a", "022", 1_000_000_000, "forward")
    second = _pack(tmp_path, "b", "077", 1_700_000_000, "reversed")
    assert first == second
    assert len({tuple(v[1]) for v in first.values()}) == 3  # three encodings, three different blobs
    # the trees really were made differently (mtimes and modes on disk differ), the layers don't.
    # Creation order is not asserted through inode numbers: file systems reuse freed inodes.
    assert os.stat(tmp_path / "b" / "bin").st_mtime != os.stat(tmp_path / "a" / "bin").st_mtime
    # the packer's umask decides the blob files' permissions, as for any file the user writes
    blob = next((tmp_path / "b-oci" / "blobs" / "sha256").iterdir())
    assert blob.stat().st_mode & 0o077 == 0
    blob = next((tmp_path / "a-oci" / "blobs" / "sha256").iterdir())
    assert blob.stat().st_mode & 0o044 == 0o044


def test_a_real_difference_changes_the_digests(tmp_path):
    first = _pack(tmp_path, "a", "022", 1_000_000_000, "forward")
    changed = _pack(tmp_path, "b", "022", 1_000_000_000, "forward", {"bin/run.sh": "700"})
    for compression in first:
        assert first[compression][0] != changed[compression][0]
