"""One Modal ``Image`` builder step (``.pip_install``, ``.run_commands``, ``.uv_sync``…) → an ``ImageOp``.

Arguments are evaluated where the call is (``Step.value``); ``images.read_chain`` turns a value that
cannot be evaluated into an error finding and a TODO at the step's place. Steps Modal runs with
secrets or a GPU are findings (a Dockerfile step has neither).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable

import libcst as cst

from falmigrate.analysis import Unknown
from falmigrate.importers.modal import mapping
from falmigrate.importers.modal.images import ImageOp, Step
from falmigrate.importers.modal.legacy import mapped
from falmigrate.spec import Decision

RUN_FUNCTION_RULE = "FM216"


def _pip_options(step: Step) -> list[str]:
    opts: list[str] = []
    for key, flag in (("index_url", "--index-url"), ("extra_index_url", "--extra-index-url"),
                      ("find_links", "--find-links")):
        value = step.kw(key)
        if value:
            opts += [flag, str(value)]
    if step.kw("pre"):
        opts.append("--pre")
    extra = step.kw("extra_options", "")
    if extra:
        opts += shlex.split(str(extra))
    return opts


def _build_step_options(step: Step) -> None:
    """``secrets=`` / ``gpu=`` on a build step: Modal gave the step env secrets or a
    GPU; a Dockerfile has neither."""
    if step.has("secrets"):
        step.note("FM236", "warning",
                  f"Image.{step.method}(secrets=...): Modal put those secrets in the step's "
                  "environment; the Dockerfile step runs without them",
                  "use a BuildKit secret (`RUN --mount=type=secret,id=NAME …` and `falmigrate build "
                  "--secret id=NAME,env=NAME`); never put the value in the Dockerfile")
    if step.has("gpu"):
        step.note("FM236", "warning",
                  f"Image.{step.method}(gpu=...): Modal built that step on a GPU; a Docker "
                  "build has no GPU", "move GPU work (e.g. compiling kernels for the local GPU) into setup()")


def _pip(step: Step) -> ImageOp:
    packages = step.strings()
    step.chain.packages += packages
    requirements = step.kw("requirements") or []
    return ImageOp("pip",
                   {"packages": packages, "options": _pip_options(step), "requirements": list(requirements)},
                   step.location, step.method)


def _apt(step: Step) -> ImageOp:
    packages = step.strings()
    step.chain.packages += packages
    return ImageOp("apt", packages, step.location, step.method)


def _requirements(step: Step) -> ImageOp:
    return ImageOp("pip_requirements", {"path": step.strings()[0], "options": _pip_options(step)},
                   step.location, step.method)


def _pyproject(step: Step) -> ImageOp:
    folder = step.strings()[0].rsplit("/", 1)[0] if "/" in step.strings()[0] else "."
    return ImageOp("run", f"pip install ./{folder}".replace("/./", "/").replace("././", "./"),
                   step.location, step.method)


def _micromamba(step: Step) -> ImageOp:
    channels = step.kw("channels") or []
    chan = "".join(f" -c {c}" for c in channels)
    return ImageOp("run", f"micromamba install -y{chan} " + " ".join(step.strings()),
                   step.location, step.method)


def _env(step: Step) -> ImageOp:
    value = step.arg(0, "vars", {}) or {}
    env = {}
    for key, item in value.items():
        if item is None:
            continue
        if mapping.SECRET_NAME.search(str(key)):
            step.chain.secret_env.append(str(key))
            step.chain.findings.append(mapping.secret_env_finding(str(key), step.location))
        else:
            env[str(key)] = str(item)
    return ImageOp("env", env, step.location, step.method)


def _copy(step: Step) -> ImageOp:
    if step.method in ("copy_local_dir", "copy_local_file"):
        step.chain.findings.append(mapped(f"Image.{step.method}",
                                          f"Image.add_local_{step.method.rsplit('_', 1)[1]}", step.location))
    local = str(step.arg(0, "local_path"))
    remote = str(step.arg(1, "remote_path", "."))
    _check_local(step, local)
    return ImageOp("copy", (local, remote), step.location, step.method)


def _python_source(step: Step) -> ImageOp | None:
    modules = step.strings()
    if step.kw("copy"):  # later build steps use it: copy it at this point, as Modal does
        return ImageOp("copy_modules", modules, step.location, step.method)
    step.chain.decisions.append(Decision(source=f"Image.add_local_python_source({', '.join(modules)})",
                                         target="the project copy at the end of the Dockerfile "
                                                "(importable through the .pth file)", location=step.location))
    return None


def _check_local(step: Step, local: str) -> None:
    """A COPY source must be inside the project (the build context); Modal reads any local path."""
    root = step.mod.root
    inside = not local.startswith(("/", "~")) and ".." not in local.replace("\\", "/").split("/")
    if inside and (root is None or (root / local).exists()):
        return
    step.note("FM232", "warning",
              f"Image.{step.method}({local!r}): that path is not inside the project, so the "
              "Dockerfile's COPY cannot see it",
              "copy those files into the project directory and change the COPY source")


def _uv_sync(step: Step) -> ImageOp:
    folder = str(step.arg(0, "uv_project_dir", "./")).rstrip("/") or "."
    lock = step.mod.root is not None and (step.mod.root / folder / "uv.lock").is_file()
    return ImageOp("uv_sync", {"dir": folder, "lock": lock, "frozen": bool(step.kw("frozen", True)),
                               "groups": list(step.kw("groups") or []),
                               "extras": list(step.kw("extras") or []),
                               "options": str(step.kw("extra_options", "") or ""),
                               "uv": step.kw("uv_version")},
                   step.location, step.method)


def _raw(step: Step) -> ImageOp:
    if step.method == "dockerfile_commands":
        return ImageOp("extra", step.strings(), step.location, step.method)
    value = step.arg(0, "entrypoint_commands" if step.method == "entrypoint" else "cmd", [])
    return ImageOp("extra", [f"{step.method.upper()} {value!r}".replace("'", '"')],
                   step.location, step.method)


def _run_function(step: Step) -> ImageOp:
    """``run_function(fn)``: a RUN step that imports the function's module and calls it at that place."""
    target = step.call.args[0].value if step.call.args else None
    name = cst.helpers.get_full_name_for_node(target) if target is not None else None
    found = (step.mod.ctx.binding(name, at=target, within=step.within)
             if isinstance(target, cst.Name) else None)
    if found is None or isinstance(found, Unknown) or found.kind != "function":
        reason = (found.reason if isinstance(found, Unknown)
                  else f"{name or 'the argument'} is not a function of the project")
        return _run_function_todo(step, name or "?", reason)
    args = step.kw("args", ()) or ()
    kwargs = step.kw("kwargs", {}) or {}
    is_modal = any(step.mod.is_modal(d.decorator.func if isinstance(d.decorator, cst.Call)
                                     else d.decorator, step.within)
                   for d in found.node.decorators)  # type: ignore[union-attr]
    call = f"{found.context.name}.{name}{'.local' if is_modal else ''}"
    arguments = ", ".join([*(repr(a) for a in args), *(f"{k}={v!r}" for k, v in kwargs.items())])
    step.note(RUN_FUNCTION_RULE, "info", f"Image.run_function({name}): a RUN step at this place imports "
              f"{found.context.name} and calls {name}() while the image builds, as Modal did",
              "the step installs the modal package to import the module; check what the "
              "function writes lands where the app reads it (the image, not /data)")
    return ImageOp("call", {"module": found.context.name, "call": f"{call}({arguments})"},
                   step.location, step.method)


