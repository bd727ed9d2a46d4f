"""cog.yaml ``train:`` → a second fal app of the same image with a ``/train`` endpoint.

cog trains with a function (``train: "train.py:train"``): its parameters are the training inputs and it
returns the trained weights (a ``Path``, or a ``BaseModel`` such as ``TrainingOutput(weights=Path)``).
On fal it becomes its own app (``<name>-trainer``): training runs far longer than a prediction and may
want another machine, so it gets a long ``request_timeout`` without changing the predictor's. The
function is called as it is, from its module (cog is installed in the image for it); returned files
are uploaded and answered as fal Files. Replicate kept trained weights as a new model version; on fal
they belong in ``/data`` (mounted) or a store the predictor reads — FM124 says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from falmigrate.importers.cog import mapping
from falmigrate.importers.cog.config import CogConfig
from falmigrate.importers.cog.inputs import InputRules
from falmigrate.importers.cog.predictor import PredictorInfo, parse_module, read_predictor
from falmigrate.spec import Decision, Finding, HardwareSpec, ScalingSpec, ServedApp, VolumeSpec

TRAIN_PATH = "/train"
TRAIN_TIMEOUT = 3600  # seconds; Replicate trainings run for up to hours
DATA_MOUNT = "/data"


@dataclass
class TrainerPlan:
    app: ServedApp | None = None
    file: str | None = None
    function: str | None = None
    info: PredictorInfo | None = None
    findings: list[Finding] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)


def _finding(rule: str, message: str, remediation: str, config: CogConfig) -> Finding:
    return Finding(rule=rule, severity=mapping.severity(rule), message=message, remediation=remediation,
                   location=config.loc("train"))


def _reference(config: CogConfig) -> tuple[str, str]:
    ref = str(config.data["train"]).strip()
    file, _, name = ref.partition(":")
    if not file.endswith(".py"):
        raise config.error(f"train: {ref!r} is not of the form \"file.py:function\"", "train")
    return file, name or "train"


def class_name_for(taken: set[str]) -> str:
    name, n = "Trainer", 2
    while name in taken:
        name, n = f"Trainer{n}", n + 1
    return name


def read_trainer(root: Path, config: CogConfig, *, rules: InputRules, environment: dict[str, str],
                 hardware: HardwareSpec, secrets: list[str], taken: set[str]) -> TrainerPlan:
    """The trainer app for cog.yaml's ``train:`` (an empty plan without one)."""
    plan = TrainerPlan()
    if not config.data.get("train"):
        return plan
    file, name = _reference(config)
    if not (Path(root) / file).is_file():
        plan.findings.append(_finding("FM104", f"train: {file} does not exist: the trainer is not migrated",
                                      "fix `train:` in cog.yaml, or remove it", config))
        return plan
    defined = {s.name.value for s in parse_module(root, file).body
               if isinstance(s, (cst.ClassDef, cst.FunctionDef))}
    if name not in defined:
        plan.findings.append(_finding("FM104",
                                      f"train: {file} defines no function {name}: the "
                                      "trainer is not migrated",
                                      "fix `train:` in cog.yaml, or remove it", config))
        return plan
    info = read_predictor(root, file, name, config.loc("train"), rules=rules, environment=environment,
                          path=TRAIN_PATH)
    plan.findings += info.findings
    if not info.is_function or info.endpoint.output_mode == "stream":
        what = "a class" if not info.is_function else "a generator"
        plan.findings.append(_finding("FM104",
                                      f"train: {file}:{name} is {what}; cog trains with a plain function, "
                                      "so the trainer is not migrated",
                                      "run training elsewhere, or write the "
                                      "trainer as a function returning the weights", config))
        return plan
    class_name = class_name_for(taken)
    endpoint = info.endpoint.model_copy(update={"handler": name})
    plan.app = ServedApp(name=class_name.lower(), class_name=class_name, endpoints=[endpoint],
                         hardware=hardware,
                         scaling=ScalingSpec(request_timeout=TRAIN_TIMEOUT), secrets=list(secrets),
                         volumes=[VolumeSpec(name="trained", source_path="train output",
                                             fal_path=DATA_MOUNT)])
    plan.file, plan.function, plan.info = file, name, info
    plan.findings.append(_finding(
        "FM124", f"train: {file}:{name} became the fal app class {class_name} with a {TRAIN_PATH} endpoint "
                 f"(request_timeout {TRAIN_TIMEOUT} s); its returned weights are uploaded and "
                 "answered as fal File URLs — Replicate stored them as a new model version, fal does not",
        f"write the trained weights to {DATA_MOUNT} (mounted, shared with the predictor's "
        "runners) or to your own store, and load them from there in the predictor's setup(); "
        "raise request_timeout if training runs longer",
        config))
    plan.decisions.append(Decision(
        source=f"train: \"{file}:{name}\"",
        target=f"`class {class_name}(fal.App)` with `@fal.endpoint(\"{TRAIN_PATH}\")` "
               f"in fal_app.py, deployed as its own app",
        note=f"{name}() runs unchanged from {file}; its inputs are the "
             "request body, file inputs are downloaded first, returned paths become fal Files",
        location=config.loc("train")))
    return plan


def trainer_module(file: str) -> str:
    """The import path of the trainer's module from the project root
    (``training/train.py`` → ``training.train``)."""
    return file[:-3].replace("/", ".")
