"""Replicate cog importer: ``cog.yaml`` + the predictor/runner module → AppSpec (statically).

``config`` reads cog.yaml (lines kept for findings), ``predictor`` reads the class with libcst,
``image`` chooses the base image from the compatibility data, and this module joins them into the
spec the cog codemod (``falmigrate.codemods.cog``) and the renderers consume.
"""

from __future__ import annotations

import re
from pathlib import Path

from falmigrate import platforms
from falmigrate.importers.base import ImportRequest
from falmigrate.importers.cog import decisions as rows
from falmigrate.importers.cog import mapping
from falmigrate.importers.cog.config import CONFIG_NAME, CogConfig, read_config
from falmigrate.importers.cog.image import plan_image
from falmigrate.importers.cog.layout import layout_findings
from falmigrate.importers.cog.predictor import PredictorInfo, default_class, read_predictor
from falmigrate.importers.cog.types import file_kind
from falmigrate.spec import (
    AppSpec,
    CogDetails,
    Decision,
    Finding,
    Lifecycle,
    Location,
    ScalingSpec,
    SourceInfo,
    VolumeSpec,
)

__all__ = ["CogImporter"]
DATA_MOUNT = "/data"


def _finding(rule: str, message: str, remediation: str, location: Location | None) -> Finding:
    return Finding(rule=rule, severity=mapping.severity(rule), message=message, remediation=remediation,
                   location=location)


def _app_name(root: Path, config: CogConfig) -> str:
    image = config.data.get("image")
    if isinstance(image, str) and image.strip():
        name = image.strip().rsplit("/", 1)[-1].split(":", 1)[0]
    else:
        resolved = Path(root).resolve()
        name = resolved.parent.name if resolved.name == "input" else resolved.name
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "cog-app"


def _scaling(config: CogConfig, info: PredictorInfo, findings: list[Finding],
             decisions: list[Decision]) -> ScalingSpec:
    limit = (config.data.get("concurrency") or {}).get("max") or info.concurrent_max
    if not limit or limit <= 1:
        return ScalingSpec()
    where = config.loc("concurrency", "max") if config.data.get("concurrency") else info.endpoint.location
    decisions.append(Decision(source=f"concurrency.max: {limit}", target=f"`max_multiplexing = {limit}`",
                              note=f"one runner serves up to {limit} requests at once, like cog's concurrency",
                              location=where))
    note = "" if info.endpoint.is_async else f" — but {info.method}() is not async, so one runner still " \
        "answers one request at a time"
    findings.append(_finding("FM105", f"concurrency.max {limit} became max_multiplexing = {limit}: fal sends up to "
                             f"{limit} requests at once to one runner{note}",
                             f"keep {info.method}() `async def` (as cog requires for concurrency) so the "
                             "requests really overlap", where))
    return ScalingSpec(max_multiplexing=limit)


def _weights(config: CogConfig, info: PredictorInfo, text: str, findings: list[Finding]) -> list[VolumeSpec]:
    """FM103 for each way the predictor gets weights, worded for that way; ``/data`` is mounted."""
    runtime = []
    if info.setup_weights:
        runtime.append("setup(self, weights)")
    if "COG_WEIGHTS" in text:
        runtime.append("COG_WEIGHTS")
    if info.fetches_weights:
        runtime.append("a weights download in setup()")
    if runtime:
        findings.append(_finding(
            "FM103", f"weights ({', '.join(runtime)}): Replicate passed a weights URL per deployment "
                     "(COG_WEIGHTS); fal has none, and `/data` is mounted (persistent storage shared by the "
                     "app's runners)",
            "download the weights once into /data (e.g. fal.toolkit.download_model_weights) or set COG_WEIGHTS "
            "as a fal secret; setup() receives os.environ['COG_WEIGHTS'] like cog did",
            info.setup_location or info.endpoint.location))
    entries = config.data.get("weights")
    if entries:
        findings.append(_finding(
            "FM103", f"cog.yaml `weights:` ({len(entries)} file(s)): they ship inside the image with the code "
                     "(`COPY . /src`; a target elsewhere gets its own `COPY`), so they are re-uploaded with "
                     "every code change; `/data` is mounted too",
            "for large weights, download them once into /data in setup() (a small image starts faster and "
            "code-only changes stay small)", config.loc("weights")))
    if not runtime and not entries:
        return []
    return [VolumeSpec(name="weights", source_path="COG_WEIGHTS", fal_path=DATA_MOUNT)]


def _train(config: CogConfig, findings: list[Finding]) -> None:
    if config.data.get("train"):
        findings.append(_finding("FM104", f"cog.yaml `train: {config.data['train']}` (the training entry point) "
                                 "is not migrated: a fal app serves endpoints only",
                                 "run training elsewhere (e.g. a fal job or your own script); the TODO "
                                 "marker in fal_app.py says where", config.loc("train")))


