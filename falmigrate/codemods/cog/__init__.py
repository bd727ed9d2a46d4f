"""cog codemod: the user's predictor module rewritten into ``fal_app.py`` (libcst; comments kept).

Rules (ids in ``falmigrate/importers/cog/data/mapping.json``, FM100–FM199), applied in this order:
1. the predictor class becomes a ``fal.App`` subclass; it carries no deploy settings (image, machine,
   scaling, secrets live in the generated pyproject.toml, which ``fal deploy <name>`` reads);
2. ``setup(self, weights)`` → ``setup(self)`` binding ``weights`` like cog did (FM103);
3. ``predict``/``run`` → ``@fal.endpoint("/")`` with generated request/response models; streams add
   ``/stream`` (FM115);
4. the helpers the rewritten code calls are copied from ``falmigrate/apptemplates/cog_*.py`` (only those);
5. ``cog`` imports → their equivalents (pathlib, pydantic, collections.abc) or dropped; cog APIs with
   no equivalent keep a ``TODO(falmigrate FM109)`` marker; imports left unused by the rewrite go.
Applying it to its own output changes nothing (the class is no longer a cog predictor).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import libcst as cst
from libcst.codemod.visitors import ImportItem

from falmigrate.codemods import RewriteResult
from falmigrate.codemods.cog import apps, imports, support
from falmigrate.codemods.cog.apps import TrainerCall
from falmigrate.codemods.cog.transform import EndpointPlan, rewrite_class
from falmigrate.importers.cog.predictor import cog_names, parse_module
from falmigrate.importers.cog.trainer import trainer_module
from falmigrate.render.models import ModelSource, model_source, unique_name
from falmigrate.spec import AppSpec, CogDetails, Endpoint, InputField, TypeRef

_TODO_RULES = {"FM107", "FM108", "FM114", "FM116"}


def _todo(rule: str, text: str) -> str:
    return f"# TODO(falmigrate {rule}): {text}"


def _top_names(module: cst.Module) -> set[str]:
    names = set()
    for statement in module.body:
        if isinstance(statement, (cst.ClassDef, cst.FunctionDef)):
            names.add(statement.name.value)
    return names | {local for _, _, local in support.existing_bindings(module)}


def _output_fields(spec_output: TypeRef, stream: bool) -> tuple[list[InputField], bool]:
    if spec_output.kind == "model" and spec_output.fields and not stream:
        return list(spec_output.fields), True
    ref = TypeRef(kind="list", item=spec_output) if stream else spec_output
    if ref.kind == "model" or (ref.item is not None and ref.item.kind == "model"):
        ref = TypeRef(kind="list", item=TypeRef(kind="json")) if stream else TypeRef(kind="json")
    return [InputField(name="output", type=ref)], False


@dataclass
class _Models:
    input_class: str
    output_class: str
    wrap_model: bool
    code: list[str]


def _endpoint_models(endpoint: Endpoint, owner: str, taken: set[str], needs: ModelSource) -> _Models:
    method = endpoint.handler.rsplit(".", 1)[-1]
    title = method[:1].upper() + method[1:]
    input_class = unique_name(f"{title}Input", taken)
    output_class = unique_name(f"{title}Output", taken)
    request = model_source(input_class, list(endpoint.inputs), file_inputs_as_url=True,
                           docstring=f"The request body: the inputs of {owner}.{method}().")
    fields, wrap_model = _output_fields(endpoint.output, endpoint.output_mode == "stream")
    response = model_source(output_class, fields, docstring=f"The response of {owner}.{method}().")
    needs.merge(request)
    needs.merge(response)
    return _Models(input_class, output_class, wrap_model, [request.code, response.code])


def _models(spec: AppSpec, taken: set[str]) -> tuple[EndpointPlan, ModelSource, list[str]]:
    endpoint = spec.endpoints[0]
    needs = ModelSource(code="")
    models = _endpoint_models(endpoint, spec.class_name, taken, needs)
    input_names = {f.name for f in endpoint.inputs}
    request_name = next(n for n in ("request", "request_", "fal_request") if n not in input_names)
    plan = EndpointPlan(endpoint=endpoint, input_class=models.input_class, output_class=models.output_class,
                        wrap_model=models.wrap_model, request=request_name,
                        setup_weights=spec.lifecycle.setup_takes_weights)
    return plan, needs, models.code


def _trainer(spec: AppSpec, cog: CogDetails, taken: set[str],
             needs: ModelSource) -> tuple[TrainerCall, list[str]] | None:
    """The trainer class to write (cog.yaml ``train:``), with its request/response models."""
    app = next((a for a in spec.more_apps if a.class_name == cog.train_app), None)
    if app is None or not app.endpoints or cog.train_file is None or cog.train_function is None:
        return None
    endpoint = app.endpoints[0]
    models = _endpoint_models(endpoint, app.class_name, taken, needs)
    module = None if cog.train_file == cog.file else trainer_module(cog.train_file)
    call = TrainerCall(class_name=app.class_name, endpoint=endpoint, input_class=models.input_class,
                       output_class=models.output_class, wrap_model=models.wrap_model, module=module,
                       function=cog.train_function, reference=cog.train or "")
    return call, models.code


def _todos(spec: AppSpec, file: str) -> dict[str, list[str]]:
    todos: dict[str, list[str]] = {"class": [], "setup": [], "endpoint": []}
    for f in spec.findings:
        if f.rule in _TODO_RULES and f.location and f.location.file == file:
            todos["endpoint"].append(_todo(f.rule, f"{f.message} (line {f.location.line})"))
    if spec.volumes:
        target = "setup" if spec.lifecycle.setup_takes_weights else "class"
        todos[target].append(_todo("FM103", "cog passed weights from COG_WEIGHTS; on fal keep them in /data "
                                   "(persistent) or download them here"))
    cog = spec.details_as(CogDetails)
    train = cog.train if cog and not cog.train_app else None
    if train:
        todos["class"].append(_todo("FM104", f"cog.yaml train: {train} was not migrated; train elsewhere"))
    return todos


def _opened_inputs(cls: cst.ClassDef, method: str, names) -> set[str]:
    opened = set()
    for statement in cls.body.body:
        if isinstance(statement, cst.FunctionDef) and statement.name.value == method:
            for param in [*statement.params.params, *statement.params.kwonly_params]:
                if param.annotation and names.resolve(param.annotation.annotation) == "File" \
                        and param.name.value != "self":
                    opened.add(param.name.value)
    return opened


class _Rename(cst.CSTTransformer):
    """Rename names in the generated blocks (fal.toolkit names the user's module binds otherwise)."""

    def __init__(self, aliases: dict[str, str]) -> None:
        self.aliases = aliases

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.Name:
        return updated.with_changes(value=self.aliases.get(updated.value, updated.value))


def _toolkit_aliases(taken: set[str], images: bool) -> dict[str, str]:
    """``{"Image": "FalImage"}`` when the rewritten module binds a fal.toolkit name itself (``from PIL import
    Image``, or a cog name kept from cog such as ``File``)."""
    wanted = ["File", "Image"] if images else ["File"]
    return {name: unique_name(f"Fal{name}", taken) for name in wanted if name in taken}


def _blocks(helpers: str, model_code: list[str], aliases: dict[str, str]) -> list[cst.BaseStatement]:
    """The helper functions and request/response models, led by the MARK comment."""
    text = "\n\n".join([helpers.strip(), *(code.strip() for code in model_code)]).strip() + "\n"
    parsed = cst.parse_module(text)
    body = support.statements((parsed.visit(_Rename(aliases)) if aliases else parsed).code)
    first = body[0].with_changes(leading_lines=[cst.EmptyLine(indent=False), cst.EmptyLine(indent=False),
                                                cst.EmptyLine(comment=cst.Comment(support.MARK))])
    return [first, *body[1:]]


def _generated_imports(needs: ModelSource, helpers: list[ImportItem], stream: bool,
                       aliases: dict[str, str]) -> list[ImportItem]:
    """What the generated models, helpers and endpoints import; fal.toolkit names the user's module binds
    itself are imported under their alias."""
    items = [ImportItem("fal", None, None), *helpers]
    if stream:
        items.append(ImportItem("fastapi.responses", "StreamingResponse", None))
    items += [ImportItem("typing", n, None) for n in sorted(needs.typing_names)]
    items += [ImportItem("pydantic", n, None) for n in sorted(needs.pydantic_names)]
    items += [ImportItem("fal.toolkit", n, None) for n in sorted(needs.toolkit_names)]
    return [ImportItem(i.module_name, i.obj_name, aliases.get(i.obj_name or ""))
            if i.module_name == "fal.toolkit" else i for i in items]


def _rewritten_body(original: cst.Module, spec: AppSpec, plan: EndpointPlan,
                    names) -> tuple[list[cst.BaseStatement], int]:
    """The module's statements with the predictor (class, or function wrapped into the app class)
    rewritten, and the index where the generated models and helpers go (just before it)."""
    cog = spec.details_as(CogDetails)
    class_name = cog.class_name if cog else spec.class_name
    function = cog.method if cog and cog.class_name is None else None
    body: list[cst.BaseStatement] = []
    at = 0
    for statement in original.body:
        if isinstance(statement, cst.ClassDef) and statement.name.value == class_name:
            target: cst.ClassDef | None = statement
        elif function and isinstance(statement, cst.FunctionDef) and statement.name.value == function:
            target = apps.function_as_class(statement, spec.class_name)
        else:
            body.append(statement)
            continue
        at = len(body)
        method = plan.endpoint.handler.rsplit(".", 1)[-1]
        body.append(rewrite_class(target, plan, names, _opened_inputs(target, method, names)))
    return body, at


def _already_fal(module: cst.Module, class_name: str) -> bool:
    return any(isinstance(s, cst.ClassDef) and s.name.value == class_name
               and any(cst.Module([]).code_for_node(b.value) == "fal.App" for b in s.bases)
               for s in module.body)


def rewrite(spec: AppSpec, root: Path, **options: object) -> RewriteResult:
    """fal_app.py text (without header) for a cog spec, plus what the rewrite itself found."""
    cog = spec.details_as(CogDetails)
    file = cog.file if cog else spec.source.entry_file
    original = parse_module(Path(root), file)
    if _already_fal(original, spec.class_name):  # a re-run on our own output: nothing to do
        return RewriteResult(code=original.code)
    names = cog_names(original)
    taken = _top_names(original)
    plan, needs, model_code = _models(spec, taken)
    trainer = _trainer(spec, cog, taken, needs) if cog else None
    if trainer:
        model_code += trainer[1]
    images = "Image" in needs.toolkit_names
    plan.todos = _todos(spec, file)
    body, at = _rewritten_body(original, spec, plan, names)
    if trainer:
        body += apps.trainer_class(trainer[0])
    user_names = imports.user_names(original.with_changes(body=body), names)
    kept_from_cog = {local for local, cog_name in names.cog.items()
                     if local in user_names and support.COG_NAMES.get(cog_name) is None}
    aliases = _toolkit_aliases((taken - set(names.cog)) | kept_from_cog, images)
    helpers = support.helpers(support.used_helpers(original.with_changes(body=body)), images=images)
    body[at:at] = _blocks(helpers.code, model_code, aliases)
    stream = spec.endpoints[0].output_mode == "stream"
    generated = _generated_imports(needs, helpers.imports, stream, aliases)
    rewritten = original.with_changes(body=body).visit(apps.ParseNoArgv())
    module, findings = imports.fix_imports(original, rewritten, names, generated, file=file,
                                           user_names=user_names)
    code = module.code
    compile(code, "fal_app.py", "exec")  # a bug here must not produce a broken file silently
    return RewriteResult(code=code, findings=findings)


__all__ = ["mapping", "rewrite"]
