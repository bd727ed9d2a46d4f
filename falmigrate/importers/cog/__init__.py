"""Replicate cog importer: ``cog.yaml`` + the predictor/runner (+ trainer) → AppSpec, statically.

``entry`` picks the cog project (``--entry``, or the repository's only/root cog.yaml), ``config`` reads
its cog.yaml (lines kept for findings), ``predictor`` reads the class or function with libcst, ``image``
chooses the base image as cog does (``bases``), ``trainer`` turns ``train:`` into a second app,
``evidence`` reads what the code says that cog.yaml does not, and this module joins them into the spec
the cog codemod (``falmigrate.codemods.cog``) and the renderers consume. Paths in the spec are relative
to the cog project's folder (``SourceInfo.root``), which is also the image's build context, as for cog.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import libcst as cst

from falmigrate.errors import SourceError
from falmigrate.importers.base import ImportRequest
from falmigrate.importers.cog import compat, evidence, extras, trainer
from falmigrate.importers.cog import decisions as rows
from falmigrate.importers.cog.bases import input_none_required
from falmigrate.importers.cog.config import CogConfig, read_config
from falmigrate.importers.cog.entry import CONFIG_NAME, CogEntry, candidates, resolve
from falmigrate.importers.cog.image import ImagePlan, plan_image, requirement_lines
from falmigrate.importers.cog.inputs import InputRules
from falmigrate.importers.cog.layout import layout_findings
from falmigrate.importers.cog.predictor import PredictorInfo, default_class, parse_module, read_predictor
from falmigrate.importers.cog.types import file_kind
from falmigrate.spec import AppSpec, CogDetails, Decision, Finding, Lifecycle, SourceInfo

__all__ = ["CogImporter"]


@dataclass
class _Project:
    root: Path
    entry: CogEntry
    config: CogConfig
    environment: dict[str, str]
    rules: InputRules
    requirements: list[str]


def _read_project(root: Path, entry: CogEntry) -> _Project:
    folder = entry.project_dir(root)
    config = read_config(folder, entry.config)
    environment = dict(item.split("=", 1) for item in config.data.get("environment") or [])
    requirements = requirement_lines(folder, config)
    version, runtime = extras.pinned_cog(config, requirements)
    rules = InputRules(none_required=input_none_required(version, runtime), cog_version=version)
    return _Project(folder, entry, config, environment, rules, requirements)


def _read_predictor(project: _Project) -> tuple[PredictorInfo, tuple]:
    config = project.config
    file, name, key = config.predictor_ref()
    name = name or default_class(project.root, file, config.loc(*key))
    info = read_predictor(project.root, file, name, config.loc(*key), rules=project.rules,
                          environment=project.environment)
    return info, key


def _top_names(root: Path, file: str) -> set[str]:
    names: set[str] = set()
    for statement in parse_module(root, file).body:
        if isinstance(statement, (cst.ClassDef, cst.FunctionDef)):
            names.add(statement.name.value)
        elif isinstance(statement, cst.SimpleStatementLine):
            names |= {t.target.value for s in statement.body if isinstance(s, cst.Assign)
                      for t in s.targets if isinstance(t.target, cst.Name)}
    return names


def _app_class(info: PredictorInfo, taken: set[str]) -> str:
    """The fal app class: the predictor class's own name, or for a function ``predict`` → ``PredictApp``."""
    if info.class_name:
        return info.class_name
    base = "".join(part[:1].upper() + part[1:] for part in info.method.split("_") if part) + "App"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}{n}", n + 1
    return name


def _gpu(project: _Project, facts: evidence.CodeFacts) -> tuple[bool | None, Finding | None]:
    """(the GPU decision when cog.yaml has none, FM121) from the requirements and the code."""
    said = project.config.build.get("gpu")
    where = (project.config.loc("build", "python_requirements")
             if project.config.build.get("python_requirements") else project.config.loc("build"))
    found = evidence.requirement_evidence(project.requirements, where) + facts.cuda
    from falmigrate.importers.cog.bases import table

    note = evidence.gpu_finding(said, found, table()["machines"]["gpu"])
    return (True if said is None and found else None), note


def _main_decisions(project: _Project, info: PredictorInfo, key: tuple, class_name: str) -> list[Decision]:
    config = project.config
    title = info.method[:1].upper() + info.method[1:]
    what = f"class {info.class_name}" if info.class_name else f"function {info.method}()"
    return [Decision(source=f"{key[0]}: \"{str(config.data[key[0]]).strip()}\"",
                     target=f"`class {class_name}(fal.App)` in fal_app.py",
                     note=f"fal_app.py is {info.file} rewritten (comments kept; the {what} "
                          "becomes the app); the project's other files are copied next to it unchanged",
                     location=config.loc(*key)),
            Decision(source=f"{info.endpoint.handler}()",
                     target=f'`@fal.endpoint("/")` taking `{title}Input`, returning `{title}Output`',
                     note="setup() still runs once per runner (a running copy of the app, "
                          "like a cog container) before its first request", location=info.endpoint.location),
            rows.calling(info), *rows.inputs(info), rows.output(info)]


