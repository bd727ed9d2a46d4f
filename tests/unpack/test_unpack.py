"""Safe unpack: layers in order, whiteouts, opaque dirs, and a corpus of hostile layers (each refused,
nothing outside the target touched)."""

from __future__ import annotations

import concurrent.futures
import gzip
import io
import os
import stat
import tarfile
from pathlib import Path

import pytest
import zstandard

from falmigrate.errors import ImageError, UnsafeArchiveError
from falmigrate.oci.unpack import Entry, Rootfs
from falmigrate.oci.untar import apply_tar, unpack_layers


def _tar(members: list[tuple]) -> bytes:
    """members: (name, kind, payload) with kind reg|dir|sym|link|chr|blk|fifo."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            if kind == "reg":
                data = payload.encode() if isinstance(payload, str) else payload
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "link": tarfile.LNKTYPE,
                         "chr": tarfile.CHRTYPE, "blk": tarfile.BLKTYPE, "fifo": tarfile.FIFOTYPE}[kind]
            info.mode = 0o755 if kind == "dir" else 0o644
            if kind in ("sym", "link"):
                info.linkname = payload
            tar.addfile(info)
    return buf.getvalue()


def _layer(tmp: Path, name: str, members: list[tuple], compress: str = "none") -> Path:
    data = _tar(members)
    if compress == "gzip":
        data = gzip.compress(data)
    elif compress == "zstd":
        data = zstandard.ZstdCompressor().compress(data)
    path = tmp / name
    path.write_bytes(data)
    return path


def _snapshot(path: Path) -> dict[str, tuple]:
    result = {}
    for root, dirs, files in os.walk(path):
        for n in sorted(dirs + files):
            p = Path(root) / n
            st = p.lstat()
            result[str(p.relative_to(path))] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return result


@pytest.mark.parametrize("jobs", [1, 4], ids=["serial", "threads"])
@pytest.mark.parametrize("compress", ["none", "gzip", "zstd"])
def test_layers_in_order_with_whiteouts_and_opaque_dirs(tmp_path: Path, compress: str, jobs: int) -> None:
    base = _layer(tmp_path, "l0", [("etc", "dir", None), ("etc/a", "reg", "a0"), ("etc/gone", "reg", "x"),
                                   ("opq", "dir", None), ("opq/old1", "reg", "o"), ("opq/sub", "dir", None),
                                   ("opq/sub/deep", "reg", "d"), ("bin", "dir", None),
                                   ("bin/tool", "reg", "T"), ("usr", "dir", None), ("usr/lib", "dir", None),
                                   ("lib", "sym", "usr/lib")], compress)
    top = _layer(tmp_path, "l1", [("etc/a", "reg", "a1"), ("etc/.wh.gone", "reg", ""),
                                  ("opq", "dir", None), ("opq/.wh..wh..opq", "reg", ""),
                                  ("opq/new", "reg", "n"),
                                  ("bin/tool2", "link", "bin/tool"), ("lib/libx.so", "reg", "L")], compress)
    target = tmp_path / "rootfs"
    unpack_layers([base, top], target, jobs=jobs)
    assert (target / "etc/a").read_text() == "a1"
    assert not (target / "etc/gone").exists()
    assert sorted(os.listdir(target / "opq")) == ["new"]
    assert os.stat(target / "bin/tool2").st_ino == os.stat(target / "bin/tool").st_ino
    assert (target / "usr/lib/libx.so").read_text() == "L"  # through the in-target relative symlink
    assert os.readlink(target / "lib") == "usr/lib"


def test_file_replaces_symlink_instead_of_writing_through_it(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    layer = _layer(tmp_path, "l", [("f", "sym", str(outside))])
    layer2 = _layer(tmp_path, "l2", [("f", "reg", "new")])
    unpack_layers([layer, layer2], tmp_path / "root")
    assert outside.read_text() == "keep"
    assert (tmp_path / "root/f").read_text() == "new" and not (tmp_path / "root/f").is_symlink()


HOSTILE = {
    "absolute path": [("/abs-escape", "reg", "x")],
    "dotdot traversal": [("../dotdot-escape", "reg", "x")],
    "nested dotdot": [("a", "dir", None), ("a/../../nested-escape", "reg", "x")],
    "symlink parent absolute": [("evil", "sym", "{outside}"), ("evil/planted", "reg", "x")],
    "symlink parent relative": [("evil", "sym", "../outside"), ("evil/planted", "reg", "x")],
    "symlink chain": [("a", "sym", "b"), ("b", "sym", "../outside"), ("a/planted", "reg", "x")],
    "symlink then whiteout": [("evil", "sym", "../outside"), ("evil/.wh.sentinel", "reg", "")],
    "symlink then opaque": [("evil", "sym", "../outside"), ("evil/.wh..wh..opq", "reg", "")],
    "hardlink absolute": [("h", "link", "{outside}/sentinel")],
    "hardlink dotdot": [("h", "link", "../outside/sentinel")],
    "hardlink via symlink": [("s", "sym", "../outside"), ("h", "link", "s/sentinel")],
    "hardlink to directory": [("d", "dir", None), ("h", "link", "d")],
    "whiteout dotdot": [(".wh...", "reg", "")],
    "nested whiteout dotdot": [("a", "dir", None), ("a/.wh...", "reg", "")],
    "whiteout dot": [(".wh..", "reg", "")],
    "char device": [("dev-null", "chr", None)],
    "block device": [("dev-sda", "blk", None)],
}


@pytest.mark.parametrize("jobs", [1, 4], ids=["serial", "threads"])
@pytest.mark.parametrize("case", sorted(HOSTILE), ids=lambda c: c.replace(" ", "-"))
def test_hostile_layer_is_refused_and_nothing_outside_changes(tmp_path: Path, case: str, jobs: int) -> None:
    work = tmp_path / "work"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "sentinel").write_text("precious")
    work.mkdir()
    members = [(n.replace("{outside}", str(outside)), k,
                p.replace("{outside}", str(outside)) if isinstance(p, str) else p)
               for n, k, p in HOSTILE[case]]
    layer = _layer(work, "layer.tar", members)
    target = work / "root"
    target.mkdir()
    before = _snapshot(tmp_path)
    with pytest.raises(UnsafeArchiveError) as info:
        unpack_layers([layer], target, jobs=jobs)
    assert "layer 0" in str(info.value)
    after = _snapshot(tmp_path)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert all(k.startswith("work/root") for k in changed), changed
    assert (outside / "sentinel").read_text() == "precious"
    assert sorted(os.listdir(outside)) == ["sentinel"]
    assert not (tmp_path.parent / "abs-escape").exists() and not Path("/abs-escape").exists()


def test_devices_allowed_when_asked(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.fail("this test needs root to create device nodes (the test machines run as root)")
    layer = _layer(tmp_path, "l",
                   [("dev", "dir", None), ("dev/null", "chr", None), ("dev/fifo", "fifo", None)])
    unpack_layers([layer], tmp_path / "root", allow_devices=True)
    import stat

    assert stat.S_ISCHR(os.lstat(tmp_path / "root/dev/null").st_mode)
    assert stat.S_ISFIFO(os.lstat(tmp_path / "root/dev/fifo").st_mode)


def test_entry_api_refuses_traversal_in_toc_entries(tmp_path: Path) -> None:
    rootfs = Rootfs(tmp_path / "root")
    rootfs.begin_layer("toc")
    rootfs.apply(Entry(name="./ok/", type="dir", mode=0o755))
    with pytest.raises(UnsafeArchiveError, match="traversal"):
        rootfs.apply(Entry(name="./ok/../../x", type="reg"), None)
    with pytest.raises(UnsafeArchiveError, match="unsupported"):
        rootfs.apply(Entry(name="weird", type="socket"), None)


def test_apply_tar_reads_concatenated_zstd_frames(tmp_path: Path) -> None:
    raw = _tar([("a", "reg", "hello"), ("b", "reg", "world" * 1000)])
    half = len(raw) // 2
    cctx = zstandard.ZstdCompressor()
    data = cctx.compress(raw[:half]) + cctx.compress(raw[half:])
    rootfs = Rootfs(tmp_path / "root")
    rootfs.begin_layer("0")
    apply_tar(rootfs, io.BytesIO(data))
    assert (tmp_path / "root/b").read_text() == "world" * 1000


@pytest.mark.parametrize("jobs", [1, 4], ids=["serial", "threads"])
def test_modes_owners_and_mtimes_are_kept(tmp_path: Path, jobs: int) -> None:
    """Files are created through their descriptor with only the chown/chmod calls that change
    something; every mode (set-id bits, read-only, world-writable), owner and mtime must still land."""
    buf = io.BytesIO()
    cases = {"ro": (0o444, 0, 0), "suid": (0o4755, 0, 0), "ww": (0o666, 0, 0), "private": (0o600, 0, 0),
             "owned": (0o2750, 1234, 5678), "big": (0o640, 42, 42)}
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, (mode, uid, gid) in cases.items():
            data = (b"z" * (3 << 20)) if name == "big" else name.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid, info.gid = len(data), mode, uid, gid
            info.mtime = 1_600_000_000 + mode
            tar.addfile(info, io.BytesIO(data))
    (tmp_path / "l.tar").write_bytes(buf.getvalue())
    root = unpack_layers([tmp_path / "l.tar"], tmp_path / "root", jobs=jobs)
    for name, (mode, uid, gid) in cases.items():
        st = os.lstat(root / name)
        assert st.st_mode & 0o7777 == mode, (name, oct(st.st_mode))
        assert st.st_mtime == 1_600_000_000 + mode, name
        if os.geteuid() == 0:
            assert (st.st_uid, st.st_gid) == (uid, gid), name
    assert (root / "big").stat().st_size == 3 << 20 and (root / "ro").read_text() == "ro"


def _mixed_layers(tmp: Path) -> list[Path]:
    """Implicit and declared directories, symlinks (a parent through one too), hardlinks, a file bigger
    than what is handed to the workers whole, then a layer that whites out, makes opaque and replaces."""
    base = [("usr/lib/deep/a/b/c/f", "reg", "deep"), ("usr/lib", "dir", None), ("etc", "dir", None),
            ("etc/conf", "reg", "c"), ("lib", "sym", "usr/lib"), ("lib/via-link", "reg", "v"),
            ("usr/lib/hard", "link", "etc/conf"), ("big/blob", "reg", b"x" * (3 << 20)),
            ("gone/x", "reg", "x"), ("opq/old", "reg", "o"), ("swap", "dir", None), ("swap/in", "reg", "i")]
    base += [(f"many/d{n % 7}/f{n}", "reg", str(n)) for n in range(300)]
    top = [("gone/.wh.x", "reg", ""), ("opq/.wh..wh..opq", "reg", ""), ("opq/new", "reg", "n"),
           ("swap", "reg", "now a file"), ("etc/conf", "reg", "changed"), ("big/blob", "reg",
                                                                           b"y" * (2 << 20))]
    return [_layer(tmp, "base.tar", base), _layer(tmp, "top.tar", top)]


@pytest.mark.parametrize("fresh", [True, False], ids=["empty-target", "non-empty-target"])
def test_threads_give_the_same_tree_as_one(tmp_path: Path, fresh: bool) -> None:
    layers = _mixed_layers(tmp_path)
    trees = []
    for jobs in (1, 4):
        target = tmp_path / f"root{jobs}"
        target.mkdir()
        if not fresh:
            (target / "already").write_text("here")
            os.utime(target / "already", (1_700_000_000, 1_700_000_000))
        unpack_layers(layers, target, jobs=jobs)
        # directories' mtimes are left to the kernel (their entries change them afterwards anyway)
        shape = {name: (mode, size, None if stat.S_ISDIR(mode) else mtime)
                 for name, (mode, size, mtime) in _snapshot(target).items()}
        trees.append((shape, {str(p.relative_to(target)): p.read_bytes() for p in target.rglob("*")
                              if p.is_file() and not p.is_symlink()}))
    assert trees[0] == trees[1]
    assert (tmp_path / "root4/usr/lib/via-link").read_text() == "v"


@pytest.mark.parametrize("fresh", [True, False], ids=["empty-target", "non-empty-target"])
def test_a_queued_file_used_as_a_parent_is_refused_with_threads(tmp_path: Path, fresh: bool) -> None:
    members = [(f"f{n}", "reg", "abc") for n in range(200)] + [("a", "reg", "abc"), ("a/x", "reg", "abc")]
    layer = _layer(tmp_path, "l.tar", members)
    target = tmp_path / "root"
    target.mkdir()
    if not fresh:
        (target / "already").write_text("here")
    with pytest.raises(UnsafeArchiveError, match="parent 'a' is not a directory"):
        unpack_layers([layer], target, jobs=4)


def test_a_truncated_big_member_is_an_error_with_threads(tmp_path: Path) -> None:
    """A file too big to hand over whole is streamed to a worker; the stream ending early must fail the
    unpack (not leave the worker waiting for the rest, which would hang it)."""
    data = _tar([("d/big", "reg", b"z" * (3 << 20))])
    (tmp_path / "l.tar").write_bytes(data[:2 << 20])
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        done = pool.submit(unpack_layers, [tmp_path / "l.tar"], tmp_path / "root", jobs=4)
        with pytest.raises(ImageError, match="not a readable"):
            done.result(timeout=60)
