"""Registry image references: ``[docker://]host[:port]/repo[:tag][@digest]`` with docker.io defaults.

One parser for the CLI, push, pull and the ``docker://`` transport, so every command agrees on what
``ubuntu``, ``localhost:5000/app`` or ``127.0.0.1:5000/team/app:v1@sha256:…`` mean.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from falmigrate.errors import UsageError

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
PREFIX = "docker://"
_REPO_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$|^sha512:[a-f0-9]{128}$")


@dataclass(frozen=True)
class Reference:
    registry: str  # host[:port] as written (docker.io for Docker Hub)
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def api_host(self) -> str:
        """The host[:port] to talk HTTP to (Docker Hub's API lives elsewhere)."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def reference(self) -> str:
        """What goes after ``/manifests/``: the digest if pinned, else the tag (default latest)."""
        return self.digest or self.tag or "latest"

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.registry, self.repository, self.tag, digest)

    def with_repository(self, repository: str) -> Reference:
        return Reference(self.registry, repository, self.tag, self.digest)

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    @property
    def pinned(self) -> str:
        """``registry/repo@digest`` (needs a digest)."""
        return f"{self.name}@{self.digest}"


def is_loopback(host: str) -> bool:
    """True for localhost / 127.0.0.0/8 / ::1 (with or without a port)."""
    name = host
    if name.startswith("["):
        name = name[1:].split("]", 1)[0]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def parse(text: str) -> Reference:
    """Parse a reference (the ``docker://`` prefix is optional); raises UsageError when malformed."""
    raw = text.removeprefix(PREFIX).strip()
    if not raw:
        raise UsageError(f"empty image reference: {text!r}")
    rest, digest = raw, None
    if "@" in raw:
        rest, digest = raw.split("@", 1)
        if not _DIGEST_RE.match(digest):
            raise UsageError(f"bad digest in reference {text!r}", hint="expected @sha256:<64 hex>")
    first, sep, remainder = rest.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        registry, path = first, remainder
    else:
        registry, path = DOCKER_HUB, rest
    tag = None
    last_slash = path.rfind("/")
    colon = path.rfind(":")
    if colon > last_slash:
        path, tag = path[:colon], path[colon + 1:]
        if not _TAG_RE.match(tag):
            raise UsageError(f"bad tag {tag!r} in reference {text!r}")
    if registry == "index.docker.io":
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not _REPO_RE.match(path):
        raise UsageError(f"bad repository name {path!r} in reference {text!r}",
                         hint="lowercase letters, digits, separators . _ - and / between components")
    return Reference(registry=registry, repository=path, tag=tag, digest=digest)
