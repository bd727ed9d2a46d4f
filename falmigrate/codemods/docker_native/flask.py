"""Flask module → the same module (its Flask app kept) plus a fal.App with one endpoint per route.

Each endpoint hands the request to Flask in-process (``test_request_context`` +
``full_dispatch_request``): before/after-request hooks, error handlers and ``flask.request`` keep
working, and the route's own method is used inside Flask even though fal calls it with POST.
"""

from __future__ import annotations

import re

import libcst as cst

from falmigrate.codemods import RewriteResult
from falmigrate.codemods.docker_native.common import (
    GET_REMEDIATION,
    INDENT,
    app_assignments,
    class_header,
    drop_orphaned_imports,
    finding,
    is_main_guard,
    mentions,
    merged,
    method_name,
    with_imports,
    without_leading_blank,
)
from falmigrate.errors import SourceError
from falmigrate.importers.dockerfile.routes import Route, openapi_path, read_module_text
from falmigrate.render import snippets
from falmigrate.spec import Decision, Location


def fal_path(flask_path: str) -> str:
    """``/items/<int:item_id>`` → ``/items/{item_id}``."""
    return openapi_path(flask_path)


def _endpoint(route: Route, taken: set[str], app: str) -> list[str]:
    path = fal_path(route.path)
    params = ", ".join(f"{p}: str" for p in re.findall(r"\{(\w+)\}", path))
    name = method_name(route.handler, taken)
    return [f'{INDENT}@fal.endpoint("{path}")',
            f"{INDENT}async def {name}(self, request: Request{', ' + params if params else ''}) -> Response:",
            f"{INDENT}{INDENT}del {params.replace(': str', '')}" if params else None,
            (f'{INDENT}{INDENT}return _falmigrate_flask({app}, "{route.method}", request, '
             'await request.body())')]


def rewrite_flask(source: str, path: str, class_name: str, app_name: str) -> RewriteResult:
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        raise SourceError(f"cannot parse: {exc.message}", file=path, line=exc.raw_line) from exc
    info = read_module_text(source, path)
    apps = set(app_assignments(module, {"Flask"})) or {app_name}
    result = RewriteResult(code="")
    wrapper = cst.MetadataWrapper(module, unsafe_skip_copy=True)
    positions = wrapper.resolve(cst.metadata.PositionProvider)
    body = []
    for stmt in module.body:
        if is_main_guard(stmt) and mentions(stmt, apps):
            result.findings.append(finding("FM454",
                                           "the __main__ server launch is removed: fal serves the app",
                                           path, positions[stmt].start.line))
            continue
        body.append(stmt)
    helper = snippets.emit("docker_flask", {"_falmigrate_flask"})
    imports = ["import fal", *merged(helper.import_lines())]
    new = with_imports(drop_orphaned_imports(module, module.with_changes(body=body)), imports)
    app = min(apps) if app_name not in apps else app_name
    lines = class_header(class_name)
    taken: set[str] = set()
    seen: set[str] = set()
    for route in info.routes if info else ():
        fpath = fal_path(route.path)
        if fpath in seen:
            result.findings.append(finding("FM455",
                                           f"{route.method} {route.path} shares its path with another route "
                                           "and is not migrated", path, route.line, "warning"))
            continue
        seen.add(fpath)
        if route.method != "POST":
            result.findings.append(finding("FM451",
                                           f"{route.method} {route.path} answers POST as a fal endpoint "
                                           "(Flask still sees it as " + route.method + ")", path, route.line,
                                           "warning", GET_REMEDIATION))
        endpoint = [ln for ln in _endpoint(route, taken, app) if ln is not None]
        lines += ["", *endpoint]
        result.decisions.append(Decision(source=f"{route.method} {route.path}",
                                         target=f'@fal.endpoint("{fpath}")',
                                         location=Location(file=path, line=route.line)))
    if not seen:
        raise SourceError("no routes found on the Flask app: nothing to turn into fal endpoints", file=path)
    result.findings.append(finding("FM456",
                                   "Flask views are dispatched through Flask in-process", path, None))
    result.code = ("\n\n\n".join([new.code.rstrip(), helper.code.strip(),
                                  "\n".join(without_leading_blank(lines))]) + "\n")
    result.decisions.append(Decision(source=f"Flask app `{app}` ({path})",
                                     target=f"fal.App {class_name}, one endpoint per route",
                                     location=Location(file=path)))
    return result
