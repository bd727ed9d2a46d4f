"""Routes of a server's Python module, read statically (``ast``; the user's code is never imported).

FastAPI (``@app.get("/p")``, ``@router.post``, ``api_route``), Flask (``@app.route("/p",
methods=[...])``, ``@app.get``) and ``http.server`` handlers (``do_GET`` with ``self.path == "/p"``
tests). Used to find a health route, to list the server's endpoints in the report, and (``pyserver``)
to see how the module starts its server.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from falmigrate.importers.dockerfile.pyserver import Launch, find_launch, reads_port_flag

_VERBS = {"get", "post", "put", "delete", "patch", "head", "options"}
_CONVERTER = re.compile(r"<(?:[a-z]+:)?([A-Za-z_][A-Za-z0-9_]*)>")
HEALTH_CANDIDATES = ("/health", "/healthz", "/healthcheck", "/health_check", "/ping", "/ready", "/readyz",
                     "/livez", "/status")


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: str
    line: int
    is_async: bool = False


@dataclass(frozen=True)
class ModuleInfo:
    framework: str  # "fastapi" | "flask" | "http.server" | "unknown"
    app_names: tuple[str, ...]  # module-level names bound to FastAPI()/Flask()
    routes: tuple[Route, ...]
    launch: Launch | None = None  # the call that starts the server (demo.launch(), uvicorn.run(app), …)
    reads_port_env: bool = False  # the module reads $PORT (os.environ.get("PORT"…), os.getenv, environ[…])
    reads_port_flag: bool = False  # the module takes --port from its command line


def _str(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _methods(call: ast.Call, default: str) -> list[str]:
    for kw in call.keywords:
        if kw.arg == "methods" and isinstance(kw.value, (ast.List, ast.Tuple, ast.Set)):
            found = [_str(e) for e in kw.value.elts]
            return [m.upper() for m in found if m] or [default]
    return [default]


def _decorator_routes(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[Route]:
    out = []
    for dec in fn.decorator_list:
        if not (isinstance(dec, ast.Call) and isinstance(dec.func, ast.Attribute) and dec.args):
            continue
        path, attr = _str(dec.args[0]), dec.func.attr
        if path is None:
            continue
        if attr in _VERBS:
            methods = [attr.upper()]
        elif attr in ("route", "api_route"):
            methods = _methods(dec, "GET")
        else:
            continue
        for method in methods:
            out.append(Route(method, path, fn.name, fn.lineno, isinstance(fn, ast.AsyncFunctionDef)))
    return out


def _http_server_routes(tree: ast.Module) -> list[Route]:
    """``do_GET``/``do_POST`` methods; each ``self.path == "/p"`` test in them is one route."""
    out = []
    for cls in [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]:
        for fn in cls.body:
            if not (isinstance(fn, ast.FunctionDef) and fn.name.startswith("do_")):
                continue
            method = fn.name[3:].upper()
            for node in ast.walk(fn):
                if not isinstance(node, ast.Compare) or len(node.comparators) != 1:
                    continue
                left, right = node.left, node.comparators[0]
                is_path = (isinstance(left, ast.Attribute) and left.attr == "path"
                           and isinstance(node.ops[0], ast.Eq))
                if is_path and (path := _str(right)) is not None:
                    out.append(Route(method, path, fn.name, node.lineno))
    return out


def read_module(path: Path) -> ModuleInfo | None:
    """Routes and framework of one Python file, or None when it cannot be read or parsed."""
    try:
        return read_module_text(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError):
        return None


def read_module_text(source: str, filename: str = "app.py") -> ModuleInfo | None:
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError:
        return None
    apps: list[str] = []
    framework = "unknown"
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            func = node.value.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("FastAPI", "Flask"):
                framework = "fastapi" if name == "FastAPI" else "flask"
                apps += [t.id for t in node.targets if isinstance(t, ast.Name)]
    routes = [r for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
              for r in _decorator_routes(n)]
    if not routes and framework == "unknown":
        routes = _http_server_routes(tree)
        if routes or "BaseHTTPRequestHandler" in ast.dump(tree):
            framework = "http.server"
    routes.sort(key=lambda r: (r.line, r.method))
    launch = find_launch(tree, set(apps) if framework == "flask" else set())
    return ModuleInfo(framework, tuple(apps), tuple(routes), launch, _reads_port_env(tree),
                      reads_port_flag(tree))


def _reads_port_env(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and _str(node.args[0]) == "PORT":
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in ("get", "getenv"):
                return True
        if isinstance(node, ast.Subscript) and _str(node.slice) == "PORT":
            return True
    return False


def openapi_path(path: str) -> str:
    """Flask's ``/items/<int:item_id>`` → ``/items/{item_id}`` (FastAPI/fal style); others unchanged."""
    return _CONVERTER.sub(lambda m: "{" + m.group(1) + "}", path)


def health_route(routes: tuple[Route, ...] | list[Route]) -> str | None:
    """The first GET route that looks like a health check, in HEALTH_CANDIDATES order."""
    gets = {r.path for r in routes if r.method in ("GET", "HEAD")}
    for candidate in HEALTH_CANDIDATES:
        if candidate in gets:
            return candidate
    return None
