"""The "What was mapped" rows of MIGRATION.md for a cog project, in a cog user's words.

Each row names the cog construct as written in cog.yaml or the predictor (``Input(choices=…)``,
``-> Path``, ``build.system_packages``) and says what it became and what that changes for callers:
how a Replicate request/response maps to the fal endpoint's body, which inputs fal refuses (422),
why a file output is a fal ``Image`` or a ``File``.
"""

from __future__ import annotations

import json

from falmigrate.importers.cog.config import CogConfig
from falmigrate.importers.cog.outputs import IMAGE_SUFFIXES
from falmigrate.importers.cog.predictor import PredictorInfo
from falmigrate.importers.cog.types import file_kind
from falmigrate.spec import Decision, InputField, TypeRef

_CONSTRAINTS = (("ge", "ge"), ("le", "le"), ("min_length", "min_length"), ("max_length", "max_length"),
                ("pattern", "regex"))


def _cog_type(ref: TypeRef) -> str:
    """A TypeRef spelled the way a cog predictor writes it."""
    names = {"file": "Path", "image": "Path", "secret": "Secret", "json": "dict", "any": "Any"}
    if ref.kind == "list" and ref.item is not None:
        return f"list[{_cog_type(ref.item)}]"
    if ref.kind == "optional" and ref.item is not None:
        return f"Optional[{_cog_type(ref.item)}]"
    if ref.kind == "literal":
        kinds = {type(c).__name__ for c in ref.choices or []}
        return kinds.pop() if len(kinds) == 1 else "str"
    if ref.kind == "model":
        return ref.name or "BaseModel"
    return names.get(ref.kind, ref.kind)


def _sample(field: InputField) -> str:
    if field.default is not None:
        return json.dumps(field.default)
    leaf = field.type.item if field.type.kind == "optional" and field.type.item else field.type
    if file_kind(field.type):
        return '"https://…"'
    return {"int": "1", "float": "0.5", "bool": "true"}.get(leaf.kind, '"…"')


def calling(info: PredictorInfo) -> Decision:
    """How a Replicate client's request/response maps to the fal endpoint."""
    endpoint = info.endpoint
    body = ", ".join(f'"{f.name}": {_sample(f)}' for f in endpoint.inputs[:2])
    more = ", …" if len(endpoint.inputs) > 2 else ""
    if endpoint.output_mode == "stream":
        response = ('`{"output": [item, …]}` (the whole stream as a list); `POST /stream` sends each item '
                    'as a server-sent event')
    elif endpoint.output.kind == "model":
        fields = ", ".join(f'"{f.name}": …' for f in (endpoint.output.fields or [])[:3])
        response = f"`{{{fields}}}` (the fields of {endpoint.output.name}, at the top level)"
    else:
        response = f'`{{"output": …}}` (the value {info.method}() returned)'
    return Decision(source='a request to cog\'s `POST /predictions` (or Replicate): '
                           f'`{{"input": {{{body}{more}}}}}`',
                    target=f"`POST /` with the inputs as the JSON body: `{{{body}{more}}}`",
                    note=f"the response is {response}", location=endpoint.location)


def _constraint_text(field: InputField) -> tuple[str, str] | None:
    """(the Input(...) arguments, the Field/Literal they became) for a constrained input."""
    cog_args, fal_args = [], []
    for fal_name, cog_name in _CONSTRAINTS:
        value = getattr(field, fal_name)
        if value is not None:
            cog_args.append(f"{cog_name}={value!r}")
            fal_args.append(f"{fal_name}={value!r}")
    leaf = field.type.item if field.type.kind == "optional" and field.type.item else field.type
    if leaf.kind == "literal":
        cog_args.insert(0, f"choices={leaf.choices!r}")
        fal_args.insert(0, f"Literal{leaf.choices!r}")
    if field.deprecated:
        cog_args.append("deprecated=True")
        fal_args.append("deprecated=True")
    if not cog_args:
        return None
    return ", ".join(cog_args), ", ".join(fal_args)


