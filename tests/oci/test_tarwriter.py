"""The deterministic tar writer keeps FIFOs and device nodes and reports sockets (tar has no type for
them) instead of dropping them silently."""

from __future__ import annotations

import os
import socket
import tarfile

from falmigrate.oci.tarwriter import write_tree_tar


def test_special_files_kept_sockets_reported(tmp_path):
    root = tmp_path / "t"
    (root / "dev").mkdir(parents=True)
    os.mkfifo(root / "pipe")
    os.mknod(root / "dev" / "null", 0o666 | 0o020000, os.makedev(1, 3))  # S_IFCHR: the tests run as root
    os.mknod(root / "dev" / "loop9", 0o660 | 0o060000, os.makedev(7, 9))  # S_IFBLK
    os.chmod(root / "dev" / "null", 0o666)  # mknod's mode went through the umask
    os.chmod(root / "dev" / "loop9", 0o660)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(root / "app.sock"))
    try:
        with open(tmp_path / "t.tar", "wb") as out:
            skipped = write_tree_tar(root, out)
    finally:
        sock.close()
    assert skipped == ["app.sock"]
    with tarfile.open(tmp_path / "t.tar") as tar:
        members = {m.name: m for m in tar}
    assert sorted(members) == ["dev", "dev/loop9", "dev/null", "pipe"]
    assert members["pipe"].isfifo()
    assert (members["dev/null"].ischr()
            and (members["dev/null"].devmajor, members["dev/null"].devminor) == (1, 3))
    assert (members["dev/loop9"].isblk()
            and (members["dev/loop9"].devmajor, members["dev/loop9"].devminor) == (7, 9))
    assert members["dev/null"].mode == 0o666 and members["dev/loop9"].mode == 0o660
