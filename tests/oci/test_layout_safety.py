"""OCI layout under concurrent writers and killed writers: both writers' images intact and tagged, one
copy per blob, no temp files left; a writer killed at any moment leaves a valid layout, and the next
writer sweeps what it left behind."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from falmigrate.oci.layout import TMP_DIR, Layout, pack_tree
from falmigrate.oci.validate import validate
from tests.helpers.wait import wait_until
from tests.oci.schemas import check_layout

REPO = Path(__file__).resolve().parents[2]

WRITER = """
import sys
from pathlib import Path
from falmigrate.oci.layout import Layout, pack_tree
lay, name, shared, own = sys.argv[1:5]
layout = Layout(Path(lay))
print("ready", flush=True)
sys.stdin.readline()  # the test releases both writers at once
for i in range(3):
    pack_tree(Path(shared), Path(lay), f"{name}-shared-{i}", ("gzip", "zstd", "flashpack")[i])
    desc = pack_tree(Path(own), Path(lay), f"{name}-own-{i}", ("flashpack", "gzip", "zstd")[i])
    for j in range(15):  # many index.json updates racing the other writer's
        layout.tag(desc, f"{name}-tag-{i}-{j}")
"""

LOOPER = """
import os, sys
from pathlib import Path
from falmigrate.oci.layout import pack_tree
lay, tree = sys.argv[1:3]
i = 0
while True:
    pack_tree(Path(tree), Path(lay), f"loop-{os.getpid()}-{i}", ("flashpack", "gzip", "zstd")[i % 3])
    i += 1
"""


def _tree(root: Path, seed: str, size: int) -> Path:
    (root / "d").mkdir(parents=True)
    (root / "d" / "seed.txt").write_text(seed)
    block = hashlib.sha256(seed.encode()).digest()
    (root / "data.bin").write_bytes(b"".join(hashlib.sha256(block + i.to_bytes(4, "little")).digest()
                                             for i in range(size // 32)))
    return root


def _python(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", *args], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _check_store(lay: Path) -> None:
    """Every blob under its own digest, no leftovers, nothing unexpected at the top."""
    blobs = sorted((lay / "blobs" / "sha256").iterdir())
    for blob in blobs:
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name, f"{blob}: content is not its name"
    assert {p.name for p in lay.iterdir()} <= {"oci-layout", "index.json", "blobs",
                                               ".falmigrate.lock", TMP_DIR}
    assert [p.name for p in (lay / "blobs").iterdir()] == ["sha256"]


def test_two_writers_at_once(tmp_path):
    lay = tmp_path / "lay"
    shared = _tree(tmp_path / "shared", "same for both", 3_000_000)
    procs = [_python(WRITER, str(lay), name, str(shared), str(_tree(tmp_path / name, name, 2_000_000)))
             for name in ("a", "b")]
    for proc in procs:  # both started and waiting: release them together
        assert proc.stdout.readline() == b"ready\n", proc.stderr.read().decode()
    for proc in procs:
        proc.stdin.write(b"go\n")
        proc.stdin.flush()
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
    index = Layout(lay).read_index()
    tags = {m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]}
    expected = {f"{n}-{kind}-{i}" for n in "ab" for kind in ("shared", "own") for i in range(3)}
    expected |= {f"{n}-tag-{i}-{j}" for n in "ab" for i in range(3) for j in range(15)}
    assert tags == expected
    assert len(index["manifests"]) == len(expected)
    shared_digests = {m["digest"] for m in index["manifests"]
                      if "-shared-" in m["annotations"]["org.opencontainers.image.ref.name"]}
    assert len(shared_digests) == 3  # a and b wrote the same three images: the same three manifests
    validate(lay)
    check_layout(lay)
    _check_store(lay)
    referenced = {m["digest"] for m in index["manifests"]}
    for digest in list(referenced):
        manifest = json.loads(Layout(lay).blob_path(digest).read_bytes())
        referenced |= {manifest["config"]["digest"], *(layer["digest"] for layer in manifest["layers"])}
    assert {p.name for p in (lay / "blobs" / "sha256").iterdir()} == {d.split(":")[1] for d in referenced}
    assert not (lay / TMP_DIR).exists() or list((lay / TMP_DIR).iterdir()) == []


def _looper_reached(proc: subprocess.Popen, lay: Path, kill_point: str) -> bool:
    """Whether the looping writer ``proc`` is writing a blob now ("mid-blob": a temp file of its own
    holds bytes) or has tagged an image ("after-tag": its next write is under way)."""
    assert proc.poll() is None, proc.stderr.read().decode()
    if kill_point == "mid-blob":
        return any(_size(path) > 0 for path in (lay / TMP_DIR).glob(f"{proc.pid}-*"))
    index = json.loads((lay / "index.json").read_bytes())  # replaced atomically by writers
    tags = [m.get("annotations", {}).get("org.opencontainers.image.ref.name", "") for m in index["manifests"]]
    return any(tag.startswith(f"loop-{proc.pid}-") for tag in tags)


def _size(path: Path) -> int:
    """A temp file's size, 0 once the writer has renamed it away (it does so at any moment)."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def test_killed_writer_leaves_a_valid_layout(tmp_path):
    lay = tmp_path / "lay"
    tree = _tree(tmp_path / "tree", "killed", 8_000_000)
    pack_tree(tree, lay, "before", "gzip")
    leftovers_seen = 0
    for kill_point in ("mid-blob", "after-tag") * 3:
        proc = _python(LOOPER, str(lay), str(tree))
        wait_until(functools.partial(_looper_reached, proc, lay, kill_point), timeout=120,
                   what=f"the writer's {kill_point}")
        proc.send_signal(signal.SIGKILL)
        proc.communicate()  # reaps it and closes its pipes
        report = validate(lay)  # whatever index.json names is complete
        assert report["ok"] and check_layout(lay) >= 4
        assert Layout(lay).resolve("before")
        tmp_dir = lay / TMP_DIR
        leftovers_seen += len(list(tmp_dir.iterdir())) if tmp_dir.exists() else 0
        Layout(lay).temp_path()  # the next writer sweeps what the dead one left
        assert list(tmp_dir.iterdir()) == []
        _check_store(lay)
    assert leftovers_seen > 0  # some kill did land mid-write (else this test proves nothing)


def test_sweep_spares_a_locked_temp_file_of_a_pid_it_cannot_see(tmp_path):
    """A writer in another pid namespace looks dead by pid; its flock on the temp file protects it."""
    import fcntl

    lay = tmp_path / "lay"
    Layout(lay).temp_path()  # makes the temp dir
    foreign = lay / TMP_DIR / "999999999-feedface"  # no such pid here
    fd = os.open(foreign, os.O_WRONLY | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        pack_tree(_tree(tmp_path / "t", "x", 64), lay, "t", "gzip")  # a writer that sweeps first
        assert foreign.exists()
    finally:
        os.close(fd)  # the foreign writer ends (or dies): its lock is released
    Layout(lay).temp_path()
    assert not foreign.exists()
    validate(lay)
