"""Modal ``Image`` builder chains → an ordered list of image operations → ``ImageSpec``.

Images are often built in steps across the module (``base = Image.debian_slim()``,
``image = base.pip_install(...)``) and passed by name, so a chain is followed through module-level
names. Every builder call becomes one operation in source order; ``to_image_spec`` turns them into
the IR, keeping the order through ``ImageSpec.run_steps`` / ``dockerfile_extra`` where it matters.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from falmigrate.importers.modal.reader import ModalModule, NotLiteral
from falmigrate.spec import Copy, Decision, Finding, ImageSpec, Location, RunStep

BASE_BUILDERS = {
    "debian_slim", "micromamba", "from_registry", "from_dockerfile", "from_aws_ecr", "from_gcp_artifact_registry",
}
DEFAULT_CUDA = "12.4.1"


@dataclass
class ImageOp:
    kind: str  # base | apt | pip | pip_requirements | run | env | workdir | copy | extra | todo
    value: Any
    line: int
    method: str = ""


@dataclass
class ImageChain:
    ops: list[ImageOp] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)


def _strings(mod: ModalModule, call: cst.Call) -> list[str]:
    """All positional string arguments (flattening lists), as Modal's ``*packages`` does."""
    out: list[str] = []
    for arg in call.args:
        if arg.keyword is not None or arg.star == "**":
            continue
        value = mod.literal(arg.value)
        if isinstance(value, list):
            out.extend(str(v) for v in value)
        else:
            out.append(str(value))
    return out


def _kw(mod: ModalModule, call: cst.Call, name: str, default: Any = None) -> Any:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return mod.literal(arg.value)
    return default


def _pip_options(mod: ModalModule, call: cst.Call) -> list[str]:
    opts: list[str] = []
    for key, flag in (("index_url", "--index-url"), ("extra_index_url", "--extra-index-url"), ("find_links", "--find-links")):
        value = _kw(mod, call, key)
        if value:
            opts += [flag, str(value)]
    if _kw(mod, call, "pre"):
        opts.append("--pre")
    extra = _kw(mod, call, "extra_options", "")
    if extra:
        opts += shlex.split(str(extra))
    return opts


def _base_op(mod: ModalModule, method: str, call: cst.Call, line: int, chain: ImageChain) -> ImageOp:
    if method in ("debian_slim", "micromamba"):
        python = _kw(mod, call, "python_version") or (mod.literal(call.args[0].value) if call.args and call.args[0].keyword is None else None)
        return ImageOp("base", {"kind": method, "python": python}, line, method)
    if method == "from_dockerfile":
        path = mod.literal(call.args[0].value) if call.args else None
        chain.findings.append(Finding(
            rule="FM217", severity="warning",
            message=f"Image.from_dockerfile({path!r}): the generated Dockerfile does not include that file's steps",
            remediation="merge the RUN/ENV lines of that Dockerfile into the generated one by hand",
            location=Location(file=mod.path, line=line)))
        return ImageOp("base", {"kind": method, "python": _kw(mod, call, "add_python"), "dockerfile": path}, line, method)
    ref = mod.literal(call.args[0].value) if call.args else None
    return ImageOp("base", {"kind": "registry", "ref": ref, "python": _kw(mod, call, "add_python")}, line, method)


