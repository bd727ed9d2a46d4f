"""The unpacker's tar member reader reads every tar as Python's tarfile does: the fast header parse for
ustar/PAX, tarfile itself from the first header it leaves (GNU long names, sparse members), and a
truncated stream is an error rather than a shorter layer."""

from __future__ import annotations

import io
import tarfile

import pytest
import zstandard

from falmigrate.oci.tarstream import members

FIELDS = ("name", "type", "linkname", "mode", "uid", "gid", "mtime", "size", "devmajor", "devminor")
LONG = "d/" + "x" * 150 + "/ü" + "y" * 120


def _tar(fmt: int, gnu_in_the_middle: bool = False) -> bytes:
    buf = io.BytesIO()
    entries = [("dir", tarfile.DIRTYPE, b""), ("dir/a.txt", tarfile.REGTYPE, b"hello"),
               ("dir/empty", tarfile.REGTYPE, b""), ("dir/big", tarfile.REGTYPE, bytes(range(256)) * 300),
               ("dir/link", tarfile.SYMTYPE, b""), ("dir/hard", tarfile.LNKTYPE, b""),
               ("fifo", tarfile.FIFOTYPE, b""), ("dev", tarfile.CHRTYPE, b"")]
    if fmt != tarfile.USTAR_FORMAT:
        entries.insert(3, (LONG, tarfile.REGTYPE, b"long name"))
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for number, (name, kind, data) in enumerate(entries):
            if gnu_in_the_middle and number == 4:
                tar.format = tarfile.GNU_FORMAT  # a GNU long-name member after ustar/PAX ones
                name = "g/" + "z" * 140
            info = tarfile.TarInfo(name)
            info.type, info.size, info.mtime = kind, len(data), 1_700_000_000
            info.uid, info.gid, info.mode = 7, 8, 0o640
            info.linkname = "dir/a.txt" if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
            info.devmajor, info.devminor = (1, 3) if kind == tarfile.CHRTYPE else (0, 0)
            tar.addfile(info, io.BytesIO(data) if data else None)
    return buf.getvalue()


def _expected(data: bytes) -> list[tuple]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        return [(*(getattr(i, f) for f in FIELDS), tar.extractfile(i).read() if i.isreg() else None)
                for i in tar]


def _read(stream) -> list[tuple]:
    return [(*(getattr(m, f) for f in FIELDS), content.read() if content is not None else None)
            for m, content in members(stream)]


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT],
                         ids=["pax", "ustar", "gnu"])
@pytest.mark.parametrize("mixed", [False, True], ids=["one-format", "gnu-member-in-the-middle"])
def test_members_and_contents_match_tarfile(fmt: int, mixed: bool) -> None:
    data = _tar(fmt, mixed)
    expected = _expected(data)
    assert len(expected) >= 8
    assert _read(io.BufferedReader(io.BytesIO(data))) == expected
    # a decompressor returns short reads mid-stream (zstd frames): the same members
    frames = b"".join(zstandard.ZstdCompressor().compress(data[i:i + 700]) for i in range(0, len(data), 700))
    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(frames), read_across_frames=True)
    assert _read(reader) == expected


def test_unread_contents_are_skipped() -> None:
    data = _tar(tarfile.PAX_FORMAT)
    names = [m.name for m, _ in members(io.BytesIO(data))]
    assert names == [row[0] for row in _expected(data)]


@pytest.mark.parametrize("cut", ["empty", "in-header", "in-pax-records", "in-content", "at-a-header"])
def test_a_truncated_tar_is_an_error(cut: str) -> None:
    data = _tar(tarfile.PAX_FORMAT)
    content = data.index(bytes(range(256)))
    end = {"empty": 0, "in-header": 300, "in-pax-records": data.index(LONG.encode()) + 5,
           "in-content": content + 1000, "at-a-header": content + 256 * 300 + 200}[cut]
    with pytest.raises(tarfile.ReadError):
        _read(io.BytesIO(data[:end]))


def test_a_bad_checksum_mid_archive_is_an_error_not_the_end() -> None:
    data = bytearray(_tar(tarfile.USTAR_FORMAT))
    second = 512 + 0  # "dir" has no content: the second header follows the first
    data[second + 1] ^= 1
    with pytest.raises(tarfile.ReadError):
        _read(io.BytesIO(bytes(data)))
