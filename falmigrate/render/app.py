"""``fal_app.py`` from a template, for apps no codemod rewrites: a ``fal.App`` that delegates to the user's
module as it is (imported in ``setup()``), with one ``@fal.endpoint`` per spec endpoint.

Request/response models come from ``render.models`` (same spelling as every codemod). Response models
wrap a plain return value in a single field named ``output`` (the verify convention); a handler that
returns a model is unwrapped into the generated model of the same fields.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
from typing import Any

from falmigrate.render import render_template, snippets
from falmigrate.render.models import ModelSource, model_source
from falmigrate.render.snippets import Snippet
from falmigrate.spec import AppSpec, Endpoint, Finding, InputField, TypeRef

TEMPLATE = "fal_app.py.j2"
OUTPUT_FIELD = "output"
_FILE_KINDS = {"file", "image", "audio", "video"}
NO_ENTRY_RULE = "FM090"
TEMPLATE_NAMES = {"_CODE_DIRS", "ENTRY_MODULE", "ENTRY_SYMBOL"}  # set by the template itself


def _literal(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (str, list)) else repr(value)


def _camel(name: str) -> str:
    words = re.split(r"[^0-9A-Za-z]+", name)
    text = "".join(w[:1].upper() + w[1:] for w in words if w)
    return text if text and not text[0].isdigit() else f"E{text}"


def _identifier(name: str) -> str:
    text = re.sub(r"[^0-9A-Za-z_]", "_", name).strip("_") or "endpoint"
    text = f"_{text}" if text[0].isdigit() else text
    return f"{text}_" if keyword.iskeyword(text) or keyword.issoftkeyword(text) else text


def _plain_ref(ref: TypeRef) -> TypeRef:
    """A model without known fields becomes a JSON object (there is no class to name)."""
    if ref.kind == "model" and not ref.fields:
        return TypeRef(kind="json")
    if ref.item is not None:
        return ref.model_copy(update={"item": _plain_ref(ref.item)})
    if ref.kind == "model":
        return ref.model_copy(update={"fields": [_plain_field(f) for f in ref.fields or []]})
    return ref


def _plain_field(f: InputField) -> InputField:
    return f.model_copy(update={"type": _plain_ref(f.type)})


class _Models:
    """Collects model classes in dependency order (nested models before their users), deduplicated."""

    def __init__(self) -> None:
        self.blocks: list[str] = []
        self.names: set[str] = set()
        self.needs = ModelSource(code="")

    def unique(self, name: str) -> str:
        candidate, n = name, 2
        while candidate in self.names:
            candidate, n = f"{name}{n}", n + 1
        return candidate

    def _nested(self, ref: TypeRef) -> None:
        if ref.item is not None:
            self._nested(ref.item)
        if ref.kind == "model" and ref.fields and ref.name and ref.name not in self.names:
            self.add(ref.name, ref.fields, url_files=False)

    def add(self, name: str, fields: list[InputField], *, url_files: bool, doc: str | None = None) -> str:
        for f in fields:
            self._nested(f.type)
        self.names.add(name)
        source = model_source(name, fields, docstring=doc, file_inputs_as_url=url_files)
        self.needs.merge(source)
        self.blocks.append(source.code.rstrip("\n"))
        return name


def _file_fields(endpoint: Endpoint) -> list[str]:
    names = []
    for f in endpoint.inputs:
        ref = f.type.item if f.type.kind == "optional" and f.type.item else f.type
        if ref.kind in _FILE_KINDS:
            names.append(f.name)
    return names


def _endpoint(spec: AppSpec, endpoint: Endpoint, models: _Models, used: set[str]) -> dict[str, Any]:
    handler = endpoint.handler.rsplit(".", 1)[-1]
    method = _identifier(handler)
    while method in used or method in {"setup", "teardown"}:
        method += "_"
    used.add(method)
    base = _camel(handler)
    inputs = [_plain_field(f) for f in endpoint.inputs]
    input_class = models.add(models.unique(f"{base}Input"), inputs, url_files=True,
                             doc=endpoint.description)
    output = _plain_ref(endpoint.output)
    if endpoint.output_mode == "stream":
        output = TypeRef(kind="list", item=output)
    if output.kind == "model" and output.fields:
        output_class = models.add(models.unique(output.name or f"{base}Output"), list(output.fields),
                                  url_files=False)
        wrap = "model"
    else:
        output_field = InputField(name=OUTPUT_FIELD, type=output)
        output_class = models.add(models.unique(f"{base}Output"), [output_field], url_files=False)
        wrap = OUTPUT_FIELD
    return {
        "path": _literal(endpoint.path),
        "method_name": method,
        "handler": _literal(handler),
        "input_class": input_class,
        "output_class": output_class,
        "is_async": endpoint.is_async,
        "file_fields": _literal(_file_fields(endpoint)),
        "wrap": _literal(wrap),
    }


def _entry_module(spec: AppSpec) -> str | None:
    entry = spec.source.entry_file
    if not entry or not entry.endswith(".py"):
        return None
    return entry[:-3].replace("/", ".").replace("\\", ".")


def findings(spec: AppSpec) -> list[Finding]:
    """What the template app cannot do for this spec (reported in MIGRATION.md)."""
    if spec.server is None and spec.endpoints and _entry_module(spec) is None:
        return [Finding(rule=NO_ENTRY_RULE, severity="error",
                        message="no Python entry module is known, so the generated endpoints are stubs",
                        remediation="implement each endpoint in fal_app.py (search for "
                                    "TODO(falmigrate FM090))")]
    return []


_SETTINGS = (
    ("machine_type", "hardware"), ("num_gpus", "hardware"),
    ("keep_alive", "scaling"), ("min_concurrency", "scaling"), ("max_concurrency", "scaling"),
    ("concurrency_buffer", "scaling"), ("concurrency_buffer_perc", "scaling"),
    ("max_multiplexing", "scaling"),
    ("scaling_delay", "scaling"), ("startup_timeout", "scaling"), ("request_timeout", "scaling"),
    ("skip_retry_conditions", "scaling"),
)


def _setting_literal(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_setting_literal(v) for v in value) + "]"
    return json.dumps(value) if isinstance(value, str) else repr(value)


def settings(spec: AppSpec) -> list[str]:
    """Class-attribute lines of the spec's knobs (for codemods that still write them into the class;
    deploy settings belong in pyproject.toml)."""
    groups = {"hardware": spec.hardware, "scaling": spec.scaling}
    lines = [f"{name} = {_setting_literal(value)}" for name, group in _SETTINGS
             if (value := getattr(groups[group], name)) is not None
             and not (name == "machine_type" and value == "S")]
    if spec.secrets:
        lines.append(f"secrets = {_setting_literal(sorted(spec.secrets))}")
    mounts = sorted({v.fal_path for v in spec.volumes})
    if mounts:
        lines.append(f"data_mounts = {json.dumps(mounts)}")
    return lines


def _helpers(spec: AppSpec, endpoints: list[dict[str, Any]]) -> Snippet:
    """The delegate helpers this app calls (apptemplates/delegate.py), with their imports."""
    names = {"_load_target"}
    if spec.lifecycle.setup or spec.lifecycle.teardown:
        names.add("_hook")
    if _entry_module(spec) is not None and endpoints:
        names |= {"_hook", "_arguments", "_fields"}
        names |= {"_acall" if e["is_async"] else "_call" for e in endpoints}
    return snippets.emit("delegate", names, provided=TEMPLATE_NAMES)


def _import_lines(*groups: list[str]) -> list[str]:
    """Import statements merged per module and sorted as ruff's isort does: standard library, then third
    party; ``import x`` before ``from x import y``, alphabetical."""
    plain: set[str] = set()
    names: dict[str, set[str]] = {}
    for line in (line for group in groups for line in group):
        words = line.split(maxsplit=3)
        if words[0] == "import":
            plain.add(line)
        else:
            names.setdefault(words[1], set()).update(n.strip() for n in words[3].split(","))
    lines = sorted(plain, key=lambda line: line.split()[1]) + [
        f"from {module} import {', '.join(sorted(names[module]))}" for module in sorted(names)]
    stdlib = [line for line in lines if line.split()[1].split(".")[0] in sys.stdlib_module_names]
    return [*stdlib, "", *(line for line in lines if line not in stdlib)]


def context(spec: AppSpec) -> dict[str, Any]:
    models = _Models()
    used: set[str] = set()
    endpoints = [_endpoint(spec, e, models, used) for e in spec.endpoints]
    helpers = _helpers(spec, endpoints)
    return {
        "title": spec.name,
        "platform": spec.source.platform,
        "class_name": spec.class_name,
        "import_lines": _import_lines(["import fal", "from pathlib import Path"], helpers.import_lines(),
                                      models.needs.import_lines()),
        "helpers": helpers.code.rstrip("\n"),
        "models": models.blocks,
        "entry_module": _literal(_entry_module(spec)),
        "has_entry": _entry_module(spec) is not None,
        "entry_symbol": _literal(spec.source.entry_symbol),
        "workdir": _literal(spec.image.workdir or "/app"),
        "setup_name": _literal(spec.lifecycle.setup) if spec.lifecycle.setup else None,
        # cog-style setup(self, weights): no weights URL is known at this point
        "setup_args": "weights=None" if spec.lifecycle.setup_takes_weights else "",
        "teardown_name": _literal(spec.lifecycle.teardown) if spec.lifecycle.teardown else None,
        "endpoints": endpoints,
        "no_entry_rule": NO_ENTRY_RULE,
    }


def render(spec: AppSpec) -> str:
    """The template app's text without the generated-file header."""
    return render_template(TEMPLATE, **context(spec))
