"""Static read of the predictor/runner module with libcst (the user's code is never imported).

Finds the class cog.yaml names, its ``predict``/``run`` method (parameters with their ``Input(...)``
constraints, return annotation, sync/async, generator), ``setup`` (with or without ``weights``),
``@concurrent(max=N)``, the module's ``BaseModel`` output classes and any weights download in setup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from falmigrate.errors import SourceError
from falmigrate.importers.cog import mapping
from falmigrate.importers.cog.constants import literal, module_constants, static_value
from falmigrate.importers.cog.outputs import as_images, file_evidence, has_file
from falmigrate.importers.cog.types import Names, Unsupported, is_stream, to_typeref
from falmigrate.spec import Endpoint, Finding, InputField, Location, TypeRef

_MODEL_BASES = {"BaseModel"}
_WEIGHT_FETCHERS = {"pget", "snapshot_download", "hf_hub_download", "download_weights", "download_model_weights"}
_INPUT_KEYS = {"default", "description", "ge", "le", "min_length", "max_length", "regex", "choices", "deprecated"}


@dataclass
class PredictorInfo:
    file: str
    class_name: str
    method: str
    endpoint: Endpoint
    has_setup: bool = False
    setup_weights: bool = False
    concurrent_max: int | None = None
    fetches_weights: bool = False
    setup_location: Location | None = None
    output_suffixes: list[str] = field(default_factory=list)  # file suffixes predict's literals name
    output_annotation: str | None = None  # the return annotation as written
    findings: list[Finding] = field(default_factory=list)


def parse_module(root: Path, file: str) -> cst.Module:
    """Parse ``root/file``; a syntax error becomes ``SourceError`` at its file:line."""
    try:
        text = (Path(root) / file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read {file}: {exc}", file=file) from None
    try:
        return cst.parse_module(text)
    except cst.ParserSyntaxError as exc:
        raise SourceError(f"syntax error: {exc.message}", file=file, line=exc.raw_line,
                          column=exc.raw_column + 1) from None


def cog_names(module: cst.Module) -> Names:
    names = Names()
    for statement in module.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if isinstance(small, cst.ImportFrom) and _dotted(small.module) in ("cog", "cog.types"):
                if isinstance(small.names, cst.ImportStar):
                    continue
                for alias in small.names:
                    local = alias.asname.name.value if alias.asname else alias.name.value
                    names.cog[local] = alias.name.value
            elif isinstance(small, cst.Import):
                for alias in small.names:
                    if _dotted(alias.name) == "cog":
                        names.modules.add(alias.asname.name.value if alias.asname else "cog")
    return names


def _dotted(node: cst.BaseExpression | None) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    return ""


class _Reader:
    def __init__(self, root: Path, file: str, class_name: str) -> None:
        self.file = file
        self.wrapper = MetadataWrapper(parse_module(root, file))
        self.module = self.wrapper.module
        self.positions = self.wrapper.resolve(PositionProvider)
        self.names = cog_names(self.module)
        self.constants = module_constants(self.module)
        self.class_name = class_name
        self.findings: list[Finding] = []

    def loc(self, node: cst.CSTNode) -> Location:
        pos = self.positions[node].start
        return Location(file=self.file, line=pos.line, column=pos.column + 1)

    def find(self, rule: str, message: str, remediation: str, node: cst.CSTNode) -> None:
        self.findings.append(Finding(rule=rule, severity=mapping.severity(rule), message=message,
                                     remediation=remediation, location=self.loc(node)))

    def collect_models(self) -> None:
        for statement in self.module.body:
            if isinstance(statement, cst.ClassDef) and any(
                    self.names.resolve(base.value) in _MODEL_BASES for base in statement.bases):
                fields = []
                for line in statement.body.body:
                    for small in getattr(line, "body", []):
                        if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
                            fields.append(self._model_field(small))
                self.names.models[statement.name.value] = fields

    def _model_field(self, node: cst.AnnAssign) -> InputField:
        try:
            ref = to_typeref(node.annotation.annotation, self.names)
        except Unsupported as exc:
            self.find("FM108", f"output field type {exc} is not understood: typed Any",
                      "give the field a plain type (str, int, float, bool, Path, list[...])", node)
            ref = TypeRef(kind="any")
        required = node.value is None and ref.kind != "optional"
        default = None
        if node.value is not None:
            try:
                default = literal(node.value)
            except (ValueError, SyntaxError):
                required = True
        return InputField(name=node.target.value, type=ref, required=required, default=default,
                          location=self.loc(node))

    def predictor_class(self) -> cst.ClassDef | None:
        for statement in self.module.body:
            if isinstance(statement, cst.ClassDef) and statement.name.value == self.class_name:
                return statement
        return None


def _methods(cls: cst.ClassDef) -> dict[str, cst.FunctionDef]:
    return {s.name.value: s for s in cls.body.body if isinstance(s, cst.FunctionDef)}


class _YieldFinder(cst.CSTVisitor):
    def __init__(self) -> None:
        self.found = False
        self.calls: set[str] = set()

    def visit_Yield(self, node: cst.Yield) -> None:
        self.found = True

    def visit_Call(self, node: cst.Call) -> None:
        self.calls.add(_dotted(node.func).rsplit(".", 1)[-1])

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False  # nested functions are their own scope

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False


def scan_body(function: cst.FunctionDef) -> _YieldFinder:
    finder = _YieldFinder()
    function.body.visit(finder)
    return finder


def is_input_call(node: cst.BaseExpression | None, names: Names) -> bool:
    return isinstance(node, cst.Call) and names.is_cog(node.func, "Input")


def _input_args(reader: _Reader, call: cst.Call, param: cst.Param) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for index, arg in enumerate(call.args):
        key = arg.keyword.value if arg.keyword else ("default" if index == 0 else None)
        if key is None:
            continue
        if key not in _INPUT_KEYS:
            reader.find("FM114", f"Input({key}=…) of `{param.name.value}` has no fal equivalent: dropped",
                        "check the request model in fal_app.py", arg)
            continue
        try:
            values[key] = static_value(arg.value, reader.constants)
        except (ValueError, SyntaxError, TypeError):
            reader.find("FM114", f"Input({key}=…) of `{param.name.value}` is not a literal: dropped",
                        "write the value as a literal in the request model", arg)
    return values


def _input_field(reader: _Reader, param: cst.Param) -> InputField:
    name = param.name.value
    annotation = param.annotation.annotation if param.annotation else None
    try:
        ref = to_typeref(annotation, reader.names)
    except Unsupported as exc:
        reader.find("FM107", f"input `{name}` has type {exc}, which has no fal request type: typed Any",
                    "give the field a concrete type in the request model", param)
        ref = TypeRef(kind="any")
    if param.default is None:
        args: dict[str, Any] = {}
    elif is_input_call(param.default, reader.names):
        args = _input_args(reader, param.default, param)
    else:
        try:
            args = {"default": static_value(param.default, reader.constants)}
        except (ValueError, SyntaxError, TypeError):
            reader.find("FM114", f"default of `{name}` is not a literal: the input is required on fal",
                        "write the default as a literal", param)
            args = {}
    if args.get("choices"):
        choices = list(args["choices"])
        ref = TypeRef(kind="literal", choices=choices) if ref.kind != "optional" else \
            TypeRef(kind="optional", item=TypeRef(kind="literal", choices=choices))
    leaf = ref.item if ref.kind == "optional" and ref.item is not None else ref
    if leaf.kind == "secret":
        reader.find("FM111", f"`{name}` is a cog.Secret: a SecretStr request field",
                    "send it with each request, or move it to a fal secret (`fal secrets set`)", param)
    elif ref.kind == "file" and reader.names.resolve(annotation) == "File":
        reader.find("FM110", f"`{name}` is a cog.File (deprecated): downloaded and opened in binary mode",
                    "use a path (cog.Path) and open it yourself if you need more control", param)
    default = args.get("default")
    required = default is None and ref.kind != "optional"
    if required and "default" in args and is_input_call(param.default, reader.names):
        reader.find("FM118", f"`{name}` has Input(default=None) but its type is not Optional: current cog (0.23) "
                             "requires it, older cog left it out; the fal request requires it too",
                    f"annotate it `Optional[...]` (in cog as well) if callers may omit `{name}`", param)
    return InputField(name=name, type=ref, required=required, default=None if required else default,
                      description=args.get("description"), ge=args.get("ge"), le=args.get("le"),
                      min_length=args.get("min_length"), max_length=args.get("max_length"),
                      pattern=args.get("regex"), deprecated=bool(args.get("deprecated")),
                      location=reader.loc(param))


def _concurrent_max(reader: _Reader, function: cst.FunctionDef) -> int | None:
    for decorator in function.decorators:
        call = decorator.decorator
        if isinstance(call, cst.Call) and reader.names.is_cog(call.func, "concurrent"):
            for arg in call.args:
                if arg.keyword and arg.keyword.value == "max":
                    try:
                        return int(literal(arg.value))
                    except (ValueError, SyntaxError, TypeError):
                        return None
    return None


def _output(reader: _Reader, function: cst.FunctionDef, generator: bool) -> tuple[TypeRef, bool]:
    annotation = function.returns.annotation if function.returns else None
    stream = generator or is_stream(annotation, reader.names)
    if annotation is None:
        reader.find("FM108", f"{function.name.value}() has no return annotation: the output is typed Any",
                    "annotate the return type", function)
        return TypeRef(kind="any"), stream
    try:
        return to_typeref(annotation, reader.names), stream
    except Unsupported as exc:
        reader.find("FM108", f"return type {exc} is not understood: returned as JSON as is",
                    "use a primitive, Path, list, an iterator or a BaseModel output class", function)
        return TypeRef(kind="any"), stream


def _setup(reader: _Reader, info: PredictorInfo, setup: cst.FunctionDef) -> None:
    info.has_setup = True
    info.setup_location = reader.loc(setup)
    params = [p.name.value for p in setup.params.params if p.name.value != "self"]
    info.setup_weights = "weights" in params
    for extra in (p for p in params if p != "weights"):
        reader.find("FM116", f"setup() parameter `{extra}` has no fal equivalent (fal calls setup(self))",
                    "read it from an environment variable or a constant", setup)
    info.fetches_weights = bool(scan_body(setup).calls & _WEIGHT_FETCHERS)


def default_class(root: Path, file: str, ref_location: Location) -> str:
    """The class cog's loader takes when cog.yaml names only the file: ``Runner``, else ``Predictor``."""
    if not (Path(root) / file).is_file():
        raise SourceError(f"the predictor file {file} does not exist", file=ref_location.file,
                          line=ref_location.line, hint="fix `predict:`/`run:` in cog.yaml")
    classes = {s.name.value for s in parse_module(root, file).body if isinstance(s, cst.ClassDef)}
    for name in ("Runner", "Predictor"):
        if name in classes:
            return name
    raise SourceError(f"cog.yaml names {file} without a class, and it defines neither Runner nor Predictor",
                      file=ref_location.file, line=ref_location.line, hint='write "file.py:ClassName"')