def _run_function_todo(step: Step, name: str, reason: str) -> ImageOp:
    step.note(RUN_FUNCTION_RULE, "error",
              f"Image.run_function({name}) runs Python at image build time, and the "
              f"function cannot be found statically: {reason}",
              f"add a RUN step at the TODO({RUN_FUNCTION_RULE}) line that does the same work, "
              f"or call {name}() at the start of setup() (it then runs on each cold start; point "
              "its downloads at /data)")
    return ImageOp("todo",
                   (RUN_FUNCTION_RULE, f"Image.run_function({name}) ran here at build time; add that step"),
                   step.location, step.method)


def _todo(step: Step) -> ImageOp:
    step.note("FM218", "error", f"Image.{step.method}(...) has no Dockerfile translation",
              "add the equivalent Dockerfile step by hand at the TODO(FM218) line")
    return ImageOp("todo", ("FM218", f"Image.{step.method}(...) not translated"), step.location, step.method)


STEPS: dict[str, Callable[[Step], ImageOp | None]] = {
    "apt_install": _apt, "pip_install": _pip, "uv_pip_install": _pip,
    "pip_install_from_requirements": _requirements,
    "pip_install_from_pyproject": _pyproject, "micromamba_install": _micromamba,
    "run_commands": lambda s: ImageOp("run", s.strings(), s.location, s.method),
    "dockerfile_commands": _raw, "entrypoint": _raw, "cmd": _raw, "shell": _raw, "env": _env,
    "workdir": lambda s: ImageOp("workdir", str(s.arg(0, "path")), s.location, s.method),
    "add_local_dir": _copy, "add_local_file": _copy, "copy_local_dir": _copy, "copy_local_file": _copy,
    "add_local_python_source": _python_source, "uv_sync": _uv_sync, "run_function": _run_function,
    "imports": lambda s: None,
}


def step_op(step: Step) -> ImageOp | None:
    _build_step_options(step)
    handler = STEPS.get(step.method)
    return handler(step) if handler is not None else _todo(step)
