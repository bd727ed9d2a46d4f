"""Uploading one blob: HEAD skip, cross-repository mount, monolithic or chunked upload with resume.

Chunked uploads PATCH ``chunk_size`` pieces with ``Content-Range``; a PATCH is never replayed
blindly (the registry may have kept part of it): after a failure we ask the upload's status
(``GET <location>`` → ``Range: 0-N``) and continue from byte N+1, up to ``max_resumes`` times.
The session's location is kept in ``~/.cache/falmigrate/uploads.json`` while a chunked upload runs,
so a push that was killed continues where the registry stands instead of sending everything again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import BinaryIO
from urllib.parse import quote

from falmigrate.errors import RegistryError
from falmigrate.oci.remote import sessions
from falmigrate.oci.remote.client import RegistryClient, repo_scope
from falmigrate.oci.remote.stats import TransferStats

Opener = Callable[[], BinaryIO]
MONOLITHIC_LIMIT = 32 << 20
CHUNK_SIZE = 16 << 20


def _with_digest(location: str, digest: str) -> str:
    return f"{location}{'&' if '?' in location else '?'}digest={quote(digest)}"


def _file_body(opener: Opener, start: int, length: int,
               on_bytes: Callable[[int], None]) -> Callable[[], Iterator[bytes]]:
    def body() -> Iterator[bytes]:
        with opener() as handle:
            handle.seek(start)
            left = length
            while left > 0:
                data = handle.read(min(1 << 20, left))
                if not data:
                    raise RegistryError("local blob ended early while uploading")
                left -= len(data)
                on_bytes(len(data))
                yield data
    return body


class BlobUploader:
    def __init__(self, client: RegistryClient, repository: str, stats: TransferStats, *,
                 mount_from: tuple[str, ...] = (), monolithic_limit: int = MONOLITHIC_LIMIT,
                 chunk_size: int = CHUNK_SIZE, max_resumes: int = 5,
                 on_progress: Callable[[int], None] = lambda n: None) -> None:
        self.client = client
        self.repo = repository
        self.stats = stats
        self.mount_from = tuple(r for r in mount_from if r != repository)
        self.monolithic_limit = monolithic_limit
        self.chunk_size = chunk_size
        self.max_resumes = max_resumes
        self.on_progress = on_progress
        self.scope = repo_scope(repository, "pull,push")

    def exists(self, digest: str) -> bool:
        resp = self.client.request("HEAD", f"/v2/{self.repo}/blobs/{digest}", scope=self.scope, ok=(200, 404))
        return resp.status_code == 200

    def push(self, digest: str, size: int, opener: Opener, mount_from: tuple[str, ...] = ()) -> str:
        """Make ``digest`` present in the repository; returns 'skipped', 'mounted' or 'uploaded'.

        Mounting is tried from ``mount_from`` (repositories known to hold this blob) and then from the
        uploader's general list; the first refusal's upload session is used for the upload."""
        if self.exists(digest):
            self.stats.add(bytes_skipped=size, blobs_skipped=1)
            self.on_progress(size)
            return "skipped"
        location = None
        candidates = [r for r in dict.fromkeys((*mount_from, *self.mount_from)) if r != self.repo][:3]
        for source in candidates:
            scope = f"{self.scope} {repo_scope(source, 'pull')}"
            resp = self.client.request("POST", f"/v2/{self.repo}/blobs/uploads/", scope=scope, ok=(201, 202),
                                       params={"mount": digest, "from": source})
            if resp.status_code == 201:
                self.stats.add(bytes_mounted=size, blobs_mounted=1)
                self.on_progress(size)
                return "mounted"
            if location is None:
                location = resp.headers.get("location")
            else:
                self._cancel(resp.headers.get("location"))
        offset = 0
        if location is None and size > self.monolithic_limit:
            location, offset = self._saved_session(digest)
        if location is None:
            resp = self.client.request("POST", f"/v2/{self.repo}/blobs/uploads/", scope=self.scope, ok=(202,))
            location = resp.headers.get("location")
        if not location:
            raise RegistryError(f"{self.client.registry}: upload started without a Location header")
        if size <= self.monolithic_limit:
            self._monolithic(location, digest, size, opener)
        else:
            if offset:
                self.stats.add(bytes_skipped=offset)
                self.on_progress(offset)
            self._chunked(location, digest, size, opener, offset)
            sessions.forget(self._key(digest))
        self.stats.add(blobs_uploaded=1)
        return "uploaded"

    def _key(self, digest: str) -> str:
        return f"{self.client.registry}/{self.repo}@{digest}"

    def _saved_session(self, digest: str) -> tuple[str | None, int]:
        """An upload of ``digest`` a killed push left open: (location, offset), or (None, 0)."""
        location = sessions.lookup(self._key(digest))
        if location is None:
            return None, 0
        try:
            return self._status(location)
        except RegistryError:  # expired or unknown: start afresh
            sessions.forget(self._key(digest))
            return None, 0

    def _monolithic(self, location: str, digest: str, size: int, opener: Opener) -> None:
        sent = [0]

        def count(n: int) -> None:
            sent[0] += n

        def body() -> Iterator[bytes]:
            sent[0] = 0
            return _file_body(opener, 0, size, count)()

        self.client.request("PUT", _with_digest(location, digest), scope=self.scope, content=body, ok=(201,),
                            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
                            what=f"upload of blob {digest}")
        self.stats.add(bytes_sent=size)
        self.on_progress(size)

    def _chunked(self, location: str, digest: str, size: int, opener: Opener, offset: int = 0) -> None:
        resumes = 0
        sessions.remember(self._key(digest), location)
        while offset < size:
            length = min(self.chunk_size, size - offset)
            headers = {"Content-Type": "application/octet-stream", "Content-Length": str(length),
                       "Content-Range": f"{offset}-{offset + length - 1}"}
            try:
                resp = self.client.request("PATCH", location, scope=self.scope, headers=headers, ok=(202,),
                                           content=_file_body(opener, offset, length, lambda n: None),
                                           retries=0, what=f"chunk {offset}+{length} of blob {digest}")
            except RegistryError:
                if resumes >= self.max_resumes:
                    raise
                resumes += 1
                location, offset = self._status(location)
                continue
            location = resp.headers.get("location") or location
            sessions.remember(self._key(digest), location)
            offset += length
            self.stats.add(bytes_sent=length)
            self.on_progress(length)
        self.client.request("PUT", _with_digest(location, digest), scope=self.scope, ok=(201,),
                            headers={"Content-Length": "0"}, what=f"finishing upload of blob {digest}")

    def _cancel(self, location: str | None) -> None:
        if location:
            self.client.request("DELETE", location, scope=self.scope, ok=(204, 404), what="cancel upload")

    def _status(self, location: str) -> tuple[str, int]:
        """Where an interrupted upload stands: (location, next offset)."""
        resp = self.client.request("GET", location, scope=self.scope, ok=(204,), what="upload status")
        received = resp.headers.get("range", "")
        _, _, end = received.partition("-")
        offset = int(end) + 1 if end.isdigit() and int(end) > 0 else 0  # distribution: 0-0 = nothing yet
        return resp.headers.get("location") or location, offset
