"""Content digests (``sha256:<hex>``): parsing, computing, and verifying while streaming."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO

from falmigrate.errors import ImageError, IntegrityError

_DIGEST_RE = re.compile(r"^(sha256|sha512):([a-f0-9]+)$")
_HEX_LEN = {"sha256": 64, "sha512": 128}


@dataclass(frozen=True, order=True)
class Digest:
    algorithm: str
    hex: str

    @classmethod
    def parse(cls, text: str) -> Digest:
        match = _DIGEST_RE.match(text or "")
        if not match or len(match.group(2)) != _HEX_LEN[match.group(1)]:
            raise ImageError(f"not a valid digest: {text!r}")
        return cls(match.group(1), match.group(2))

    @classmethod
    def of_bytes(cls, data: bytes) -> Digest:
        return cls("sha256", hashlib.sha256(data).hexdigest())

    @classmethod
    def of_file(cls, fileobj: BinaryIO, chunk_size: int = 1 << 20) -> tuple[Digest, int]:
        """Digest and size of everything left in ``fileobj``."""
        hasher = hashlib.sha256()
        size = 0
        while chunk := fileobj.read(chunk_size):
            hasher.update(chunk)
            size += len(chunk)
        return cls("sha256", hasher.hexdigest()), size

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @property
    def encoded(self) -> str:
        return self.hex


class DigestingReader:
    """Wraps a binary stream; hashes and counts what is read through it."""

    def __init__(self, raw: BinaryIO, algorithm: str = "sha256") -> None:
        self._raw = raw
        self._hasher = hashlib.new(algorithm)
        self.algorithm = algorithm
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._hasher.update(data)
        self.size += len(data)
        return data

    @property
    def digest(self) -> Digest:
        return Digest(self.algorithm, self._hasher.hexdigest())


class Verifier:
    """Incremental check that a stream of chunks has the expected digest (and size, if given)."""

    def __init__(self, expected: Digest | str, size: int | None = None) -> None:
        self.expected = Digest.parse(expected) if isinstance(expected, str) else expected
        self.expected_size = size
        self._hasher = hashlib.new(self.expected.algorithm)
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._hasher.update(chunk)
        self.size += len(chunk)

    def feed(self, chunks: Iterable[bytes]) -> Iterable[bytes]:
        for chunk in chunks:
            self.update(chunk)
            yield chunk

    def check(self, what: str = "blob") -> None:
        actual = Digest(self.expected.algorithm, self._hasher.hexdigest())
        if self.expected_size is not None and self.size != self.expected_size:
            raise IntegrityError(
                f"{what} {self.expected}: expected {self.expected_size} bytes, got {self.size}"
            )
        if actual != self.expected:
            raise IntegrityError(f"{what}: expected digest {self.expected}, got {actual}")