def read_predictor(root: Path, file: str, class_name: str, ref_location: Location) -> PredictorInfo:
    """Read ``root/file`` and its class ``class_name``; errors point at cog.yaml's reference line."""
    if not (Path(root) / file).is_file():
        raise SourceError(f"the predictor file {file} does not exist", file=ref_location.file,
                          line=ref_location.line, hint="fix `predict:`/`run:` in cog.yaml")
    reader = _Reader(root, file, class_name)
    reader.collect_models()
    cls = reader.predictor_class()
    if cls is None:
        raise SourceError(f"{file} defines no top-level class {class_name}", file=ref_location.file,
                          line=ref_location.line, hint="fix `predict:`/`run:` in cog.yaml")
    methods = _methods(cls)
    method = "run" if "run" in methods else "predict" if "predict" in methods else None
    if method is None:
        raise SourceError(f"class {class_name} has neither run() nor predict()", file=file,
                          line=reader.loc(cls).line)
    function = methods[method]
    scan = scan_body(function)
    output, stream = _output(reader, function, scan.found)
    evidence = file_evidence(function)
    if has_file(output) and evidence.images_only:
        output = as_images(output)
    params = [p for p in function.params.params if p.name.value != "self"]
    params += list(function.params.kwonly_params)
    endpoint = Endpoint(path="/", handler=f"{class_name}.{method}",
                        inputs=[_input_field(reader, p) for p in params], output=output,
                        output_mode="stream" if stream else "single",
                        is_async=function.asynchronous is not None, location=reader.loc(function))
    info = PredictorInfo(file=file, class_name=class_name, method=method, endpoint=endpoint,
                         concurrent_max=_concurrent_max(reader, function),
                         output_suffixes=sorted(evidence.suffixes),
                         output_annotation=cst.Module([]).code_for_node(function.returns.annotation)
                         if function.returns else None)
    if "setup" in methods:
        _setup(reader, info, methods["setup"])
    if "__init__" in methods:
        reader.find("FM116", f"{class_name}.__init__ is kept, but fal constructs the app itself",
                    "move its work into setup()", methods["__init__"])
    info.findings = reader.findings
    return info
