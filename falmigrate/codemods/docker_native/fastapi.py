"""FastAPI module → the same module without the FastAPI app, plus a fal.App with one endpoint per route.

Each ``@app.<verb>(path)`` handler stays a plain function; the fal endpoint method has the same
parameters and return/response model and calls it, so FastAPI parses path/query/body parameters and
validates exactly as before. ``@app.on_event("startup"/"shutdown")`` handlers run in setup/teardown.
"""

from __future__ import annotations

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
    method_name,
    todo,
    with_imports,
    without_leading_blank,
)
from falmigrate.codemods.docker_native.query import plan_query
from falmigrate.errors import SourceError
from falmigrate.spec import Decision, Location

_VERBS = {"get", "post", "put", "delete", "patch", "head", "options"}


class _Route:
    def __init__(self, fn: cst.FunctionDef, path: str, methods: list[str],
                 response_model: str | None, line: int):
        self.fn, self.path, self.methods = fn, path, methods
        self.response_model, self.line = response_model, line


def _string(node: cst.BaseExpression | None) -> str | None:
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


def _route_of(dec: cst.Decorator, apps: set[str],
              module: cst.Module) -> tuple[str, list[str], str | None] | None:
    call = dec.decorator
    if not (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
            and isinstance(call.func.value, cst.Name) and call.func.value.value in apps):
        return None
    attr = call.func.attr.value
    if attr not in _VERBS and attr != "api_route":
        return None
    positional = [a for a in call.args if a.keyword is None]
    keywords = {a.keyword.value: a.value for a in call.args if a.keyword is not None}
    path = _string(positional[0].value if positional else keywords.get("path"))
    if path is None:
        return None
    methods = [attr.upper()] if attr in _VERBS else ["GET"]
    if attr == "api_route" and isinstance(keywords.get("methods"), (cst.List, cst.Tuple)):
        methods = [s.upper() for e in keywords["methods"].elements if (s := _string(e.value))] or methods
    model = keywords.get("response_model")
    return path, methods, (module.code_for_node(model) if model is not None else None)


def _event(dec: cst.Decorator, apps: set[str]) -> str | None:
    call = dec.decorator
    if (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
            and call.func.attr.value == "on_event"
            and isinstance(call.func.value, cst.Name) and call.func.value.value in apps and call.args):
        return _string(call.args[0].value)
    return None


def _call_args(params: cst.Parameters) -> str:
    parts = [p.name.value for p in params.posonly_params]
    parts += [f"{p.name.value}={p.name.value}" for p in params.params]
    if isinstance(params.star_arg, cst.Param):
        parts.append(f"*{params.star_arg.name.value}")
    parts += [f"{p.name.value}={p.name.value}" for p in params.kwonly_params]
    if params.star_kwarg is not None:
        parts.append(f"**{params.star_kwarg.name.value}")
    return ", ".join(parts)


def _endpoint(route: _Route, module: cst.Module, taken: set[str], st: _State) -> list[str]:
    fn = route.fn
    params, args = module.code_for_node(fn.params).strip(), _call_args(fn.params)
    plan = plan_query(fn, route.path, module, st.names) if route.methods != ["POST"] else None
    if plan is not None:  # the query parameters come in the JSON body now
        params, args = plan.params, plan.call
        st.models.append(plan.model_code)
    is_async = fn.asynchronous is not None
    returns = route.response_model or (module.code_for_node(fn.returns.annotation) if fn.returns else None)
    name = method_name(fn.name.value, taken)
    head = f"{'async ' if is_async else ''}def {name}(self{', ' + params if params else ''})"
    call = f"{'await ' if is_async else ''}{fn.name.value}({args})"
    return [f'{INDENT}@fal.endpoint("{route.path}")',
            f"{INDENT}{head}{' -> ' + returns if returns else ''}:",
            f"{INDENT}{INDENT}return {call}"]


def _hook(name: str, fns: list[cst.FunctionDef]) -> list[str]:
    is_async = any(f.asynchronous is not None for f in fns)
    body = [f"{INDENT}{INDENT}{'await ' if f.asynchronous else ''}{f.name.value}()" for f in fns]
    return [f"{INDENT}{'async ' if is_async else ''}def {name}(self):", *body]


class _State:
    def __init__(self, path: str) -> None:
        self.path = path
        self.routes: list[_Route] = []
        self.events: dict[str, list[cst.FunctionDef]] = {"startup": [], "shutdown": []}
        self.result = RewriteResult(code="")
        self.models: list[str] = []  # request models for query parameters (query.py)
        self.names: set[str] = set()  # module-level names, to keep generated ones apart


