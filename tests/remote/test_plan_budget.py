"""``chunked.plan`` with a budget: a pull decides "partial or whole" without looking up every file of a
layer it will download whole anyway, and decides the same as a full plan would."""

from __future__ import annotations

from pathlib import Path

from falmigrate.oci.remote import chunked
from falmigrate.oci.remote.localindex import LocalIndex, Source
from falmigrate.oci.remote.store import Store


def _entries(count: int, size: int = 1000) -> list[dict]:
    """A TOC of ``count`` single-chunk files laid out back to back."""
    return [{"type": "reg", "name": f"f{n}", "size": size, "offset": n * size, "endOffset": (n + 1) * size,
             "digest": f"sha256:{n:064x}"} for n in range(count)]


def test_a_cold_store_stops_planning_once_the_budget_is_spent(tmp_path: Path) -> None:
    entries = _entries(100)
    full = chunked.plan(entries, Store(tmp_path / "store"), LocalIndex())
    assert not full.over_budget and full.fetch_bytes == 100_000 and len(full.files) == 100

    capped = chunked.plan(entries, Store(tmp_path / "store"), LocalIndex(), budget=50_000)
    assert capped.over_budget
    assert len(capped.files) == 51  # the first file over the budget ends it
    assert capped.fetch_bytes == 51_000


def test_a_warm_store_plans_to_the_end_within_the_budget(tmp_path: Path) -> None:
    entries = _entries(100)
    stored = Source(tmp_path / "blob", 0, 10, 1000)
    known = LocalIndex(files={entry["digest"]: stored for entry in entries[:90]})
    capped = chunked.plan(entries, Store(tmp_path / "store"), known, budget=50_000)
    full = chunked.plan(entries, Store(tmp_path / "store"), known)
    assert not capped.over_budget
    assert capped.fetch == full.fetch and capped.fetch_bytes == 10_000
    assert capped.files_reused == full.files_reused == 90