def _step_op(mod: ModalModule, method: str, call: cst.Call, line: int, chain: ImageChain) -> ImageOp | None:
    loc = Location(file=mod.path, line=line)
    if method == "apt_install":
        return ImageOp("apt", _strings(mod, call), line, method)
    if method in ("pip_install", "uv_pip_install"):
        return ImageOp("pip", {"packages": _strings(mod, call), "options": _pip_options(mod, call),
                               "requirements": _kw(mod, call, "requirements") or []}, line, method)
    if method == "pip_install_from_requirements":
        return ImageOp("pip_requirements", {"path": _strings(mod, call)[0], "options": _pip_options(mod, call)}, line, method)
    if method == "pip_install_from_pyproject":
        return ImageOp("run", f"pip install ./{_strings(mod, call)[0].rsplit('/', 1)[0] or '.'}".replace("/./", "/"), line, method)
    if method == "micromamba_install":
        channels = _kw(mod, call, "channels") or []
        chan = "".join(f" -c {c}" for c in channels)
        return ImageOp("run", f"micromamba install -y{chan} " + " ".join(_strings(mod, call)), line, method)
    if method == "run_commands":
        return ImageOp("run", _strings(mod, call), line, method)
    if method == "dockerfile_commands":
        return ImageOp("extra", _strings(mod, call), line, method)
    if method == "env":
        value = mod.literal(call.args[0].value) if call.args else {}
        return ImageOp("env", {str(k): str(v) for k, v in value.items() if v is not None}, line, method)
    if method == "workdir":
        return ImageOp("workdir", str(mod.literal(call.args[0].value)), line, method)
    if method in ("add_local_dir", "add_local_file", "copy_local_dir", "copy_local_file"):
        local = str(mod.literal(call.args[0].value))
        remote = call.args[1].value if len(call.args) > 1 else None
        remote_value = mod.literal(remote) if remote is not None else _kw(mod, call, "remote_path", ".")
        return ImageOp("copy", (local, str(remote_value)), line, method)
    if method == "add_local_python_source":
        chain.decisions.append(Decision(source=f"Image.add_local_python_source({', '.join(_strings(mod, call))})",
                                        target="the project copy in the Dockerfile", location=loc))
        return None
    if method in ("entrypoint", "cmd", "shell"):
        value = mod.literal(call.args[0].value) if call.args else []
        return ImageOp("extra", [f"{method.upper()} {value!r}".replace("'", '"')], line, method)
    if method == "run_function":
        fn = cst.helpers.get_full_name_for_node(call.args[0].value) if call.args else "?"
        chain.findings.append(Finding(
            rule="FM216", severity="warning",
            message=f"Image.run_function({fn}) runs Python at image build time; it is not in the Dockerfile",
            remediation=f"add `RUN python -c 'import <module>; <module>.{fn}()'` to the Dockerfile, or call {fn}() in setup()",
            location=loc))
        return ImageOp("todo", ("FM216", f"Image.run_function({fn}) ran here at build time; add that step by hand"), line, method)
    if method in ("imports",):
        return None
    chain.findings.append(Finding(rule="FM218", severity="warning", message=f"Image.{method}(...) is not translated",
                                  remediation="add the equivalent Dockerfile step by hand", location=loc))
    return ImageOp("todo", ("FM218", f"Image.{method}(...) not translated"), line, method)


def read_chain(mod: ModalModule, expr: cst.BaseExpression | None, chain: ImageChain | None = None,
               _seen: frozenset[str] = frozenset()) -> ImageChain:
    """Follow ``expr`` (a builder chain, or a name bound to one) back to its base, in order."""
    chain = chain if chain is not None else ImageChain()
    if expr is None:
        return chain
    if isinstance(expr, cst.Name) and expr.value in mod.assignments and expr.value not in _seen:
        return read_chain(mod, mod.assignments[expr.value], chain, _seen | {expr.value})
    line = mod.line_of(expr)
    if not isinstance(expr, cst.Call) or not isinstance(expr.func, cst.Attribute):
        chain.findings.append(Finding(rule="FM218", severity="warning", message="image expression cannot be read statically",
                                      remediation="write the Dockerfile steps by hand", location=Location(file=mod.path, line=line)))
        return chain
    method = expr.func.attr.value
    line = mod.line_of(expr.func.attr)
    try:
        if mod.dotted(expr.func.value) == "modal.Image":
            chain.ops.append(_base_op(mod, method, expr, line, chain))
            return chain
        read_chain(mod, expr.func.value, chain, _seen)
        op = _step_op(mod, method, expr, line, chain)
    except (NotLiteral, IndexError, AttributeError, TypeError) as exc:
        chain.findings.append(Finding(rule="FM218", severity="warning",
                                      message=f"Image.{method}(...) has arguments that cannot be read statically ({exc})",
                                      remediation="add the equivalent Dockerfile step by hand", location=Location(file=mod.path, line=line)))
        op = ImageOp("todo", ("FM218", f"Image.{method}(...) could not be read statically"), line, method)
    if op is not None:
        chain.ops.append(op)
    return chain


