"""``build --update-app OUT``: point a generated ``fal_app.py`` at the image we just pushed.

The class attribute ``image = fal.ContainerImage.from_dockerfile(...)`` (or any ``ContainerImage``
expression) is replaced by a one-line Dockerfile ``FROM <repo>@sha256:…``, so fal runs exactly the
bytes we built and pushed. Registry credentials are never written into the file: when the registry
needs them, the generated code reads them from environment variables at deploy time.
The rest of the file, comments and formatting included, is left as it was (libcst).
"""

from __future__ import annotations

import os
from pathlib import Path

import libcst as cst

from falmigrate.errors import SourceError

USER_ENV = "FAL_IMAGE_REGISTRY_USERNAME"
PASSWORD_ENV = "FAL_IMAGE_REGISTRY_PASSWORD"


def image_expression(reference: str, *, credentials: bool) -> str:
    """Source of the new ``image = …`` value for a pushed ``reference`` (``repo@sha256:…``)."""
    registry = reference.split("/", 1)[0]
    expr = f'fal.ContainerImage.from_dockerfile_str("FROM {reference}"'
    if credentials:
        # only when set: empty credentials would be sent to (and refused by) a registry that needs none
        expr += (f', registries={{"{registry}": {{"username": os.environ["{USER_ENV}"], '
                 f'"password": os.environ.get("{PASSWORD_ENV}", "")}}}} if os.environ.get("{USER_ENV}") else {{}}')
    return expr + ")"


class _ImageRewriter(cst.CSTTransformer):
    def __init__(self, new_value: cst.BaseExpression) -> None:
        self.new_value = new_value
        self.replaced = 0
        self._depth = 0

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self._depth += 1
        return True

    def leave_ClassDef(self, original: cst.ClassDef, updated: cst.ClassDef) -> cst.ClassDef:
        self._depth -= 1
        return updated

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False  # only class attributes, never code inside methods

    def leave_Assign(self, original: cst.Assign, updated: cst.Assign) -> cst.Assign:
        if self._depth == 0 or len(updated.targets) != 1:
            return updated
        target = updated.targets[0].target
        if isinstance(target, cst.Name) and target.value == "image" and _mentions_container_image(updated.value):
            self.replaced += 1
            return updated.with_changes(value=self.new_value)
        return updated


def _mentions_container_image(node: cst.CSTNode) -> bool:
    code = cst.Module(body=[]).code_for_node(node)
    return "ContainerImage" in code


def rewrite_source(source: str, reference: str, *, credentials: bool) -> str:
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        raise SourceError(f"fal_app.py does not parse: {exc.message}", line=exc.raw_line) from exc
    rewriter = _ImageRewriter(cst.parse_expression(image_expression(reference, credentials=credentials)))
    module = module.visit(rewriter)
    if not rewriter.replaced:
        raise SourceError("found no `image = ...ContainerImage...` class attribute to point at the pushed image",
                          hint="add `image = fal.ContainerImage.from_dockerfile(...)` to the App class")
    if credentials and not _imports_os(module):
        module = _add_import_os(module)
    return module.code


def _imports_os(module: cst.Module) -> bool:
    for statement in module.body:
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                if isinstance(small, cst.Import) and any(
                    isinstance(alias.name, cst.Name) and alias.name.value == "os" and alias.asname is None
                    for alias in small.names
                ):
                    return True
    return False


def _add_import_os(module: cst.Module) -> cst.Module:
    """``import os`` after the docstring and any ``from __future__`` import."""
    body = list(module.body)
    position = 0
    for index, statement in enumerate(body):
        if not isinstance(statement, cst.SimpleStatementLine):
            break
        first = statement.body[0]
        if index == 0 and isinstance(first, cst.Expr) and isinstance(first.value, cst.SimpleString):
            position = 1
        elif isinstance(first, cst.ImportFrom) and _is_future(first):
            position = index + 1
        else:
            break
    body.insert(position, cst.parse_statement("import os\n"))
    return module.with_changes(body=body)


def _is_future(node: cst.ImportFrom) -> bool:
    return isinstance(node.module, cst.Name) and node.module.value == "__future__"


def update_app(out_dir: Path, reference: str, *, credentials: bool = False) -> Path:
    """Rewrite ``out_dir/fal_app.py`` in place (atomically); returns its path."""
    path = out_dir / "fal_app.py"
    if not path.is_file():
        raise SourceError(f"no fal_app.py in {out_dir}", hint="pass the directory `falmigrate convert` wrote")
    new_text = rewrite_source(path.read_text(encoding="utf-8"), reference, credentials=credentials)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(new_text, encoding="utf-8")
    os.replace(tmp, path)
    return path