_COG_IMPORT = re.compile(r"^\s*(from\s+cog(\.\w+)*\s+import\b|import\s+cog\b)")
_SKIP_DIRS = platforms.get("cog").skip_dirs


def _other_cog_imports(root: Path, config: CogConfig, predictor_file: str, findings: list[Finding]) -> None:
    """FM109 for the project's other modules that import cog: the fal image has no cog package, so
    fal_app.py fails at startup if it imports one of them (the predictor module itself is rewritten)."""
    train = str(config.data.get("train") or "").partition(":")[0]
    for path in sorted(Path(root).rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel in (predictor_file, train) or _SKIP_DIRS & set(path.relative_to(root).parts):
            continue
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        line = next((n for n, text in enumerate(lines, 1) if _COG_IMPORT.match(text)), None)
        if line is not None:
            findings.append(_finding(
                "FM109", f"{rel} imports cog, which is not installed in the fal image: the app fails at startup "
                         "if it imports this module",
                "replace the cog names there (cog.Path → pathlib.Path, cog.BaseModel → pydantic.BaseModel) or "
                "add `cog` to the image's requirements", Location(file=rel, line=line)))


class CogImporter:
    platform = "cog"

    def detect(self, root: Path) -> float:
        path = Path(root) / CONFIG_NAME
        if not path.is_file():
            return 0.0
        text = path.read_text(encoding="utf-8", errors="replace")
        return 1.0 if re.search(r"^(predict|run)\s*:", text, re.MULTILINE) else 0.7

    def load(self, root: Path, request: ImportRequest | None = None) -> AppSpec:
        (request or ImportRequest()).refuse("cog", "entry", "dockerfile", "context")
        root = Path(root)
        config = read_config(root)
        file, class_name, key = config.predictor_ref()
        class_name = class_name or default_class(root, file, config.loc(*key))
        info = read_predictor(root, file, class_name, config.loc(*key))
        title = info.method[:1].upper() + info.method[1:]
        plan = plan_image(root, config)
        findings = [*config.findings, *plan.findings, *info.findings]
        decisions = [Decision(source=f"{key[0]}: \"{str(config.data[key[0]]).strip()}\"",
                              target=f"`class {class_name}(fal.App)` in fal_app.py",
                              note=f"fal_app.py is {file} rewritten (comments kept); the project's other "
                                   "files are copied next to it unchanged", location=config.loc(*key)),
                     Decision(source=f"{class_name}.{info.method}()",
                              target=f'`@fal.endpoint("/")` taking `{title}Input`, returning `{title}Output`',
                              note="setup() still runs once per runner (a running copy of the app, like a cog container) "
                                   "before its first request",
                              location=info.endpoint.location),
                     rows.calling(info), *rows.inputs(info), rows.output(info),
                     *plan.decisions, *rows.build(config)]
        text = (root / file).read_text(encoding="utf-8")
        volumes = _weights(config, info, text, findings)
        scaling = _scaling(config, info, findings, decisions)
        _train(config, findings)
        _other_cog_imports(root, config, file, findings)
        findings += layout_findings(root, plan.image.run_steps, CONFIG_NAME)
        if info.endpoint.output_mode == "stream":
            findings.append(_finding("FM115", f"{info.method}() streams: `/` returns the whole list as `output`, "
                                     "`/stream` sends each item as a server-sent event",
                                     "clients that read a stream call /stream", info.endpoint.location))
        details = CogDetails(file=file, class_name=class_name, method=info.method, setup_weights=info.setup_weights,
                             file_inputs=[f.name for f in info.endpoint.inputs if file_kind(f.type)],
                             train=str(config.data["train"]) if config.data.get("train") else None)
        # cog's layer order; on the CUDA base build.python_version comes from uv, as cog does
        image = plan.image.model_copy(update={"env_first": True, "workdir_late": True,
                                              "python_from_uv": plan.hardware.gpu})
        return AppSpec(
            name=_app_name(root, config), class_name=class_name,
            source=SourceInfo(platform="cog", root=".", entry_file=file, entry_symbol=class_name,
                              files=sorted({CONFIG_NAME, file} | ({plan.image.requirements_file}
                                                                   if plan.image.requirements_file else set()))),
            endpoints=[info.endpoint],
            lifecycle=Lifecycle(setup="setup" if info.has_setup else None, setup_takes_weights=info.setup_weights),
            scaling=scaling, hardware=plan.hardware, image=image, volumes=volumes, secrets=plan.secrets,
            findings=findings, decisions=decisions, details=details,
        )
