"""Startup set first: a pull writes the files an image reads while it starts before everything else.

An image carries its startup profile in its FlashPack TOCs (entries marked ``prefetch: true`` when it
was packed with a profile). Before the layers download, the pull takes, from every layer's TOC, the
marked entries no higher layer redefines, fetches the missing content of those files by range (or
finds it in the store, from any image), and writes them into the rootfs *ahead* of their layers
(``unpack.Rootfs.apply(ahead=True)``: the layers below leave them in place). The moment that is done
is the pull's ``startup_ready_seconds``; a runtime could start the image then, while the rest arrives.

Nothing is fetched twice: for a layer that is later downloaded whole, the compressed ranges fetched
here stay in a ``chunked.Spool`` and the download fetches only the rest of the blob around them
(the blob is still verified whole). Marked files of layers without a TOC (gzip) cannot be known here;
they arrive in layer order.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field

from falmigrate.oci.remote import chunked
from falmigrate.oci.remote.client import RegistryClient
from falmigrate.oci.remote.localindex import LocalIndex, opener
from falmigrate.oci.remote.stats import TransferStats
from falmigrate.oci.remote.store import Store
from falmigrate.oci.unpack import Rootfs

GAP = 256 << 10  # startup files are often scattered: join them over holes up to this (fetched once anyway)
WRITTEN_AHEAD = ("reg", "symlink")  # hardlinks wait for their layer (their target must be there first)
MAX_LINKS = 40  # as the kernel's limit of symlinks followed in one lookup


def _name(entry: dict) -> str:
    name: str = entry["name"]
    return name.removeprefix("./").strip("/")


def marked(tocs: list[list[dict] | None]) -> dict[int, list[dict]]:
    """Per layer number, the entries to write ahead: every ``prefetch`` file or symlink that no higher
    layer redefines, plus what marked symlinks lead to (``python3`` → ``python3.11``, through symlinked
    directories too), wherever in the image that is."""
    final: dict[str, tuple[int, dict]] = {}
    for number, entries in enumerate(tocs):
        for entry in entries or []:
            if entry.get("type") != "chunk":
                final[_name(entry)] = (number, entry)
    chosen: dict[str, tuple[int, dict]] = {}
    for number, entries in enumerate(tocs):
        for entry in entries or []:
            if entry.get("prefetch") and final.get(_name(entry), (None,))[0] == number:
                _take(_name(entry), final, chosen)
    found: dict[int, list[dict]] = {}
    for number, entry in chosen.values():
        found.setdefault(number, []).append(entry)
    return found


def _take(name: str, final: dict[str, tuple[int, dict]], chosen: dict[str, tuple[int, dict]]) -> None:
    for _ in range(MAX_LINKS):
        here = final.get(name)
        if here is None or name in chosen or here[1].get("type") not in WRITTEN_AHEAD:
            return
        chosen[name] = here
        if here[1]["type"] != "symlink":
            return
        name = _follow(_link_target(name, here[1].get("linkName", "")), final, chosen)


def _link_target(name: str, target: str) -> str:
    joined = target if target.startswith("/") else posixpath.join(posixpath.dirname(name), target)
    return posixpath.normpath("/" + joined).lstrip("/")  # '..' stops at the root, as in the kernel


def _follow(path: str, final: dict[str, tuple[int, dict]], chosen: dict[str, tuple[int, dict]]) -> str:
    """``path`` with every symlinked directory on the way replaced by its target (those symlinks chosen)."""
    parts = path.split("/")
    depth, hops = 1, 0
    while depth < len(parts) and hops < MAX_LINKS:
        prefix = "/".join(parts[:depth])
        here = final.get(prefix)
        if here is not None and here[1].get("type") == "symlink":
            chosen.setdefault(prefix, here)
            parts = _link_target(prefix, here[1].get("linkName", "")).split("/") + parts[depth:]
            depth, hops = 1, hops + 1
            continue
        depth += 1
    return "/".join(parts)


@dataclass
class StartupSet:
    entries: dict[int, list[dict]] = field(default_factory=dict)  # layer number → entries to write ahead
    spools: dict[int, chunked.Spool] = field(default_factory=dict)  # layer number → ranges fetched ahead

    @property
    def files(self) -> int:
        return sum(len(entries) for entries in self.entries.values())

    def names(self, number: int) -> set[str]:
        return {entry["name"] for entry in self.entries.get(number, [])}

    def close(self) -> None:
        for spool in self.spools.values():
            spool.close()
        self.spools.clear()


def fetch(client: RegistryClient, repo: str, layers: list[dict], tocs: list[list[dict] | None], store: Store,
          local: LocalIndex, stats: TransferStats, on_progress: Callable[[int], None],
          jobs: int) -> StartupSet:
    """Find the startup set and put its missing file contents into the store (``files/``)."""
    found = StartupSet(marked(tocs))
    try:
        for number, entries in sorted(found.entries.items()):
            names = {entry["name"] for entry in entries if entry.get("type") == "reg"}
            work = chunked.plan(tocs[number] or [], store, local, only=names)
            spool = None
            if work.fetch and not store.has_blob(layers[number]["digest"]):
                spool = found.spools[number] = chunked.Spool(store.temp_path(f"-startup-{number}"))
            chunked.fetch_files(client, repo, layers[number], work, store, stats, on_progress, jobs, local,
                                spool=spool, gap=GAP)
    except BaseException:
        found.close()
        raise
    return found


def write(rootfs: Rootfs, found: StartupSet, store: Store, local: LocalIndex) -> None:
    """Write the startup set into ``rootfs`` ahead of the layers, lowest layer first."""
    for number, entries in sorted(found.entries.items()):
        rootfs.begin_layer(f"{number} (startup files)", number)
        for entry in entries:
            content = (opener(store, local, entry["digest"])
                       if entry.get("type") == "reg" and entry.get("size") else None)
            rootfs.apply(chunked.toc_entry(entry), content, parallel=True, ahead=True)
    rootfs.flush()
