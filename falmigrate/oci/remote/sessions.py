"""Open chunked-upload sessions, remembered on disk so a killed push resumes instead of restarting.

``~/.cache/falmigrate/uploads.json`` maps ``registry/repo@digest`` to the session's current location
(it changes after every PATCH). Written under a file lock, atomically, readable by the user only: a
location is no credential, but it does let anyone who has it append to the upload.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

_lock = threading.Lock()


def path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "falmigrate" / "uploads.json"


@contextlib.contextmanager
def _locked() -> Iterator[dict]:
    """The sessions, loaded under a process and file lock; changes are written back."""
    target = path()
    target.parent.mkdir(parents=True, exist_ok=True)
    with _lock, open(target.with_suffix(".lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            known = json.loads(target.read_text()) if target.is_file() else {}
        except (OSError, ValueError):
            known = {}
        before = dict(known)
        yield known
        if known != before:
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
            with os.fdopen(fd, "w") as handle:
                json.dump(known, handle)
            os.replace(tmp, target)


def lookup(key: str) -> str | None:
    with contextlib.suppress(OSError), _locked() as known:
        return known.get(key)
    return None


def remember(key: str, location: str) -> None:
    with contextlib.suppress(OSError), _locked() as known:
        known[key] = location


def forget(key: str) -> None:
    with contextlib.suppress(OSError), _locked() as known:
        known.pop(key, None)
