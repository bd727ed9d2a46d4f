"""FlashPack's fast tar header scan reads exactly what Python's tarfile reads, and hands every tar
feature it does not parse (GNU long names, truncation, an empty file) to tarfile."""

from __future__ import annotations

import hashlib
import io
import tarfile

import pytest

from falmigrate.oci.compress import compress_tar, tarscan

FIELDS = ("name", "type", "linkname", "mode", "uid", "gid", "mtime", "size", "devmajor", "devminor", "xattrs",
          "offset_data")
LONG = "d/" + "x" * 150 + "/ü" + "y" * 120


def _rows(members) -> list[tuple]:
    return [tuple(getattr(m, f) for f in FIELDS) for m in members]


def _tar(path, fmt) -> None:
    entries = [("a.txt", tarfile.REGTYPE, b"hello", {}), ("dir", tarfile.DIRTYPE, b"", {}),
               ("p/" + "n" * 120, tarfile.DIRTYPE, b"", {}), ("e", tarfile.REGTYPE, b"", {}),
               ("dev", tarfile.CHRTYPE, b"", {"devmajor": 1, "devminor": 3}),
               ("f", tarfile.FIFOTYPE, b"", {}),
               ("h", tarfile.LNKTYPE, b"", {"linkname": "a.txt"}), ("big", tarfile.REGTYPE, b"z" * 70000, {})]
    if fmt != tarfile.USTAR_FORMAT:
        entries += [(LONG, tarfile.REGTYPE, b"z" * 1000, {}),
                    ("l", tarfile.SYMTYPE, b"", {"linkname": "t" * 200}),
                    ("x", tarfile.REGTYPE, b"q", {"pax_headers": {"SCHILY.xattr.user.a": "v1",
                                                                   "SCHILY.xattr.security.b": "\x00bin"}})]
    with tarfile.open(path, "w", format=fmt) as tar:
        for name, kind, data, extra in entries:
            info = tarfile.TarInfo(name)
            info.type, info.mtime, info.uid, info.gid, info.mode = kind, 1234567890.5, 1000, 5, 0o640
            for key, value in extra.items():
                setattr(info, key, value)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)


@pytest.mark.parametrize(("fmt", "fast"), [(tarfile.PAX_FORMAT, True), (tarfile.USTAR_FORMAT, True),
                                           (tarfile.GNU_FORMAT, False)])
def test_scan_matches_tarfile(tmp_path, fmt, fast) -> None:
    path = tmp_path / "t.tar"
    _tar(path, fmt)
    expected = _rows(tarscan.tarfile_members(path))
    assert len(expected) >= 8
    if fast:
        assert _rows(tarscan.members(path)) == expected
    else:
        with pytest.raises(tarscan.Unsupported):
            _rows(tarscan.members(path))
    # either way the layer holds the tar byte for byte: the diff_id is the tar's sha256
    done = compress_tar(path, tmp_path / "t.fp", "flashpack")
    assert done.diff_id == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_scan_leaves_broken_tars_to_tarfile(tmp_path) -> None:
    path = tmp_path / "t.tar"
    _tar(path, tarfile.PAX_FORMAT)
    whole = path.read_bytes()
    for data in (b"", whole[:1600], whole[:300]):
        path.write_bytes(data)
        with pytest.raises(tarscan.Unsupported):
            list(tarscan.members(path))
    bad = bytearray(whole)
    bad[0] ^= 1  # first header's checksum no longer matches
    path.write_bytes(bytes(bad))
    with pytest.raises(tarscan.Unsupported):
        list(tarscan.members(path))


def test_diff_id_covers_big_files_read_partly_from_blocks(tmp_path) -> None:
    """Big files start inside an already-read piece of the tar and are then read straight into the
    chunker: the diff_id must still be the tar's sha256, and the files must come back whole."""
    import random

    from falmigrate.oci.compress import toc

    rng = random.Random(7)
    files = {"a": b"x" * 3000, "big1": rng.randbytes(1 << 20) + bytes(700_000) + rng.randbytes(1_500_000),
             "b": b"y" * 10, "big2": bytes(64 << 10) + rng.randbytes(5 << 20), "c": b"z"}
    path = tmp_path / "t.tar"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    done = compress_tar(path, tmp_path / "t.fp", "flashpack")
    assert done.diff_id == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    blob = (tmp_path / "t.fp").read_bytes()

    def read_range(offset: int, length: int) -> bytes:
        return blob[offset:offset + length]

    entries = toc.read_toc(read_range, len(blob))["entries"]
    assert sum(1 for e in entries if e["type"] == "chunk" and e["name"] == "big1") >= 3
    found = {entry["name"]: b"".join(toc.iter_content(read_range, entry, chunks))
             for entry, chunks in toc.file_chunks(entries)}
    assert found == files
