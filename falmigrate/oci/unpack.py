"""Safe unpack of image layers into a rootfs directory.

Layers are applied in order with OCI whiteouts (``.wh.<name>`` deletes, ``.wh..wh..opq`` makes a
directory opaque). Every entry is checked before anything is written: absolute names and ``..``
components are refused; parent directories are resolved inside the target and a parent that is (or
passes through) a symlink leading outside the target is refused, so a symlink entry can never be used
to write through; hardlinks must point at an existing entry inside the target; device nodes are
refused unless ``allow_devices``. A refused entry raises UnsafeArchiveError naming the layer and entry;
nothing outside the target is created, changed or deleted.

With ``jobs`` > 1 the checks stay on the caller's thread, in order, and the creation (``oci.entrymake``)
runs on worker threads (``oci.unpackwork``: batches; a path waits for its queued parent directory; work
in flight lands before anything that looks at the disk). In a tree that started empty, directories and
symlinks are queued too: the rootfs's own record of what it made answers "is something there?".

Two producers feed the same ``Rootfs`` writer: tar streams (``oci.untar``: gzip, zstd — including
zstd:chunked — or plain, sniffed from the magic bytes) and TOC entries of partially pulled FlashPack
layers (``oci.remote.chunked``).

Entries may be written *ahead* of their layer (``apply(..., ahead=True)``: a pull writes an image's
startup files first). Such a path is then left alone by its own layer and every layer below it, so the
file stays in place while the rest arrives; a whiteout, opaque directory or replacement that removes
it drops that promise and its own layer writes it again, so the final tree is the same as in order.
With a sink that takes events, every created entry is reported as ``("unpack.file", name)``.
"""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from falmigrate import progress
from falmigrate.errors import UnsafeArchiveError
from falmigrate.oci.entrymake import TYPES, Entry, Maker, implicit_dir, remove
from falmigrate.oci.unpackwork import Workers

__all__ = ["OPAQUE", "PARALLEL_FILE_LIMIT", "TYPES", "WHITEOUT", "Entry", "Rootfs", "parse_time"]

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
PARALLEL_FILE_LIMIT = 1 << 20  # tar members up to this size are read into memory and written by workers


def parse_time(text: str | None) -> float:
    if not text:
        return 0.0
    try:
        return max(0.0, datetime.fromisoformat(text).timestamp())
    except ValueError:
        return 0.0