def _pip_command(packages: list[str], options: list[str]) -> str:
    return "python3 -m pip install --no-cache-dir " + " ".join(shlex.quote(a) for a in [*options, *packages])


def _apt_command(packages: list[str]) -> str:
    quoted = " ".join(shlex.quote(p) for p in packages)
    return f"apt-get update && apt-get install -y --no-install-recommends {quoted} && rm -rf /var/lib/apt/lists/*"


class _Builder:
    """Folds ops into ImageSpec fields. The Dockerfile renders apt, pip, run steps, env, copies in that
    order, so once a run step exists later apt/pip become run steps too, and run steps after
    ``.env()``/``.workdir()`` carry that env / ``cd`` themselves: the chain's order is kept."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {"env": {}, "run_steps": [], "copies": [], "dockerfile_extra": [],
                                     "system_packages": [], "python_requirements": []}
        self.workdir: str | None = None

    def run(self, command: str) -> None:
        prefix = "".join(f"export {k}={shlex.quote(v)} && " for k, v in self.data["env"].items())
        if self.workdir:
            prefix += f"mkdir -p {shlex.quote(self.workdir)} && cd {shlex.quote(self.workdir)} && "
        self.data["run_steps"].append(RunStep(command=prefix + command))

    def apt(self, packages: list[str]) -> None:
        if self.data["run_steps"]:
            self.run(_apt_command(packages))
        else:
            self.data["system_packages"] += packages

    def pip(self, packages: list[str], options: list[str]) -> None:
        if self.data["run_steps"] or options:
            self.run(_pip_command(packages, options))
        else:
            self.data["python_requirements"] += packages

    def requirements(self, path: str, options: list[str]) -> None:
        if self.data["run_steps"] or options or self.data.get("requirements_file"):
            self.run(_pip_command(["-r", path], options))
        else:
            self.data["requirements_file"] = path


def to_image_spec(chain: ImageChain, *, gpu: bool, env: dict[str, str] | None = None) -> ImageSpec:
    """The IR image for a chain (see ``_Builder`` for how the order is kept)."""
    b = _Builder()
    data = b.data
    for op in chain.ops:
        if op.kind == "base":
            data["python"] = op.value.get("python")
            if op.value["kind"] == "registry":
                data["base"] = op.value.get("ref")
                if op.value.get("python"):
                    # Modal's add_python puts a standalone CPython on the image; here the distro's.
                    b.apt(["python3", "python3-pip", "python-is-python3"])
                    chain.findings.append(Finding(
                        rule="FM230", severity="info",
                        message=f"from_registry(add_python={op.value['python']!r}): the Dockerfile installs the base "
                                "image's distribution Python (apt python3), whose version may differ",
                        remediation=f"install Python {op.value['python']} explicitly if the exact version matters"))
            elif op.value["kind"] == "micromamba":
                data["base"] = "mambaorg/micromamba:1.5-bookworm-slim"
        elif op.kind == "apt":
            b.apt(op.value)
        elif op.kind == "pip":
            reqs = [x for r in op.value["requirements"] for x in ("-r", r)]
            b.pip([*reqs, *op.value["packages"]], op.value["options"])
        elif op.kind == "pip_requirements":
            b.requirements(op.value["path"], op.value["options"])
        elif op.kind == "run":
            for command in op.value if isinstance(op.value, list) else [op.value]:
                b.run(command)
        elif op.kind == "env":
            data["env"].update(op.value)
        elif op.kind == "workdir":
            data["workdir"] = b.workdir = op.value
        elif op.kind == "copy":
            data["copies"].append(Copy(src=op.value[0], dest=op.value[1]))
        elif op.kind == "extra":
            data["dockerfile_extra"] += list(op.value)
        elif op.kind == "todo":
            rule, message = op.value
            data["dockerfile_extra"].append(f"# TODO(falmigrate {rule}): {message}")
    if env:
        data["env"].update(env)
    if gpu and data.get("base") is None:
        data["cuda"] = DEFAULT_CUDA
    return ImageSpec(**{k: v for k, v in data.items() if v is not None})
