"""Project-level mappings of a cog project beyond the predictor itself: the app name, concurrency,
weights, other modules that import cog, and the cog release the project pins.
"""

from __future__ import annotations

import re
from pathlib import Path

from falmigrate.importers.cog import bases, mapping
from falmigrate.importers.cog.config import CogConfig
from falmigrate.importers.cog.predictor import PredictorInfo
from falmigrate.spec import Decision, Finding, Location, ScalingSpec, VolumeSpec

DATA_MOUNT = "/data"
_COG_IMPORT = re.compile(r"^\s*(from\s+cog(\.\w+)*\s+import\b|import\s+cog\b)")
_COG_PIN = re.compile(r"^\s*cog\s*(?:==|~=|>=)\s*(\d+\.\d+(?:\.\d+)?)", re.IGNORECASE)
_SKIP_DIRS = {".git", "__pycache__", ".venv", "venv", "node_modules", ".cog"}


def finding(rule: str, message: str, remediation: str, location: Location | None, severity: str | None = None
            ) -> Finding:
    return Finding(rule=rule, severity=severity or mapping.severity(rule), message=message,
                   remediation=remediation, location=location)


def app_name(root: Path, config: CogConfig) -> str:
    image = config.data.get("image")
    if isinstance(image, str) and image.strip():
        name = image.strip().rsplit("/", 1)[-1].split(":", 1)[0]
    else:
        resolved = Path(root).resolve()
        name = resolved.parent.name if resolved.name == "input" else resolved.name
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "cog-app"


def pinned_cog(config: CogConfig, requirements: list[str]) -> tuple[str | None, bool]:
    """(the cog release the project pins — ``build.sdk_version`` or a ``cog==`` requirement — and whether it
    opted into cog's coglet runtime with ``build.cog_runtime: true``)."""
    version = config.text("build", "sdk_version")
    for line in requirements:
        match = _COG_PIN.match(line.split("#", 1)[0])
        if match and version is None:
            version = match.group(1)
    return version, config.build.get("cog_runtime") is True


def scaling(config: CogConfig, info: PredictorInfo, findings: list[Finding],
            decisions: list[Decision]) -> ScalingSpec:
    limit = (config.data.get("concurrency") or {}).get("max") or info.concurrent_max
    if not limit or limit <= 1:
        return ScalingSpec()
    where = config.loc("concurrency", "max") if config.data.get("concurrency") else info.endpoint.location
    decisions.append(Decision(source=f"concurrency.max: {limit}", target=f"`max_multiplexing = {limit}`",
                              note=f"one runner serves up to {limit} requests at once, "
                                   "like cog's concurrency",
                              location=where))
    note = "" if info.endpoint.is_async else f" — but {info.method}() is not async, so one runner still " \
        "answers one request at a time"
    findings.append(finding("FM105",
                            f"concurrency.max {limit} became max_multiplexing = {limit}: fal sends up to "
                            f"{limit} requests at once to one runner{note}",
                            f"keep {info.method}() `async def` (as cog requires for concurrency) so the "
                            "requests really overlap", where))
    return ScalingSpec(max_multiplexing=limit)


def weights(config: CogConfig, info: PredictorInfo, text: str, findings: list[Finding]) -> list[VolumeSpec]:
    """FM103 for each way the predictor gets weights, worded for that way; ``/data`` is mounted."""
    runtime = []
    if info.setup_weights:
        runtime.append("setup(self, weights)")
    if "COG_WEIGHTS" in text:
        runtime.append("COG_WEIGHTS")
    if info.fetches_weights:
        runtime.append("a weights download in setup()")
    if runtime:
        findings.append(finding(
            "FM103", f"weights ({', '.join(runtime)}): Replicate passed a weights URL per deployment "
                     "(COG_WEIGHTS); fal has none, and `/data` is mounted (persistent storage shared by the "
                     "app's runners)",
            "download the weights once into /data (e.g. fal.toolkit.download_model_weights) or set "
            "COG_WEIGHTS as a fal secret; setup() receives os.environ['COG_WEIGHTS'] like cog did",
            info.setup_location or info.endpoint.location))
    entries = config.data.get("weights")
    if entries:
        findings.append(finding(
            "FM103",
            f"cog.yaml `weights:` ({len(entries)} file(s)): they ship inside the image with the code "
            "(`COPY . /src`; a target elsewhere gets its own `COPY`), so they are re-uploaded with "
            "every code change; `/data` is mounted too",
            "for large weights, download them once into /data in setup() (a small image starts faster and "
            "code-only changes stay small)", config.loc("weights")))
    if not runtime and not entries:
        return []
    return [VolumeSpec(name="weights", source_path="COG_WEIGHTS", fal_path=DATA_MOUNT)]


def other_cog_imports(root: Path, predictor_file: str) -> list[Location]:
    """The first cog import of each project module other than the predictor (which is rewritten)."""
    found = []
    for path in sorted(Path(root).rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel == predictor_file or _SKIP_DIRS & set(path.relative_to(root).parts):
            continue
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        line = next((n for n, text in enumerate(lines, 1) if _COG_IMPORT.match(text)), None)
        if line is not None:
            found.append(Location(file=rel, line=line))
    return found


def cog_in_image(importers: list[Location]) -> tuple[str, list[Finding], list[Decision]]:
    """The requirement that installs cog for modules that still import it, with FM109 (info) for each."""
    requirement = f"cog=={bases.mirrored_cog_version()}"
    found = [finding("FM109",
                     f"{where.file} imports cog: the image installs {requirement} so it imports as under "
                     "cog",
                     "replace the cog names there (cog.Path → pathlib.Path, cog.BaseModel → a "
                     "dataclass or pydantic model) to drop cog from the image", where,
                     severity="info")
             for where in importers]
    decision = Decision(source=f"modules that import cog ({', '.join(sorted({w.file for w in importers}))})",
                        target=f"`{requirement}` in the image's pip layer",
                        note="only the predictor module is rewritten; the others run as they are",
                        location=None)
    return requirement, found, [decision]