def _function(stmt: cst.FunctionDef, module: cst.Module, apps: set[str], st: _State,
              line: int) -> cst.CSTNode:
    kept = []
    for dec in stmt.decorators:
        route = _route_of(dec, apps, module)
        event = _event(dec, apps)
        if route is not None:
            st.routes.append(_Route(stmt, route[0], route[1], route[2], line))
        elif event in st.events:
            st.events[event].append(stmt)
            st.result.findings.append(finding("FM452", f"{stmt.name.value} ({event}) runs in "
                                              f"{'setup' if event == 'startup' else 'teardown'}()", st.path,
                                              line))
        elif mentions(dec, apps):
            st.result.findings.append(finding("FM453", f"decorator on {stmt.name.value} uses the app object; "
                                              "it is removed", st.path, line, "warning",
                                              "re-create it with fal (e.g. in setup) if still needed"))
        else:
            kept.append(dec)
    return stmt.with_changes(decorators=kept)


def rewrite_fastapi(source: str, path: str, class_name: str, app_name: str) -> RewriteResult:
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        raise SourceError(f"cannot parse: {exc.message}", file=path, line=exc.raw_line) from exc
    wrapper = cst.MetadataWrapper(module, unsafe_skip_copy=True)
    positions = wrapper.resolve(cst.metadata.PositionProvider)
    assigned = app_assignments(module, {"FastAPI"})
    apps = set(assigned) or {app_name}
    st = _State(path)
    body: list[cst.CSTNode] = []
    pending = None
    for index, stmt in enumerate(module.body):
        line = positions[stmt].start.line
        if index in assigned.values():
            if "lifespan" in module.code_for_node(stmt):
                body.append(todo(stmt, module, "FM457",
                                 "FastAPI(lifespan=...): move its startup code into setup()"))
                st.result.findings.append(finding("FM457", "FastAPI(lifespan=...) is not migrated", path,
                                                  line,
                                                  "warning", "call the lifespan's startup code from setup()"))
            elif index + 1 < len(module.body):
                pending = stmt.leading_lines
            continue
        if pending is not None and hasattr(stmt, "leading_lines"):
            stmt = stmt.with_changes(leading_lines=[*pending, *stmt.leading_lines])
            pending = None
        if isinstance(stmt, cst.FunctionDef):
            body.append(_function(stmt, module, apps, st, line))
        elif is_main_guard(stmt) and mentions(stmt, apps | {"uvicorn"}):
            st.result.findings.append(finding("FM454",
                                              "the __main__ server launch is removed: fal serves the app",
                                              path, line))
        elif mentions(stmt, apps) and not isinstance(stmt, cst.ClassDef):
            body.append(todo(stmt, module, "FM453",
                             "uses the FastAPI app object, which the fal app replaces"))
            st.result.findings.append(finding("FM453", "a use of the FastAPI app object is not migrated",
                                              path, line, "warning",
                                              "re-create it with fal (middleware → endpoint code)"))
        else:
            body.append(stmt)
    st.names = {s.name.value for s in module.body if isinstance(s, (cst.ClassDef, cst.FunctionDef))}
    lines = _class_lines(st, module, class_name)
    new = drop_orphaned_imports(module, module.with_changes(body=body))
    new = with_imports(new, ["import fal"] + (["import pydantic"] if st.models else []))
    st.result.code = ("\n\n\n".join([new.code.rstrip(), *(m.strip() for m in st.models),
                                     "\n".join(without_leading_blank(lines))]) + "\n")
    st.result.decisions.append(Decision(source=f"FastAPI app `{app_name}` ({path})",
                                        target=f"fal.App {class_name}, one endpoint per route",
                                        location=Location(file=path)))
    return st.result


def _class_lines(st: _State, module: cst.Module, class_name: str) -> list[str]:
    lines = class_header(class_name)
    if st.events["startup"]:
        lines += ["", *_hook("setup", st.events["startup"])]
    if st.events["shutdown"]:
        lines += ["", *_hook("teardown", st.events["shutdown"])]
    taken: set[str] = set()
    seen: set[str] = set()
    for route in st.routes:
        if route.path in seen:
            st.result.findings.append(finding("FM455",
                                              f"{route.methods[0]} {route.path} ({route.fn.name.value}) "
                                              "shares its path with another route and is not migrated",
                                              st.path, route.line, "warning", "give it its own path"))
            continue
        seen.add(route.path)
        before = len(st.models)
        lines += ["", *_endpoint(route, module, taken, st)]
        if route.methods != ["POST"]:
            moved = "; its query parameters are read from the JSON body" if len(st.models) > before else ""
            st.result.findings.append(finding("FM451",
                                              f"{'/'.join(route.methods)} {route.path} answers POST as a "
                                              f"fal endpoint{moved}", st.path, route.line, "warning",
                                              GET_REMEDIATION))
        st.result.decisions.append(Decision(source=f"{'/'.join(route.methods)} {route.path}",
                                            target=f'@fal.endpoint("{route.path}")',
                                            location=Location(file=st.path, line=route.line)))
    if not st.routes:
        raise SourceError("no routes found on the FastAPI app: nothing to turn into fal endpoints",
                          file=st.path)
    return lines