def _project_decision(project: _Project, root: Path) -> list[Decision]:
    if project.entry.project == ".":
        return []
    others = [c for c in candidates(root) if c != f"{project.entry.project}/{project.entry.config}"]
    return [Decision(source=f"--entry {project.entry.project}/{project.entry.config}",
                     target=f"the cog project `{project.entry.project}/` (the output is that "
                            "folder, cog's build context); paths in this report are relative to it",
                     note=f"the repository's other cog projects ({', '.join(others) or 'none'}) are not "
                          "converted")]


def _findings(project: _Project, info: PredictorInfo, plan: ImagePlan,
              facts: evidence.CodeFacts) -> list[Finding]:
    found = [*project.config.findings, *plan.findings, *info.findings]
    found += evidence.argparse_findings(facts.argparse, info.file)
    found += evidence.import_work_findings(facts.import_work)
    found += layout_findings(project.root, plan.image.run_steps, project.config.file)
    if info.endpoint.output_mode == "stream":
        found.append(extras.finding("FM115",
                                    f"{info.method}() streams: `/` returns the whole list as `output`, "
                                    "`/stream` sends each item as a server-sent event",
                                    "clients that read a stream call /stream", info.endpoint.location))
    return found


def _with_cog_installed(plan: ImagePlan, info: PredictorInfo, train: trainer.TrainerPlan,
                        findings: list[Finding], decisions: list[Decision], root: Path) -> None:
    """The real cog package in the image when kept code still imports it (a trainer, helper modules)."""
    importers = extras.other_cog_imports(root, info.file)
    if not importers and not (train.app is not None and train.file == info.file):
        return
    requirement, found, made = extras.cog_in_image(importers)
    findings += found
    decisions += made
    requirements = [*plan.image.python_requirements, requirement]
    plan.image = plan.image.model_copy(update={"python_requirements": requirements})


def _load(root: Path, entry: CogEntry) -> AppSpec:
    project = _read_project(root, entry)
    config = project.config
    info, key = _read_predictor(project)
    facts = evidence.code_facts(project.root)
    gpu, gpu_note = _gpu(project, facts)
    plan = plan_image(project.root, config, gpu=gpu)
    taken = _top_names(project.root, info.file)
    class_name = _app_class(info, taken)
    findings = _findings(project, info, plan, facts) + ([gpu_note] if gpu_note else [])
    decisions = [*_main_decisions(project, info, key, class_name), *plan.decisions, *rows.build(config),
                 *_project_decision(project, root)]
    text = (project.root / info.file).read_text(encoding="utf-8")
    volumes = extras.weights(config, info, text, findings)
    scaling = extras.scaling(config, info, findings, decisions)
    train = trainer.read_trainer(project.root, config, rules=project.rules, environment=project.environment,
                                 hardware=plan.hardware, secrets=plan.secrets, taken=taken | {class_name})
    findings += train.findings
    decisions += train.decisions
    _with_cog_installed(plan, info, train, findings, decisions, project.root)
    details = CogDetails(file=info.file, class_name=info.class_name, method=info.method,
                         setup_weights=info.setup_weights,
                         file_inputs=[f.name for f in info.endpoint.inputs if file_kind(f.type)],
                         train=str(config.data["train"]) if config.data.get("train") else None,
                         train_file=train.file, train_function=train.function,
                         train_app=train.app.class_name if train.app else None,
                         cog_version=project.rules.cog_version, config=config.file)
    # cog's layer order; on the CUDA base build.python_version comes from uv, as cog does
    image = plan.image.model_copy(update={"env_first": True, "workdir_late": True,
                                          "python_from_uv": plan.hardware.gpu})
    files = ({config.file, info.file}
             | ({plan.image.requirements_file} if plan.image.requirements_file else set()))
    return AppSpec(
        name=extras.app_name(project.root, config), class_name=class_name,
        source=SourceInfo(platform="cog", root=entry.project, entry_file=info.file,
                          entry_symbol=info.class_name
                          or info.method, files=sorted(files | ({train.file} if train.file else set()))),
        endpoints=[info.endpoint],
        lifecycle=Lifecycle(setup="setup" if info.has_setup else None,
                            setup_takes_weights=info.setup_weights),
        scaling=scaling, hardware=plan.hardware, image=image, volumes=volumes, secrets=plan.secrets,
        more_apps=[train.app] if train.app else [], findings=findings, decisions=decisions, details=details,
    )


class CogImporter:
    platform = "cog"

    def detect(self, root: Path) -> float:
        path = Path(root) / CONFIG_NAME
        if not path.is_file():
            return 0.6 if candidates(root) else 0.0  # cog projects in sub-folders (--entry picks one)
        text = path.read_text(encoding="utf-8", errors="replace")
        return 1.0 if re.search(r"^(predict|run)\s*:", text, re.MULTILINE) else 0.7

    def load(self, root: Path, request: ImportRequest | None = None) -> AppSpec:
        request = request or ImportRequest()
        request.refuse("cog", "dockerfile", "context")
        root = Path(root)
        entry = resolve(root, request.entry)
        try:
            spec = _load(root, entry)
            # --route compat: cog's own server in the image instead of a fal app (importers/cog/compat.py)
            return compat.apply(spec) if request.route == "compat" else spec
        except SourceError as exc:  # errors name files as the user sees them: relative to SRC
            if entry.project != "." and exc.file and not exc.file.startswith(f"{entry.project}/"):
                exc.file = f"{entry.project}/{exc.file}"
            raise
