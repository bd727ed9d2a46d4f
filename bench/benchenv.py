"""What the benchmarks share: the services they measure against and the file system our pulls write to."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

class PullDisk:
    """A new ext4 file system (a sparse image, loop-mounted) for our pulls to write to.

    This machine's disk is ext4 *without a journal*, where creating an inode first skips every inode
    of its block group deleted in the last one to six minutes (the kernel's ``recently_deleted``, one
    buffer lookup each). A pull that follows the deletion of a previous round's rootfs or the
    benchmark's own stack trees paid that per file: 40% of the pull's samples in ``perf``, system time
    8-20 s instead of 2, and every round slower than the last. ``docker pull`` writes into the engine's
    data root, away from those deletions (under 2% of its samples). A node pulling an image has not
    just deleted a copy of it; a fresh file system (with a journal, as mkfs makes it) measures that.
    Without root or ``mkfs.ext4``, the work directory is used and the results say so.
    """

    def __init__(self, work: Path, size: int) -> None:
        self.image, self.path, self.mounted = work / "pull-disk.img", work / "pull-disk", False
        self.path.mkdir()
        if os.geteuid() != 0 or not shutil.which("mkfs.ext4"):
            return
        with self.image.open("wb") as handle:
            handle.truncate(size)
        # inode tables and journal written now, not by the kernel's background thread during round 1
        made = subprocess.run(["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0",
                               str(self.image)], capture_output=True, check=False)
        mounted = (
            made.returncode == 0
            and subprocess.run(
                ["mount", "-o", "loop", str(self.image), str(self.path)], capture_output=True, check=False
            ).returncode
            == 0
        )
        self.mounted = mounted

    @property
    def description(self) -> str:
        if self.mounted:
            return f"new ext4 file system (loop-mounted sparse image, {self.image.stat().st_size >> 30} GiB)"
        return "the work directory (no root or mkfs.ext4: a fresh file system could not be made)"

    def close(self) -> None:
        if self.mounted:
            subprocess.run(["umount", str(self.path)], capture_output=True, check=False)
            self.mounted = False
        self.image.unlink(missing_ok=True)


def services(
    required: tuple[str, ...] = ("REGISTRY", "DOCKER_HOST", "BASE_IMAGE", "REGISTRY_LOG", "STATE"),
) -> dict[str, str]:
    """The ``FALMIGRATE_TEST_*`` variables of scripts/services.sh (``.services/env``, then the environment),
    without the prefix; exits with a hint when one of ``required`` is missing."""
    env = {}
    path = REPO / ".services" / "env"
    if path.is_file():
        for line in path.read_text().splitlines():
            key, _, value = line.partition("=")
            env[key] = value
    env.update({k: v for k, v in os.environ.items() if k.startswith("FALMIGRATE_TEST_")})
    missing = [k for k in required if f"FALMIGRATE_TEST_{k}" not in env]
    if missing:
        sys.exit(f"services not found ({missing}): run `bash scripts/services.sh start` first")
    return {k.removeprefix("FALMIGRATE_TEST_"): v for k, v in env.items()}
