"""Byte counters of one push or pull, shared by worker threads; what ``--json`` summaries report."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class TransferStats:
    bytes_sent: int = 0
    bytes_skipped: int = 0
    bytes_mounted: int = 0
    bytes_fetched: int = 0
    bytes_reused: int = 0  # pull: already in the local store
    blobs_uploaded: int = 0
    blobs_skipped: int = 0
    blobs_mounted: int = 0
    blobs_fetched: int = 0
    files_fetched: int = 0
    files_reused: int = 0
    chunks_fetched: int = 0  # partial pulls: chunks of files fetched by range
    chunks_reused: int = 0  # partial pulls: chunks found locally (or zero runs, never fetched)
    range_requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **amounts: int) -> None:
        with self._lock:
            for name, value in amounts.items():
                setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
