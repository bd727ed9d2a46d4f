"""One exception tree for the whole library.

Every error carries the exit code the CLI returns for it and, where the problem sits in a user's
file, the file:line. The CLI maps these to exit codes in exactly one place (``cli/errors.py``);
library code only raises.
"""

from __future__ import annotations

from pathlib import Path


class FalmigrateError(Exception):
    """Base class. ``exit_code`` is what the CLI exits with; ``hint`` says what to do about it."""

    exit_code = 1
    kind = "error"

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.column = column
        self.hint = hint

    @property
    def location(self) -> str | None:
        if self.file is None:
            return None
        if self.line is None:
            return self.file
        if self.column is None:
            return f"{self.file}:{self.line}"
        return f"{self.file}:{self.line}:{self.column}"

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        return text

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "message": self.message,
            "location": self.location,
            "hint": self.hint,
            "exit_code": self.exit_code,
        }


class CheckFailed(FalmigrateError):
    """``--check`` found that output would change, or ``verify`` found different behaviour."""

    exit_code = 1
    kind = "check_failed"


class UsageError(FalmigrateError):
    """Bad command-line input: unknown platform, malformed reference, conflicting options."""

    exit_code = 2
    kind = "usage"


class SourceError(FalmigrateError):
    """The source project cannot be read: missing dir, invalid YAML, syntax error, missing class."""

    exit_code = 2
    kind = "source"


class OutputExistsError(FalmigrateError):
    """Refusing to overwrite something the user has without ``--force``."""

    exit_code = 3
    kind = "output_exists"


class ImageError(FalmigrateError):
    """An image, layer or layout is malformed or unsupported."""

    exit_code = 4
    kind = "image"


class ValidationFailed(ImageError):
    """``oci.validate`` found one or more problems; all of them are in ``problems``."""

    kind = "validation"

    def __init__(self, problems: list[str], *, subject: str = "image") -> None:
        self.problems = list(problems)
        summary = (f"{subject}: {len(self.problems)} problem(s)\n"
                   + "\n".join(f"  - {p}" for p in self.problems))
        super().__init__(summary)

    def to_dict(self) -> dict:
        data = super().to_dict()
        data["problems"] = self.problems
        return data


class IntegrityError(FalmigrateError):
    """Bytes do not match the digest or size they were promised to have."""

    exit_code = 5
    kind = "integrity"


class RegistryError(FalmigrateError):
    """The registry refused or failed a request (after retries)."""

    exit_code = 6
    kind = "registry"


class RegistryAuthError(RegistryError):
    """Credentials missing or rejected."""

    exit_code = 7
    kind = "auth"


class RegistryNotFoundError(RegistryError):
    """Repository, tag, manifest or blob does not exist."""

    exit_code = 8
    kind = "not_found"


class UnsafeArchiveError(FalmigrateError):
    """A layer tries to write outside the target, or holds something we refuse to create."""

    exit_code = 9
    kind = "unsafe_archive"


class EngineError(FalmigrateError):
    """The Docker engine is missing, unreachable or refused a request."""

    exit_code = 10
    kind = "engine"


class BuildFailed(FalmigrateError):
    """A Dockerfile step failed; ``log_tail`` holds the last lines of the build log."""

    exit_code = 11
    kind = "build"

    def __init__(self, message: str, *, step: str | None = None,
                 log_tail: list[str] | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.step = step
        self.log_tail = list(log_tail or [])

    def to_dict(self) -> dict:
        data = super().to_dict()
        data["step"] = self.step
        data["log_tail"] = self.log_tail
        return data


class VerifyError(FalmigrateError):
    """One side of a behaviour diff could not run at all (not a mismatch: see CheckFailed)."""

    exit_code = 12
    kind = "verify"


EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "check failed: --check found changes, or verify found different behaviour",
    2: "bad input: usage error or unreadable source project",
    3: "output exists: pass --force to overwrite",
    4: "invalid image, layer or layout",
    5: "integrity: digest or size mismatch",
    6: "registry error",
    7: "registry authentication failed",
    8: "not found in registry",
    9: "unsafe archive refused during unpack",
    10: "Docker engine unreachable or refused",
    11: "image build failed",
    12: "verify could not run one side",
    70: "internal error (a bug in falmigrate)",
}
