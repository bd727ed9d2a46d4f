"""The startup profile keeps, for a path opened through symlinks, the real file it reached (strace -y):
image layers hold files under their real names (``/lib`` is a symlink to ``usr/lib`` on Debian), and
packing marks TOC entries by name."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from falmigrate.build import profile


def test_parse_trace_with_descriptor_paths():
    text = """\
7 execve("/usr/bin/python3", ["python3"], 0x1 /* 4 vars */) = 0
7 openat(AT_FDCWD</app>, "/lib/x86_64-linux-gnu/libc.so.6", O_RDONLY|O_CLOEXEC) = \
3</usr/lib/x86_64-linux-gnu/libc.so.6>
7 openat(3</opt/venv/lib>, "numpy/core.so", O_RDONLY) = 4</opt/venv/lib/numpy/core.so>
7 openat(AT_FDCWD</app>, "/app/model.bin", O_RDONLY) = 5</app/model.bin>
7 openat(AT_FDCWD</app>, "/missing", O_RDONLY) = -1 ENOENT (No such file or directory)
7 openat(AT_FDCWD</app>, "/proc/self/maps", O_RDONLY) = 6</proc/1/maps>
"""
    assert profile.parse_trace(text) == ["/usr/bin/python3", "/lib/x86_64-linux-gnu/libc.so.6",
                                         "/usr/lib/x86_64-linux-gnu/libc.so.6", "/opt/venv/lib/numpy/core.so",
                                         "/app/model.bin"]


def test_a_real_strace_run_records_the_file_behind_a_symlink(tmp_path):
    if shutil.which("strace") is None:
        pytest.fail("strace is needed (scripts/services.sh installs it)")
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "data.txt").write_text("x")
    (tmp_path / "link").symlink_to("real")
    trace = tmp_path / "trace.txt"
    subprocess.run(["strace", "-f", "-qq", "-y", "-e", "trace=open,openat,openat2,execve", "-o", str(trace),
                    "cat", str(tmp_path / "link" / "data.txt")], check=True, capture_output=True)
    paths = profile.parse_trace(trace.read_text())
    assert str(tmp_path / "link" / "data.txt") in paths and str(tmp_path / "real" / "data.txt") in paths
