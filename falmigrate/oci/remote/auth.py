"""Registry credentials and the two auth schemes of the distribution API.

Credentials come from an explicit (user, password) pair or from the Docker client configuration
(``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``): ``credHelpers`` per registry, then
``auths`` (base64 ``auth`` or username/password), then ``credsStore`` — helpers are the
``docker-credential-<name>`` programs speaking JSON on stdin/stdout. A 401 challenge says which
scheme to use: Basic (send the pair) or Bearer (trade the pair for a token at the realm). Secrets
never appear in an error message, a log line or a repr.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from falmigrate.errors import RegistryAuthError

_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")
_PARAM_RE = re.compile(r'(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)

    def basic_header(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "basic" | "bearer"
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge | None:
    """``Bearer realm="…",service="…",scope="…"`` → Challenge; None when there is no header."""
    if not header:
        return None
    scheme, _, rest = header.strip().partition(" ")
    params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
              for m in _PARAM_RE.finditer(rest)}
    return Challenge(scheme.lower(), params)


def docker_config_path() -> Path:
    base = os.environ.get("DOCKER_CONFIG")
    return Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"


def _keys_for(registry: str) -> list[str]:
    if registry in ("docker.io", "registry-1.docker.io", "index.docker.io"):
        return list(_HUB_KEYS)
    return [registry, f"https://{registry}", f"http://{registry}", f"https://{registry}/v1/",
            f"https://{registry}/v2/"]


def from_docker_config(registry: str, path: Path | None = None) -> Credentials | None:
    """Credentials for ``registry`` (host[:port]) from the Docker config, or None."""
    path = path or docker_config_path()
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RegistryAuthError(f"cannot read Docker config {path}: {type(exc).__name__}") from None
    keys = _keys_for(registry)
    helpers = config.get("credHelpers") or {}
    for key in keys:
        if key in helpers:
            return from_helper(helpers[key], key)
    auths = config.get("auths") or {}
    for key in keys:
        entry = auths.get(key)
        if entry:
            creds = _from_auth_entry(entry, path)
            if creds:
                return creds
    if config.get("credsStore"):
        return from_helper(config["credsStore"], keys[0], missing_ok=True)
    return None


def _from_auth_entry(entry: dict, path: Path) -> Credentials | None:
    if entry.get("auth"):
        try:
            user, sep, password = base64.b64decode(entry["auth"]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise RegistryAuthError(f"Docker config {path}: an `auth` entry is not "
                                    "base64 user:password") from None
        if not sep:
            raise RegistryAuthError(f"Docker config {path}: an `auth` entry has no ':' separator")
        return Credentials(user, password)
    if entry.get("username"):
        return Credentials(entry["username"], entry.get("password", ""))
    return None


def from_helper(name: str, server: str, *, missing_ok: bool = False) -> Credentials | None:
    """Ask ``docker-credential-<name> get`` for ``server``'s credentials."""
    program = f"docker-credential-{name}"
    try:
        proc = subprocess.run([program, "get"], check=False, input=server.encode(),
                              capture_output=True, timeout=30)
    except FileNotFoundError:
        raise RegistryAuthError(f"credential helper {program} is not installed",
                                hint="install it or remove it from ~/.docker/config.json") from None
    except subprocess.TimeoutExpired:
        raise RegistryAuthError(f"credential helper {program} did not answer within 30s") from None
    if proc.returncode != 0:
        if missing_ok or b"credentials not found" in proc.stdout + proc.stderr:
            return None
        raise RegistryAuthError(f"credential helper {program} failed (exit {proc.returncode})")
    try:
        data = json.loads(proc.stdout)
        return Credentials(data["Username"], data["Secret"])
    except (ValueError, KeyError, TypeError):
        raise RegistryAuthError(f"credential helper {program} returned something that is not "
                                "{Username, Secret} JSON") from None