class Rootfs:
    """Applies entries to ``target``; one instance per unpack (tracks the current layer's paths)."""

    def __init__(self, target: Path, *, allow_devices: bool = False, jobs: int = 1) -> None:
        target = Path(target)
        target.mkdir(parents=True, exist_ok=True)
        self.root = os.path.realpath(target)
        self.allow_devices = allow_devices
        self._maker = Maker()
        self.layer = ""
        self.number = -1  # the layer's position in the image (entries written ahead keep theirs)
        self._ahead: dict[str, int] = {}  # path written ahead of order → the layer it came from
        self._events = progress.wants_events()
        self._written: set[str] = set()
        self._dirs: dict[tuple[str, ...], str] = {}  # checked parents; cleared whenever we remove anything
        # Started empty: then nothing is in the tree but what we made, and our own record of it answers
        # "is something there?" without an lstat per entry (which costs ~0.5 ms on a busy disk).
        self._fresh = not os.listdir(self.root)
        self._made: dict[str, str] = {}  # real path → "dir" | "symlink" | "other", when fresh
        self._work = Workers(jobs) if jobs > 1 else None
        self._pending_names: set[str] = set()  # entries whose creation is queued
        self._creating: dict[str, Future] = {}  # real path of a directory queued → done when it exists

    @property
    def parallel(self) -> bool:
        """Whether regular files may be written by worker threads (``jobs`` > 1)."""
        return self._work is not None

    def begin_layer(self, label: str, number: int | None = None) -> None:
        self.flush()
        self.layer = label
        self.number = self.number + 1 if number is None else number
        self._written = set()

    def written_ahead(self, name: str) -> bool:
        """Whether ``name`` was written ahead by this layer or one above it (this layer skips it)."""
        if not self._ahead:
            return False
        path = name.removeprefix("./").strip("/")
        if "//" in path or "/." in path or path == ".":  # rare: the general normalization
            path = "/".join(p for p in path.split("/") if p not in ("", "."))
        # the path and each directory above it, longest first, without splitting into parts again
        end = len(path)
        while end > 0:
            found = self._ahead.get(path[:end])
            if found is not None and found >= self.number:
                return True
            end = path.rfind("/", 0, end)
        return False

    def _owner_ahead(self, parts: list[str]) -> int | None:
        """The highest layer that wrote this path, or a path above it (a symlink or file that replaces
        a lower layer's directory: what lower layers put under it must not go through it), ahead."""
        owner = None
        for depth in range(1, len(parts) + 1):
            found = self._ahead.get("/".join(parts[:depth]))
            if found is not None and (owner is None or found > owner):
                owner = found
        return owner

    def _refuse(self, name: str, why: str) -> UnsafeArchiveError:
        return UnsafeArchiveError(f"layer {self.layer}: entry {name!r}: {why}; nothing was written outside "
                                  f"the target", hint="the image is malformed or hostile; do not use it")

    def _inside(self, path: str) -> bool:
        return path == self.root or path.startswith(self.root + os.sep)

    def _split(self, name: str) -> list[str]:
        if name.startswith("/"):
            raise self._refuse(name, "absolute path")
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise self._refuse(name, "path traversal ('..')")
        if "\x00" in name:
            raise self._refuse(name, "NUL byte in name")
        return parts

    def _parent(self, name: str, parts: list[str], create: bool = True) -> str:
        """The real directory that holds ``parts[-1]``, resolved and checked inside the root.

        Resolved prefixes are cached (until anything is removed), so each new directory costs one
        lookup (no lstat at all in a fresh tree); only a symlinked component is resolved fully and
        checked to stay inside the root."""
        key = tuple(parts[:-1])
        found = self._dirs.get(key)
        if found is not None:
            return found
        if not self._fresh and self._pending_names and self._queued_above(key):
            self.flush()  # a queued file is (a component of) the parent: the disk must show it
        depth = len(key) - 1
        while depth > 0 and key[:depth] not in self._dirs:
            depth -= 1
        current = self._dirs[key[:depth]] if depth > 0 else self.root
        for index in range(max(depth, 0), len(key)):
            part = key[index]
            candidate = os.path.join(current, part)
            kind = self._kind_at(candidate)
            if kind is None:
                if not create:
                    raise self._refuse(name, f"parent {part!r} does not exist")
                kind = self._mkdir(candidate)
            if kind == "symlink":
                candidate = self._through_symlink(name, part, candidate)
            elif kind != "dir":
                raise self._refuse(name, f"parent {part!r} is not a directory")
            current = candidate
            self._dirs[key[:index + 1]] = current
        return current

    def _queued_above(self, key: tuple[str, ...]) -> bool:
        return any("/".join(key[:depth]) in self._pending_names for depth in range(1, len(key) + 1))

    def _through_symlink(self, name: str, part: str, link: str) -> str:
        """The real directory a symlinked parent leads to, checked inside the root."""
        if self._busy():
            self.flush()  # resolved on disk: what is queued (the link, its target) lands first
        real = os.path.realpath(link)
        if not self._inside(real):
            raise self._refuse(name, f"parent {part!r} is a symlink leading outside the target")
        if not os.path.isdir(real):
            raise self._refuse(name, f"parent {part!r} is not a directory")
        return real

    def _ahead_of_this_layer(self, parts: list[str], key: str, ahead: bool) -> bool:
        """True when the path was written ahead by this layer or one above (skip it); records ``ahead``."""
        owner = self._owner_ahead(parts) if self._ahead else None
        if owner is not None and owner >= self.number:
            if owner == self.number:
                self._written.add(key)  # this layer's own entry: an opaque marker keeps it
            return True
        if ahead:
            self._ahead[key] = self.number
        return False

    def _kind_at(self, path: str) -> str | None:
        """What is at ``path`` ("dir", "symlink", "other" or None): our record when fresh, else lstat."""
        if self._fresh:
            return self._made.get(path)
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return None
        return "symlink" if stat.S_ISLNK(mode) else "dir" if stat.S_ISDIR(mode) else "other"

    def _mkdir(self, path: str) -> str:
        """A parent directory no entry declared (yet): made with mode 0755."""
        after = self._creating.get(os.path.dirname(path))
        if self._work is not None and self._fresh:
            done = self._work.add(functools.partial(implicit_dir, path), after=after, announce=True)
            if done is not None:
                self._creating[path] = done
            self._made[path] = "dir"
            return "dir"
        if after is not None and self._work is not None:
            self._work.wait_for(after)
        try:
            os.mkdir(path, 0o755)
        except FileExistsError:  # not in our record: something else made it; look
            self._fresh = False
            return self._kind_at(path) or "other"
        self._made[path] = "dir"
        return "dir"

    def apply(self, entry: Entry, content: Callable[[], BinaryIO] | None = None, *, parallel: bool = False,
              ahead: bool = False, size: int = 0) -> None:
        """Apply one entry. Every check runs here, in order; with ``jobs`` > 1 the creation is queued for
        the worker threads (``oci.unpackwork``). ``parallel``: the content opener of a regular file is
        independent of the caller's stream and may be called later (``size``: the bytes it holds in
        memory); other contents are read here, before this returns. Work in flight lands first before
        anything that looks at the disk or could touch it: a second entry of the same name, a hardlink
        (its source may be in flight), a whiteout or opaque marker, replacing an existing path, a path
        through a symlink. ``ahead``: the entry is written before the layers below it (see the module
        docstring); a path written ahead by this layer or one above is skipped."""
        parts = self._split(entry.name)
        key = "/".join(parts)
        if self._ahead_of_this_layer(parts, key, ahead):
            return
        if not parts:
            if entry.type == "dir":
                self.flush()
                os.chmod(self.root, entry.mode & 0o7777)
            return
        if self._busy() and (key in self._pending_names or entry.type == "hardlink"
                             or parts[-1].startswith(WHITEOUT)):
            self.flush()
        parent = self._parent(entry.name, parts)
        if parts[-1].startswith(WHITEOUT):
            self._whiteout(entry.name, parent, parts)
            return
        self._written.add(key)
        path = os.path.join(parent, parts[-1])
        if self._work is None or self._kind_at(path) is not None:
            self.flush()  # replacing: nothing in flight may be under or at it
            self._create(entry, path, content)
            self._record(path, entry.type)
            return
        self._queue(entry, key, path, content, parallel, size)

    def _queue(self, entry: Entry, key: str, path: str, content: Callable[[], BinaryIO] | None,
               parallel: bool, size: int) -> None:
        """Hand a new path's creation to the workers (after its parent directory, if that is queued too)."""
        assert self._work is not None
        after = self._creating.get(os.path.dirname(path))
        self._record(path, entry.type)
        if entry.type == "reg":
            self._pending_names.add(key)
            if parallel or content is None:
                self._work.add(functools.partial(self._create, entry, path, content), after=after, size=size)
            else:
                self._work.stream(lambda src: self._create(entry, path, lambda: src), content, after=after)
        elif entry.type in ("dir", "symlink") and self._fresh:
            done = self._work.add(functools.partial(self._create, entry, path, None), after=after,
                                  announce=entry.type == "dir")
            if done is not None:
                self._creating[path] = done
        else:
            if after is not None:
                self._work.wait_for(after)
            self._create(entry, path, content)

    def _whiteout(self, name: str, parent: str, parts: list[str]) -> None:
        leaf = parts[-1]
        if leaf == OPAQUE:
            self._opaque(parent, parts[:-1])
            return
        victim = leaf[len(WHITEOUT):]
        if victim in ("", ".", ".."):  # would delete the parent, or the directory above it
            raise self._refuse(name, f"whiteout of {victim!r}")
        if victim.startswith(WHITEOUT):
            return  # other .wh..wh.* names are aufs bookkeeping (e.g. .wh..wh.plnk), not paths
        self._remove(os.path.join(parent, victim))

    def _busy(self) -> bool:
        return self._work is not None and self._work.busy

    def _record(self, path: str, kind: str) -> None:
        if self._fresh:
            self._made[path] = kind if kind in ("dir", "symlink") else "other"

    def flush(self) -> None:
        """Wait for the creation work in flight; re-raise the first failure."""
        try:
            if self._work is not None:
                self._work.wait()
        finally:
            self._pending_names = set()
            self._creating = {}

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self._work is not None:
                self._work.close()
                self._work = None

    def _opaque(self, parent: str, dir_parts: list[str]) -> None:
        prefix = "/".join(dir_parts)
        for child in sorted(os.listdir(parent)):
            key = f"{prefix}/{child}" if prefix else child
            if key not in self._written:
                self._remove(os.path.join(parent, child))

    def _create(self, entry: Entry, path: str, content: Callable[[], BinaryIO] | None) -> None:
        kind = entry.type
        if kind in ("char", "block") and not self.allow_devices:
            raise self._refuse(entry.name, f"{kind} device node (pass allow_devices to create it)")
        if kind not in TYPES:
            raise self._refuse(entry.name, f"unsupported entry type {kind!r}")
        source = self._link_source(entry) if kind == "hardlink" else ""
        try:
            self._maker.make(entry, path, content, source)
        except FileExistsError:
            if kind == "dir" and os.path.isdir(path) and not os.path.islink(path):
                self._maker.owner(path, entry)
                os.chmod(path, entry.mode & 0o7777)
                return
            self._remove(path)
            self._maker.make(entry, path, content, source)
        if self._events:
            progress.event("unpack.file", entry.name)

    def _link_source(self, entry: Entry) -> str:
        parts = self._split(entry.linkname) if entry.linkname else []
        if not parts:
            raise self._refuse(entry.name, "hardlink without a target")
        try:
            parent = self._parent(entry.name, parts, create=False)
        except UnsafeArchiveError:
            raise self._refuse(entry.name, f"hardlink target {entry.linkname!r} escapes the target") from None
        source = os.path.join(parent, parts[-1])
        if not os.path.lexists(source):
            raise self._refuse(entry.name, f"hardlink target {entry.linkname!r} does not exist")
        if os.path.isdir(source) and not os.path.islink(source):
            raise self._refuse(entry.name, f"hardlink target {entry.linkname!r} is a directory")
        return source

    def _remove(self, path: str) -> None:
        self._dirs.clear()
        if self._made:  # list(): a snapshot (workers may add entries meanwhile)
            for made in [m for m in list(self._made) if m == path or m.startswith(path + os.sep)]:
                self._made.pop(made, None)
        if self._ahead:  # what is removed is no longer "in place": its own layer writes it again
            rel = os.path.relpath(path, self.root)
            self._ahead = {k: v for k, v in self._ahead.items() if k != rel and not k.startswith(rel + "/")}
        remove(path)


