"""Modal ``Image`` builder chains → an ordered list of image operations (``image_spec`` → ``ImageSpec``).

Images are often built in steps across the module (``base = Image.debian_slim()``,
``image = base.pip_install(...)``) and passed by name, so a chain is followed through module-level
names. Every builder call becomes one operation in source order; ``image_spec.to_image_spec`` turns
them into the IR in that order. ``from_dockerfile`` reads the named Dockerfile (statically, like the
rest) so its steps come first.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from falmigrate.dockerfile import parse_text
from falmigrate.importers.dockerfile.image import stage_texts
from falmigrate.importers.modal import mapping
from falmigrate.importers.modal.reader import ModalModule, NotLiteral
from falmigrate.spec import Decision, Finding, Location

BASE_BUILDERS = {
    "debian_slim", "micromamba", "from_registry", "from_dockerfile", "from_aws_ecr", "from_gcp_artifact_registry",
}


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
    secret_env: list[str] = field(default_factory=list)  # Image.env names kept out of the image (fal secrets)
    render_flags: dict[str, bool] = field(default_factory=dict)  # ImageSpec layout flags the Dockerfile needs


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
    loc = Location(file=mod.path, line=line)
    if method in ("debian_slim", "micromamba"):
        python = _kw(mod, call, "python_version") or (mod.literal(call.args[0].value) if call.args and call.args[0].keyword is None else None)
        return ImageOp("base", {"kind": method, "python": python, "location": loc}, line, method)
    add_python = _kw(mod, call, "add_python")
    if method == "from_dockerfile":
        path = str(_arg(mod, call, 0, "path"))
        return ImageOp("base", {"kind": "dockerfile", "python": add_python, "location": loc,
                                **dockerfile_base(mod, path, _kw(mod, call, "context_dir"), loc, chain)}, line, method)
    ref = _arg(mod, call, 0, "tag")
    if method != "from_registry" or any(a.keyword is not None and a.keyword.value == "secret" for a in call.args):
        chain.findings.append(Finding(
            rule="FM235", severity="warning", location=loc,
            message=f"Image.{method}({ref!r}) pulls from a private registry with a Modal secret",
            remediation="run `docker login` for that registry before `falmigrate build`, and give fal the "
                        "credentials: fal.ContainerImage(..., registries={host: {username, password}}) read from "
                        "environment variables"))
    return ImageOp("base", {"kind": "registry", "ref": ref, "python": add_python, "location": loc}, line, method)


def _arg(mod: ModalModule, call: cst.Call, index: int, name: str, default: Any = NotLiteral) -> Any:
    """Positional argument ``index`` or keyword ``name`` (as Modal's signatures allow both)."""
    positional = [a.value for a in call.args if a.keyword is None and not a.star]
    if index < len(positional):
        return mod.literal(positional[index])
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return mod.literal(arg.value)
    if default is NotLiteral:
        raise NotLiteral(f"no {name} argument")
    return default


def dockerfile_base(mod: ModalModule, path: str, context_dir: Any, loc: Location, chain: ImageChain) -> dict[str, Any]:
    """The FROM, steps and build stages of the Dockerfile ``Image.from_dockerfile(path)`` names."""
    text = None
    if mod.root is not None:
        for base in (mod.root, (mod.root / mod.path).parent):
            try:
                text = (base / path).read_text(encoding="utf-8")
                break
            except (OSError, UnicodeDecodeError):
                continue
    if text is None:
        chain.findings.append(Finding(
            rule="FM217", severity="warning", location=loc,
            message=f"Image.from_dockerfile({path!r}): that Dockerfile is not in the project, so its steps are missing",
            remediation="put that Dockerfile's FROM and steps at the top of the generated one by hand"))
        return {"ref": None, "lines": []}
    parsed = parse_text(text, path)
    prefix = "" if context_dir in (None, ".", "./") else str(context_dir).rstrip("/") + "/"
    lines, dropped = [], []
    for stage in parsed.chain():
        for ins in stage.instructions:
            if ins.instruction == "FROM":
                continue
            if ins.instruction in ("CMD", "ENTRYPOINT", "EXPOSE", "HEALTHCHECK"):
                dropped.append(f"{ins.instruction} (line {ins.line})")
                continue
            raw = ins.raw
            if prefix and ins.instruction in ("COPY", "ADD") and "from" not in ins.flags:
                raw = _prefixed_copy(raw, prefix)
            lines.append(f"{ins.instruction} {raw}")
    chain.decisions.append(Decision(
        source=f"Image.from_dockerfile({path!r})", target=f"FROM {parsed.external_base()} and its {len(lines)} step(s)",
        note=f"dropped (fal runs its own server): {', '.join(dropped)}" if dropped else None, location=loc))
    workdir = next((st.workdir for st in reversed(parsed.chain()) if st.workdir), None)
    return {"ref": parsed.external_base(), "lines": lines, "stages": stage_texts(parsed), "workdir": workdir}


def _prefixed_copy(raw: str, prefix: str) -> str:
    """``COPY [--flags] src... dest`` with each relative source under ``prefix`` (the context_dir)."""
    words = raw.split()
    flags = [w for w in words if w.startswith("--")]
    paths = [w for w in words if not w.startswith("--")]
    sources = [p if p.startswith("/") else prefix + p for p in paths[:-1]]
    return " ".join([*flags, *sources, *paths[-1:]])


def _build_step_options(mod: ModalModule, method: str, call: cst.Call, loc: Location, chain: ImageChain) -> None:
    """``secrets=`` / ``gpu=`` on a build step: Modal gave the step env secrets or a GPU; a Dockerfile has neither."""
    given = {a.keyword.value for a in call.args if a.keyword is not None} & {"secrets", "gpu"}
    if "secrets" in given:
        chain.findings.append(Finding(
            rule="FM236", severity="warning", location=loc,
            message=f"Image.{method}(secrets=...): Modal put those secrets in the step's environment; the "
                    "Dockerfile step runs without them",
            remediation="use a BuildKit secret (`RUN --mount=type=secret,id=NAME …` and `falmigrate build "
                        "--secret id=NAME,env=NAME`); never put the value in the Dockerfile"))
    if "gpu" in given:
        chain.findings.append(Finding(
            rule="FM236", severity="warning", location=loc,
            message=f"Image.{method}(gpu=...): Modal built that step on a GPU; a Docker build has no GPU",
            remediation="move GPU work (e.g. compiling kernels for the local GPU) into setup()"))


def _step_op(mod: ModalModule, method: str, call: cst.Call, line: int, chain: ImageChain) -> ImageOp | None:
    loc = Location(file=mod.path, line=line)
    _build_step_options(mod, method, call, loc, chain)
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
        env = {}
        for key, item in value.items():
            if item is None:
                continue
            if mapping.SECRET_NAME.search(str(key)):
                chain.secret_env.append(str(key))
                chain.findings.append(mapping.secret_env_finding(str(key), loc))
            else:
                env[str(key)] = str(item)
        return ImageOp("env", env, line, method)
    if method == "workdir":
        return ImageOp("workdir", str(mod.literal(call.args[0].value)), line, method)
    if method in ("add_local_dir", "add_local_file", "copy_local_dir", "copy_local_file"):
        local = str(_arg(mod, call, 0, "local_path"))
        remote = str(_arg(mod, call, 1, "remote_path", "."))
        _check_local(mod, method, local, loc, chain)
        return ImageOp("copy", (local, remote), line, method)
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
            remediation=f"call {fn}() at the start of setup() (it then runs on each cold start; point its downloads at "
                        f"/data to keep them), or add a RUN step at the TODO line of the Dockerfile that does the same work",
            location=loc))
        return ImageOp("todo", ("FM216", f"Image.run_function({fn}) ran here at build time; add that step by hand"), line, method)
    if method in ("imports",):
        return None
    chain.findings.append(Finding(rule="FM218", severity="warning", message=f"Image.{method}(...) is not translated",
                                  remediation="add the equivalent Dockerfile step by hand", location=loc))
    return ImageOp("todo", ("FM218", f"Image.{method}(...) not translated"), line, method)


def _check_local(mod: ModalModule, method: str, local: str, loc: Location, chain: ImageChain) -> None:
    """A COPY source must be inside the project (the build context); Modal reads any local path."""
    root = mod.root
    inside = not local.startswith(("/", "~")) and ".." not in local.replace("\\", "/").split("/")
    if inside and (root is None or (root / local).exists()):
        return
    chain.findings.append(Finding(
        rule="FM232", severity="warning", location=loc,
        message=f"Image.{method}({local!r}): that path is not inside the project, so the Dockerfile's COPY cannot see it",
        remediation="copy those files into the project directory and change the COPY source"))


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
