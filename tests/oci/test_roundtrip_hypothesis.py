"""hypothesis: random trees (unicode names, paths over 100 bytes, empty files, symlinks, hardlinks, larger
sparse-ish files, FIFOs, modes, user xattrs) → deterministic tar → gzip, zstd and FlashPack layers with one
diff_id → extracted with Python's tarfile (each encoding) and with ``umoci unpack`` (gzip image in an OCI
layout) → the same tree: types, modes, contents, link targets and hardlink groups (and xattrs, for umoci)."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import tarfile
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from falmigrate.oci.compress import compress_tar
from falmigrate.oci.layout import Layout, stored_layer
from falmigrate.oci.objects import Image, ImageConfig, decompressing
from falmigrate.oci.tarwriter import tree_tar
from tests.oci.schemas import check_layout

NAMES = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\\x00"),
                min_size=1, max_size=30).filter(
    lambda s: s not in (".", "..") and not s.startswith(".wh.") and len(s.encode()) < 120)
FILE_MODES = st.sampled_from([0o644, 0o600, 0o755, 0o700, 0o444])
DIR_MODES = st.sampled_from([0o755, 0o750, 0o700])
# sparse-ish: mostly zeros with a few islands of data, up to a few MB
SPARSE = st.tuples(st.integers(64 << 10, 3 << 20),
                   st.lists(st.tuples(st.floats(0, 1), st.binary(min_size=1, max_size=512)), max_size=4))
CONTENT = st.one_of(st.just(b""), st.binary(max_size=2048), SPARSE)


class _Paths:
    """Paths of a drawn tree: each is used once and none is longer than 3000 bytes."""

    def __init__(self) -> None:
        self.dirs: list[str] = [""]
        self.files: list[str] = []
        self.taken: set[str] = set()

    def fresh(self, parent: str, name: str) -> str | None:
        path = f"{parent}/{name}" if parent else name
        if path in self.taken or len(path.encode()) > 3000:
            return None
        self.taken.add(path)
        return path

    def draw_fresh(self, draw) -> str | None:
        return self.fresh(draw(st.sampled_from(self.dirs)), draw(NAMES))


@st.composite
def trees(draw) -> list[tuple]:
    """A list of (kind, path, payload, mode) in creation order; parents always come first."""
    paths = _Paths()
    long_dir = paths.fresh("", "long-" + draw(NAMES) + "-" + "d" * 100)  # every tree has paths over 100 bytes
    out = [("dir", long_dir, None, draw(DIR_MODES))]
    paths.dirs.append(long_dir)
    out += _dirs_and_files(draw, paths) + _links(draw, paths)
    if draw(st.booleans()) and (path := paths.draw_fresh(draw)):
        out.append(("fifo", path, None, draw(FILE_MODES)))
    for _ in range(draw(st.integers(0, 2)) if paths.files else 0):
        key = "user." + draw(st.text(alphabet="abcdefghij.-_", min_size=1, max_size=12))
        out.append(("xattr", draw(st.sampled_from(paths.files)),
                    (key, draw(st.binary(min_size=1, max_size=64))), None))
    return out


def _dirs_and_files(draw, paths: _Paths) -> list[tuple]:
    out = []
    for _ in range(draw(st.integers(0, 4))):
        if path := paths.draw_fresh(draw):
            paths.dirs.append(path)
            out.append(("dir", path, None, draw(DIR_MODES)))
    for _ in range(draw(st.integers(1, 7))):
        if path := paths.draw_fresh(draw):
            paths.files.append(path)
            out.append(("file", path, draw(CONTENT), draw(FILE_MODES)))
    return out


def _links(draw, paths: _Paths) -> list[tuple]:
    """Symlinks (relative to a file or directory of the tree, absolute, or dangling) and hardlinks."""
    out = []
    for _ in range(draw(st.integers(0, 3))):
        if path := paths.draw_fresh(draw):
            relative = st.sampled_from(paths.files + paths.dirs[1:]).map(
                lambda t, p=path: os.path.relpath(t, os.path.dirname(p) or "."))
            out.append(("symlink", path, draw(st.one_of(relative, st.just("/etc/passwd"), NAMES)), None))
    for _ in range(draw(st.integers(0, 3)) if paths.files else 0):
        if path := paths.draw_fresh(draw):
            out.append(("hardlink", path, draw(st.sampled_from(paths.files)), None))
    return out


def _make(root: Path, entries: list[tuple]) -> None:
    root.mkdir()
    for kind, path, payload, _ in entries:
        _make_entry(root, kind, root / path, payload)
    for _, path, _, mode in reversed(entries):  # modes last: a 0o444 file or 0o700 dir is still filled
        if mode is not None:
            os.chmod(root / path, mode)


def _make_entry(root: Path, kind: str, target: Path, payload) -> None:
    if kind == "dir":
        target.mkdir()
    elif kind == "file" and isinstance(payload, tuple):
        size, islands = payload
        with open(target, "wb") as handle:
            handle.truncate(size)
            for where, data in islands:
                handle.seek(int(where * max(size - len(data), 0)))
                handle.write(data)
    elif kind == "file":
        target.write_bytes(payload)
    elif kind == "symlink":
        os.symlink(payload, target)
    elif kind == "fifo":
        os.mkfifo(target)
    elif kind == "xattr":
        os.setxattr(target, *payload)
    else:
        os.link(root / payload, target)


def _user_xattrs(path: str) -> dict:
    return {k: os.getxattr(path, k, follow_symlinks=False)
            for k in os.listxattr(path, follow_symlinks=False) if k.startswith("user.")}


def _snapshot(root: Path, xattrs: bool = False) -> tuple[dict, set]:
    """Types, modes, contents, link targets, hardlink groups (and user.* xattrs: umoci restores them,
    Python's tarfile does not)."""
    entries, inodes = {}, {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            st_ = os.lstat(full)
            if stat.S_ISLNK(st_.st_mode):
                entries[rel] = ("symlink", os.readlink(full))
            elif stat.S_ISDIR(st_.st_mode):
                entries[rel] = ("dir", oct(stat.S_IMODE(st_.st_mode)))
            elif stat.S_ISFIFO(st_.st_mode):
                entries[rel] = ("fifo", oct(stat.S_IMODE(st_.st_mode)))
            else:
                with open(full, "rb") as handle:
                    entries[rel] = ("file", oct(stat.S_IMODE(st_.st_mode)),
                                    hashlib.file_digest(handle, "sha256").hexdigest(),
                                    _user_xattrs(full) if xattrs else None)
                inodes.setdefault(st_.st_ino, set()).add(rel)
    return entries, {frozenset(group) for group in inodes.values() if len(group) > 1}


def _tarfile_extract(blob: Path, dest: Path) -> str:
    """Extract the layer with Python's tarfile; returns the sha256 of the stream (its diff_id)."""
    hasher = hashlib.sha256()

    class Hashing:
        def __init__(self, raw):
            self.raw = raw

        def read(self, n=-1):
            data = self.raw.read(n)
            hasher.update(data)
            return data

    with open(blob, "rb") as raw:
        stream = Hashing(decompressing(raw))
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            tar.extractall(dest, filter="tar")
        while stream.read(1 << 20):  # the tar's zero padding after the end-of-archive blocks
            pass
    return "sha256:" + hasher.hexdigest()


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(trees())
def test_random_trees_round_trip_through_every_encoding_tarfile_and_umoci(entries):
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        _make(tmp / "root", entries)
        want = _snapshot(tmp / "root")
        assert any(len(p.encode()) > 100 for p in want[0])
        tar = tree_tar(tmp / "root", tmp / "layer.tar")
        layout = Layout(tmp / "lay")
        layers = {}
        for compression in ("gzip", "zstd", "flashpack"):
            comp = compress_tar(tar, tmp / f"layer.{compression}", compression)
            assert _tarfile_extract(comp.path, tmp / f"x-{compression}") == comp.diff_id
            assert _snapshot(tmp / f"x-{compression}") == want, compression
            layers[compression] = stored_layer(layout, comp)
        assert len({layer.diff_id for layer in layers.values()}) == 1
        assert len({layer.digest for layer in layers.values()}) == 3
        for compression, layer in layers.items():
            layout.write_image(Image.build(ImageConfig.new([layer.diff_id]), [layer]), compression)
        check_layout(tmp / "lay")
        unpack = subprocess.run(["umoci", "unpack", "--rootless", "--image", f"{tmp / 'lay'}:gzip",
                                 str(tmp / "bundle")], capture_output=True, text=True,
                                timeout=120, check=False)
        assert unpack.returncode == 0, unpack.stderr
        assert _snapshot(tmp / "bundle" / "rootfs", xattrs=True) == _snapshot(tmp / "root", xattrs=True)
