"""Static read of the predictor/runner module with libcst (the user's code is never imported).

Finds what cog.yaml names — a class (``predict``/``run`` method, ``setup`` with or without ``weights``,
``@concurrent(max=N)``) or a plain function (cog's function predictors and trainers) — with its
parameters (``inputs``), return annotation, sync/async, generator, the module's ``BaseModel`` output
classes and any weights download in setup. cog's pre-0.1 API (``cog.Predictor`` with stacked
``@cog.input`` decorators) is refused with the construct named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from falmigrate.errors import SourceError
from falmigrate.importers.cog import mapping
from falmigrate.importers.cog.constants import StaticValues, literal
from falmigrate.importers.cog.inputs import InputRules, input_field, is_input_call
from falmigrate.importers.cog.outputs import as_images, file_evidence, has_file
from falmigrate.importers.cog.types import Names, Unsupported, is_stream, to_typeref
from falmigrate.spec import Endpoint, Finding, InputField, Location, TypeRef

__all__ = ["PredictorInfo", "cog_names", "default_class", "is_input_call", "parse_module", "read_predictor",
           "scan_body"]

_MODEL_BASES = {"BaseModel"}
_WEIGHT_FETCHERS = {"pget", "snapshot_download", "hf_hub_download", "download_weights",
                    "download_model_weights"}


@dataclass
class PredictorInfo:
    file: str
    class_name: str | None  # None: a function predictor (or trainer)
    method: str  # the method, or the function's name
    endpoint: Endpoint
    has_setup: bool = False
    setup_weights: bool = False
    concurrent_max: int | None = None
    fetches_weights: bool = False
    setup_location: Location | None = None
    output_suffixes: list[str] = field(default_factory=list)  # file suffixes predict's literals name
    output_annotation: str | None = None  # the return annotation as written
    findings: list[Finding] = field(default_factory=list)

    @property
    def is_function(self) -> bool:
        return self.class_name is None


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
    def __init__(self, root: Path, file: str, environment: dict[str, str]) -> None:
        self.file = file
        self.wrapper = MetadataWrapper(parse_module(root, file))
        self.module = self.wrapper.module
        self.positions = self.wrapper.resolve(PositionProvider)
        self.names = cog_names(self.module)
        self.values = StaticValues(Path(root), file, self.module, environment)
        self.findings: list[Finding] = []

    def loc(self, node: cst.CSTNode) -> Location:
        pos = self.positions[node].start
        return Location(file=self.file, line=pos.line, column=pos.column + 1)

    def find(self, rule: str, message: str, remediation: str, node: cst.CSTNode | Location | None) -> None:
        """A finding at ``node`` (of this module) or at a location the evaluator reported."""
        where = node if isinstance(node, Location) or node is None else self.loc(node)
        self.findings.append(Finding(rule=rule, severity=mapping.severity(rule), message=message,
                                     remediation=remediation, location=where))

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

    def target(self, name: str) -> cst.ClassDef | cst.FunctionDef | None:
        for statement in self.module.body:
            if isinstance(statement, (cst.ClassDef, cst.FunctionDef)) and statement.name.value == name:
                return statement
        return None

    def refuse_legacy_api(self, cls: cst.ClassDef) -> None:
        """cog before 0.1 (``class Predictor(cog.Predictor)`` + ``@cog.input(...)``): named, not guessed."""
        for base in cls.bases:
            if self.names.is_cog(base.value, "Predictor"):
                raise _legacy(self.loc(base), f"`class {cls.name.value}({_dotted(base.value)})`")
        for method in _methods(cls).values():
            for decorator in method.decorators:
                node = decorator.decorator
                if isinstance(node, cst.Call) and self.names.is_cog(node.func, "input"):
                    raise _legacy(self.loc(decorator), f"`@{_dotted(node.func)}(…)` on {method.name.value}()")


def _legacy(where: Location, construct: str) -> SourceError:
    return SourceError(f"{construct} is cog's pre-0.1 API (cog.Predictor with stacked "
                       "@cog.input decorators), which current cog and falmigrate do not read",
                       file=where.file, line=where.line, column=where.column,
                       hint="port the predictor to `BasePredictor` with `name: type = Input(...)` parameters "
                            "(cog's own migration), then convert again")


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
    classes = {s.name.value for s in parse_module(root, file).body
               if isinstance(s, (cst.ClassDef, cst.FunctionDef))}
    for name in ("Runner", "Predictor"):
        if name in classes:
            return name
    raise SourceError(f"cog.yaml names {file} without a class, and it defines neither Runner nor Predictor",
                      file=ref_location.file, line=ref_location.line, hint='write "file.py:ClassName"')


def _endpoint(reader: _Reader, function: cst.FunctionDef, handler: str, path: str,
              rules: InputRules) -> tuple[Endpoint, PredictorInfo]:
    scan = scan_body(function)
    output, stream = _output(reader, function, scan.found)
    evidence = file_evidence(function)
    if has_file(output) and evidence.images_only:
        output = as_images(output)
    params = [p for p in function.params.params if p.name.value != "self"]
    params += list(function.params.kwonly_params)
    endpoint = Endpoint(path=path, handler=handler, inputs=[input_field(reader, p, rules) for p in params],
                        output=output, output_mode="stream" if stream else "single",
                        is_async=function.asynchronous is not None, location=reader.loc(function))
    info = PredictorInfo(file=reader.file, class_name=None, method=function.name.value, endpoint=endpoint,
                         output_suffixes=sorted(evidence.suffixes),
                         output_annotation=cst.Module([]).code_for_node(function.returns.annotation)
                         if function.returns else None)
    return endpoint, info


def _class_predictor(reader: _Reader, cls: cst.ClassDef, path: str, rules: InputRules) -> PredictorInfo:
    reader.refuse_legacy_api(cls)
    methods = _methods(cls)
    method = "run" if "run" in methods else "predict" if "predict" in methods else None
    if method is None:
        raise SourceError(f"class {cls.name.value} has neither run() nor predict()", file=reader.file,
                          line=reader.loc(cls).line)
    function = methods[method]
    _, info = _endpoint(reader, function, f"{cls.name.value}.{method}", path, rules)
    info.class_name = cls.name.value
    info.concurrent_max = _concurrent_max(reader, function)
    if "setup" in methods:
        _setup(reader, info, methods["setup"])
    if "__init__" in methods:
        reader.find("FM116", f"{cls.name.value}.__init__ is kept, but fal constructs the app itself",
                    "move its work into setup()", methods["__init__"])
    return info


def read_predictor(root: Path, file: str, name: str, ref_location: Location, *,
                   rules: InputRules | None = None,
                   environment: dict[str, str] | None = None, path: str = "/") -> PredictorInfo:
    """Read ``root/file`` and the class or function ``name``; errors point at cog.yaml's reference line.
    ``path`` is the endpoint the callable becomes; ``environment`` cog.yaml's environment."""
    if not (Path(root) / file).is_file():
        raise SourceError(f"the predictor file {file} does not exist", file=ref_location.file,
                          line=ref_location.line, hint="fix the reference in cog.yaml")
    rules = rules or InputRules()
    reader = _Reader(root, file, environment or {})
    reader.collect_models()
    target = reader.target(name)
    if target is None:
        raise SourceError(f"{file} defines no top-level class or function {name}", file=ref_location.file,
                          line=ref_location.line, hint="fix the reference in cog.yaml")
    if isinstance(target, cst.ClassDef):
        info = _class_predictor(reader, target, path, rules)
    else:
        _, info = _endpoint(reader, target, name, path, rules)
    info.findings = reader.findings
    return info
