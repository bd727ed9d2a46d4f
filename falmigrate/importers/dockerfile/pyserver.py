"""How a Python module starts its own server when the Dockerfile runs ``python app.py``: the launch call,
its port and host, and whether the module reads a ``--port`` flag at all.

Servers started from code carry their address in keyword arguments or in their framework's defaults,
not on the command line: ``demo.launch()`` (Gradio: 7860 on 127.0.0.1 unless ``GRADIO_SERVER_NAME`` /
``GRADIO_SERVER_PORT`` say otherwise), ``LitServer(api).run()`` (LitServe: 8000 on 0.0.0.0),
``uvicorn.run(app)`` (8000 on 127.0.0.1), Flask's ``app.run()`` (5000 on 127.0.0.1) and
``HTTPServer((host, port), Handler)``. A port may come from ``int(os.environ.get("PORT", "9000"))``: the
variable's name and default are kept so the Dockerfile's ENV can decide. Read with ``ast``; nothing runs.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

# launcher -> (default port, default host, the env variables the framework reads for port and host)
FRAMEWORK_DEFAULTS: dict[str, tuple[int | None, str, str | None, str | None]] = {
    "gradio": (7860, "127.0.0.1", "GRADIO_SERVER_PORT", "GRADIO_SERVER_NAME"),
    "litserve": (8000, "0.0.0.0", None, None),
    "uvicorn.run": (8000, "127.0.0.1", None, None),
    "app.run": (5000, "127.0.0.1", None, None),
    "http.server": (None, "", None, None),
}
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_HTTP_SERVERS = {"HTTPServer", "ThreadingHTTPServer", "TCPServer", "ThreadingTCPServer"}


@dataclass(frozen=True)
class PortValue:
    """A port as the code writes it: a literal, or an environment variable with a literal default."""

    literal: int | None = None
    env: str | None = None  # the variable read for it (``os.environ.get("PORT", …)``)


@dataclass(frozen=True)
class Launch:
    """The call that starts the server in the module."""

    launcher: str  # a key of FRAMEWORK_DEFAULTS
    line: int
    port: PortValue | None  # None: the call gives no port (the framework's default applies)
    host: str | None  # the literal host argument; None when not given (or not a literal)
    host_given: bool = False  # a host argument is there (a literal or not)

    def default_port(self) -> int | None:
        return FRAMEWORK_DEFAULTS[self.launcher][0]

    def effective_host(self, env: dict[str, str]) -> str | None:
        """The address the server binds, with the framework's env variable; None when unknown."""
        if self.host_given:
            return self.host
        _, host, _, host_env = FRAMEWORK_DEFAULTS[self.launcher]
        return env.get(host_env, host) if host_env else host


def _name(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _port_value(node: ast.expr | None) -> PortValue | None:
    """``8000``, ``"8000"``, ``int(os.environ.get("PORT", "8000"))``, ``os.getenv("PORT", 8000)``."""
    if node is None:
        return None
    if isinstance(node, ast.Call) and _name(node.func) == "int" and len(node.args) == 1:
        return _port_value(node.args[0])
    if isinstance(node, ast.Constant) and str(node.value).isdigit():
        return PortValue(literal=int(node.value))
    if isinstance(node, ast.Call) and _name(node.func) in ("get", "getenv") and node.args:
        env = node.args[0].value if isinstance(node.args[0], ast.Constant) else None
        default = _port_value(node.args[1]) if len(node.args) > 1 else None
        literal = default.literal if default else None
        return PortValue(literal=literal, env=env if isinstance(env, str) else None)
    return None


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _host(node: ast.expr | None) -> tuple[str | None, bool]:
    if node is None:
        return None, False
    return (node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None), True


def _imports(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def _launcher(call: ast.Call, imports: set[str], flask_apps: set[str]) -> str | None:
    name, func = _name(call.func), call.func
    owner = _name(func.value) if isinstance(func, ast.Attribute) else ""
    if name == "launch" and "gradio" in imports:
        return "gradio"
    if name == "run" and "litserve" in imports and owner != "uvicorn":
        return "litserve"
    if name == "run" and owner == "uvicorn":
        return "uvicorn.run"
    if name == "run" and owner in flask_apps:
        return "app.run"
    if name in _HTTP_SERVERS:
        return "http.server"
    return None


def _launch(call: ast.Call, launcher: str) -> Launch:
    if launcher == "http.server":
        address = call.args[0] if call.args else None
        if isinstance(address, ast.Tuple) and len(address.elts) == 2:
            host, given = _host(address.elts[0])
            return Launch(launcher, call.lineno, _port_value(address.elts[1]), host, given)
        return Launch(launcher, call.lineno, None, None, False)
    port_kw, host_kw = ("server_port", "server_name") if launcher == "gradio" else ("port", "host")
    host, given = _host(_keyword(call, host_kw))
    return Launch(launcher, call.lineno, _port_value(_keyword(call, port_kw)), host, given)


def find_launch(tree: ast.Module, flask_apps: set[str]) -> Launch | None:
    """The last server start in the module (a module may build a server and start it in ``__main__``)."""
    imports = _imports(tree)
    found = [(node, launcher) for node in ast.walk(tree) if isinstance(node, ast.Call)
             and (launcher := _launcher(node, imports, flask_apps)) is not None]
    if not found:
        return None
    node, launcher = max(found, key=lambda item: item[0].lineno)
    return _launch(node, launcher)


def reads_port_flag(tree: ast.Module) -> bool:
    """Whether the module takes ``--port`` from its command line (argparse, click/typer options, sys.argv)."""
    cli = bool(_imports(tree) & {"typer", "click", "fire"})
    for node in ast.walk(tree):
        if cli and isinstance(node, ast.arg) and node.arg == "port":
            return True
        if isinstance(node, ast.Constant) and node.value in ("--port", "-p"):
            return True
        if isinstance(node, ast.Attribute) and node.attr == "argv" and _name(node.value) == "sys":
            return True
    return False
