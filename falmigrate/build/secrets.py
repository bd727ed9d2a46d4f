"""Build secrets (``--secret id=NAME,src=FILE`` or ``id=NAME,env=VAR``) and keeping them out of sight.

A secret reaches a build only as a BuildKit secret mount (``RUN --mount=type=secret,id=NAME``): it
is never a build argument, an environment variable of the image or a file in the context, so it is
in no layer and no image config. Every line of build output we relay passes through ``Redactor``,
which replaces each secret's value with ``***``; reports never carry values, only ids.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from falmigrate.errors import UsageError

MASK = "***"


@dataclass(frozen=True)
class Secret:
    id: str
    src: Path | None = None  # a file holding the value
    env: str | None = None  # or an environment variable holding it

    def value(self) -> bytes:
        if self.src is not None:
            try:
                return self.src.read_bytes()
            except OSError as exc:
                raise UsageError(f"secret {self.id!r}: cannot read {self.src}: {exc.strerror}") from exc
        value = os.environ.get(self.env or "")
        if value is None:
            raise UsageError(f"secret {self.id!r}: environment variable {self.env} is not set")
        return value.encode()

    def describe(self) -> dict:
        """What a report may say about this secret: never its value."""
        return {"id": self.id, "source": "file" if self.src is not None else "env"}


def parse_secret(spec: str) -> Secret:
    """``id=NAME,src=PATH`` | ``id=NAME,source=PATH`` | ``id=NAME,env=VAR`` | ``id=NAME`` (env NAME)."""
    fields: dict[str, str] = {}
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        if not sep or not value:
            raise UsageError(f"--secret {spec!r}: expected id=NAME,src=FILE or id=NAME,env=VAR")
        fields[key.strip().lower()] = value.strip()
    kind = fields.pop("type", "file")
    if kind not in ("file", "env"):
        raise UsageError(f"--secret {spec!r}: unknown type {kind!r}")
    secret_id = fields.pop("id", None)
    src = fields.pop("src", None) or fields.pop("source", None)
    env = fields.pop("env", None)
    if fields:
        raise UsageError(f"--secret {spec!r}: unknown field(s) {', '.join(sorted(fields))}")
    if not secret_id:
        raise UsageError(f"--secret {spec!r}: missing id=NAME")
    if src and env:
        raise UsageError(f"--secret {spec!r}: give src= or env=, not both")
    if src:
        return Secret(id=secret_id, src=Path(src).expanduser())
    return Secret(id=secret_id, env=env or secret_id)


class Redactor:
    """Masks every secret value (and its whitespace-stripped form) in text we show or store."""

    def __init__(self, secrets: list[Secret]) -> None:
        needles: set[str] = set()
        for secret in secrets:
            text = secret.value().decode("utf-8", errors="replace")
            for candidate in (text, text.strip()):
                if len(candidate) >= 3:
                    needles.add(candidate)
                for line in candidate.splitlines():
                    if len(line.strip()) >= 3:
                        needles.add(line.strip())
        # longest first, so a value containing another is masked whole
        self._needles = sorted(needles, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for needle in self._needles:
            if needle in text:
                text = text.replace(needle, MASK)
        return text

    def __bool__(self) -> bool:
        return bool(self._needles)