def inputs(info: PredictorInfo) -> list[Decision]:
    found = []
    for f in info.endpoint.inputs:
        constrained = _constraint_text(f)
        if constrained:
            limits = constrained[0] != "deprecated=True"
            note = (f"other values are refused with HTTP 422 before {info.method}() runs "
                    "(cog refused them too)"
                    if limits else "still accepted; marked deprecated in the request schema")
            found.append(Decision(source=f"input `{f.name}`: Input({constrained[0]})",
                                  target=f"`{f.name}` in the request model: {constrained[1]}",
                                  note=note, location=f.location))
        if file_kind(f.type):
            found.append(Decision(source=f"input `{f.name}`: {_cog_type(f.type)}",
                                  target="a URL string in the request (http(s) or `data:`); downloaded to "
                                         "a local file before your code runs, as cog did",
                                  note="your code still receives a local path", location=f.location))
        elif "secret" in str(f.type):
            found.append(Decision(source=f"input `{f.name}`: Secret", target="a pydantic `SecretStr` field",
                                  note="`.get_secret_value()` works as before; the value is hidden in logs",
                                  location=f.location))
    return found


def output(info: PredictorInfo) -> Decision:
    out, where = info.endpoint.output, info.endpoint.location
    title = info.method[:1].upper() + info.method[1:]
    images, files = _has_kind(out, "image"), _has_kind(out, "file")
    if images:
        seen = ", ".join(s for s in info.output_suffixes)
        note = (f"typed fal `Image` (shown as a picture on fal) because {info.method}() "
                f"names only image files ({seen}); each returned path is uploaded and the "
                "response carries its `url`")
    elif files:
        seen = ", ".join(info.output_suffixes) or "none"
        note = (f"typed fal `File` ({info.method}() names file suffixes: {seen}; only "
                f"{', '.join(IMAGE_SUFFIXES[:4])}… would make it an `Image`); each returned path "
                "is uploaded and the response carries its `url`")
    else:
        note = None
    written = info.output_annotation or _cog_type(out)
    if info.endpoint.output_mode == "stream":
        return Decision(source=f"output `-> {written}` (streamed)",
                        target=f'`output: list[{_fal_type(out)}]` at "/", one server-sent event '
                               'per item at "/stream"',
                        note=note, location=where)
    if out.kind == "model":
        return Decision(source=f"output class `{out.name}` (cog BaseModel)",
                        target=f"response model `{title}Output` with the same fields: "
                               + ", ".join(f"`{f.name}: {_fal_type(f.type)}`" for f in out.fields or []),
                        note=note, location=where)
    return Decision(source=f"output `-> {written}`", target=f"response field `output: {_fal_type(out)}`",
                    note=note, location=where)


def _has_kind(ref: TypeRef, kind: str) -> bool:
    return ref.kind == kind or (ref.item is not None and _has_kind(ref.item, kind)) \
        or any(_has_kind(f.type, kind) for f in ref.fields or [])


def _fal_type(ref: TypeRef) -> str:
    if ref.kind in ("file", "image"):
        return "Image" if ref.kind == "image" else "File"
    if ref.kind in ("list", "optional") and ref.item is not None:
        inner = _fal_type(ref.item)
        return f"list[{inner}]" if ref.kind == "list" else f"{inner} | None"
    return _cog_type(ref)


def build(config: CogConfig) -> list[Decision]:
    found = []
    for key, target in (("system_packages", "one `apt-get install` layer"),
                        ("python_requirements", "`COPY` + `pip install -r` layer"),
                        ("python_packages", "one `pip install` layer")):
        if config.build.get(key):
            found.append(Decision(source=f"build.{key}", target=target, location=config.loc("build", key)))
    if config.data.get("environment"):
        found.append(Decision(source="environment",
                              target="`ENV` lines right after `FROM`, as cog writes them",
                              note="set while the image builds and when the app runs",
                              location=config.loc("environment")))
    found.append(Decision(source="cog's layout: code in /src, copied last",
                          target="`WORKDIR /src` and `COPY . /src` as the last layer",
                          note="a code change rebuilds only that layer; relative paths in "
                               "predict work as before"))
    return found
