"""The Modal → fal mapping as data: GPU names, function/class keywords, decorators, image builders.

The importer, the codemod and ``docs/from-modal.md`` all read these tables, so the published mapping
cannot drift from what the code does (a test regenerates the doc and compares).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from falmigrate import rules
from falmigrate.spec import Finding, Location

# Modal GPU type (upper case, as Modal normalises it) -> (fal machine_type, note).
# fal's GPU machine types: GPU-A6000, GPU-A100, GPU-H100, GPU-H200, GPU-B200.
GPU_TYPES: dict[str, tuple[str, str]] = {
    "T4": ("GPU-A6000", "nearest fal GPU (16 GB T4 → 48 GB A6000)"),
    "L4": ("GPU-A6000", "nearest fal GPU (24 GB L4 → 48 GB A6000)"),
    "A10G": ("GPU-A6000", "nearest fal GPU (24 GB A10G → 48 GB A6000)"),
    "A10": ("GPU-A6000", "nearest fal GPU (24 GB A10 → 48 GB A6000)"),
    "L40S": ("GPU-A6000", "same memory class (48 GB)"),
    "A100": ("GPU-A100", "same GPU"),
    "A100-40GB": ("GPU-A100", "same GPU family"),
    "A100-80GB": ("GPU-A100", "same GPU"),
    "H100": ("GPU-H100", "same GPU"),
    "H100!": ("GPU-H100", "same GPU (Modal's no-upgrade H100)"),
    "H200": ("GPU-H200", "same GPU"),
    "B200": ("GPU-B200", "same GPU"),
    "ANY": ("GPU-A6000", "`any` becomes a fallback list of fal GPUs"),
}
# What `gpu="any"` expands to: fal tries these in order.
ANY_GPU_FALLBACKS: list[str] = ["GPU-A6000", "GPU-A100", "GPU-H100"]
# The GPU type in Modal's own naming that exactly matches a fal type (no Finding needed).
EXACT_GPUS = {"A100", "A100-80GB", "H100", "H100!", "H200", "B200"}


@dataclass(frozen=True)
class Knob:
    """One `@app.cls` / `@app.function` keyword and what it becomes on the fal App."""

    modal: str
    fal: str | None  # ScalingSpec / HardwareSpec field, or None (Finding only)
    rule: str | None = None  # Finding rule id when there is no direct equivalent
    note: str = ""
    old_names: tuple[str, ...] = ()


KNOBS: list[Knob] = [
    Knob("gpu", "machine_type + num_gpus",
         note="see the GPU table; `T:N` sets num_gpus=N; a list is a fallback list"),
    Knob("cpu", None, "FM204", "fal sizes CPU by machine_type (XS/S/M/L); pick one by hand"),
    Knob("memory", None, "FM204", "fal sizes memory by machine_type (XS/S/M/L); pick one by hand"),
    Knob("timeout", "request_timeout", note="seconds per request"),
    Knob("startup_timeout", "startup_timeout", note="seconds for setup()"),
    Knob("scaledown_window", "keep_alive", note="idle seconds before a runner stops",
         old_names=("container_idle_timeout",)),
    Knob("min_containers", "min_concurrency", note="warm floor", old_names=("keep_warm",)),
    Knob("max_containers", "max_concurrency", note="scale ceiling", old_names=("concurrency_limit",)),
    Knob("buffer_containers", "concurrency_buffer", note="extra warm runners"),
    Knob("allow_concurrent_inputs", "max_multiplexing",
         note="old spelling of `@modal.concurrent(max_inputs=)`"),
    Knob("max_inputs", None, "FM223", "fal runners are not recycled after N inputs"),
    Knob("retries", "skip_retry_conditions", "FM205",
         "`retries=0` → `skip_retry_conditions` = all of fal's conditions; other values: fal "
         "retries on its own terms"),
    Knob("volumes", "data_mounts (/data paths)",
         note="`{path: Volume.from_name(name)}` → `/data/<name>`; literal "
              "paths rewritten", old_names=("shared_volumes", "network_file_systems")),
    Knob("secrets", "secrets (env var names)", "FM207",
         "values are never read; create fal secrets by hand; a secret "
         "whose keys the code does not name leaves `secrets` unset"),
    Knob("mounts", "COPY in the Dockerfile", "FM241",
         "old `modal.Mount.from_local_dir/file` → the files copied into "
         "the image"),
    Knob("env", "ENV in the Dockerfile", note="environment variables of the container; secret-looking names "
         "(TOKEN/KEY/SECRET/PASSWORD/CREDENTIAL) become fal secrets instead (FM234)"),
    Knob("image", "Dockerfile", note="the image chain, in order"),
    Knob("enable_memory_snapshot", None, "FM208",
         "fal has no memory snapshots; setup() runs on every cold start"),
    Knob("region", "regions", "FM209",
         "fal region names (us-west, us-central, us-east, eu-north, eu-west) are kept; "
         "others are a finding"),
    Knob("cloud", None, "FM209", "fal chooses the cloud"),
    Knob("ephemeral_disk", None, "FM223", "no fal equivalent"),
    Knob("single_use_containers", None, "FM223", "no fal equivalent"),
    Knob("schedule", None, "FM213", "fal apps have no schedules; call the endpoint from a scheduler"),
    Knob("include_source", None, None, "the Dockerfile copies the whole project"),
    Knob("serialized", None, None, "not needed on fal"),
    Knob("name", None, None, "fal names the endpoint after the method"),
    Knob("proxy", None, "FM223", "no fal equivalent"),
    Knob("block_network", None, "FM223", "no fal equivalent"),
    Knob("restrict_modal_access", None, None, "not needed on fal"),
    Knob("nonpreemptible", None, "FM223", "no fal equivalent"),
    Knob("routing_region", None, "FM209", "fal chooses request routing"),
    Knob("i6pn", None, "FM223", "no fal equivalent"),
    Knob("is_generator", None, "FM224", "streamed outputs are collected into a list"),
]
KNOB_BY_NAME: dict[str, Knob] = {}
for _knob in KNOBS:
    KNOB_BY_NAME[_knob.modal] = _knob
    for _old in _knob.old_names:
        KNOB_BY_NAME[_old] = _knob
# Modal keyword -> ScalingSpec field for the plain integer knobs.
SCALING_FIELDS: dict[str, str] = {
    "timeout": "request_timeout",
    "startup_timeout": "startup_timeout",
    "scaledown_window": "keep_alive",
    "container_idle_timeout": "keep_alive",
    "min_containers": "min_concurrency",
    "keep_warm": "min_concurrency",
    "max_containers": "max_concurrency",
    "concurrency_limit": "max_concurrency",
    "buffer_containers": "concurrency_buffer",
    "allow_concurrent_inputs": "max_multiplexing",
}


@dataclass(frozen=True)
class DecoratorMap:
    modal: str
    fal: str
    rule: str | None = None


DECORATORS: list[DecoratorMap] = [
    DecoratorMap("modal.App(...) / modal.Stub(...)",
                 "one fal app (`[tool.fal.apps.<name>]`) per Modal class, per web "
                 "server, and one for the plain functions", "FM241"),
    DecoratorMap("@app.cls(...)",
                 "`class X(fal.App)`; its keywords go to pyproject.toml, not into the class"),
    DecoratorMap("@app.function(...)", "a `@fal.endpoint` on the functions app calling the function"),
    DecoratorMap("@modal.enter() (snap=) / __enter__", "`setup()` calls each enter method in order", "FM208"),
    DecoratorMap("@modal.exit() / __exit__", "`teardown()` calls each exit method"),
    DecoratorMap("@modal.build()", "runs first in `setup()` (on every cold start)", "FM216"),
    DecoratorMap("@modal.method()",
                 "`@fal.endpoint(\"/<name>\")` with a pydantic input model from the signature"),
    DecoratorMap("@modal.fastapi_endpoint / web_endpoint / @stub.webhook",
                 "`@fal.endpoint`; the request body keeps its "
                 "shape", "FM219"),
    DecoratorMap("@modal.asgi_app() / wsgi_app() / @stub.asgi / @stub.wsgi",
                 "image-only fal app: the image's CMD serves "
                 "the app object with uvicorn / gunicorn (`--native`: a catch-all fal endpoint)", "FM220"),
    DecoratorMap("@modal.web_server(port)",
                 "image-only fal app: the image's CMD runs the function, which starts the "
                 "server on its port (`--native`: setup() starts it, a catch-all endpoint proxies)", "FM221"),
    DecoratorMap("@modal.concurrent(max_inputs=, target_inputs=)", "`max_multiplexing = max_inputs`",
                 "FM212"),
    DecoratorMap("@modal.batched(...)", "endpoint calls the function with one-element batches", "FM211"),
    DecoratorMap("modal.parameter()", "a plain class attribute with the default", "FM210"),
    DecoratorMap("@app.local_entrypoint()",
                 "kept as a plain function; its own Modal calls become direct calls", "FM214"),
    DecoratorMap("with image.imports():", "`try: ... except ImportError: pass`"),
    DecoratorMap("f.remote() / .local() / .call() / .map() / .starmap() of the module's own functions",
                 "direct calls, `map()`, `itertools.starmap()`; `.spawn()` and calls on a class "
                 "that became a fal.App stay, with a TODO", "FM245"),
    DecoratorMap("modal.Dict / Queue / Function.from_name / Sandbox (Modal at run time)",
                 "kept; the image installs "
                 "modal", "FM244"),
]

# Image builder method -> how it reaches the Dockerfile.
IMAGE_METHODS: dict[str, str] = {
    "debian_slim": "FROM python:<version>-slim-bookworm; a GPU app gets FROM "
                   "nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04 with that Python version installed on it",
    "from_dockerhub (old)": "as from_registry (FM241)",
    "conda (old)": "as micromamba (FM241)",
    "micromamba": ("FROM mambaorg/micromamba:2.1.1-debian12-slim + `micromamba install "
                   "python=<version> pip`, as Modal does"),
    "from_registry": "FROM <ref>; `add_python=X` → Python X installed with uv into /opt/venv, first on PATH",
    "from_aws_ecr": "FROM <ref> (private registry: FM235)",
    "from_gcp_artifact_registry": "FROM <ref> (private registry: FM235)",
    "from_dockerfile": "that Dockerfile's FROM and steps (build stages kept; CMD/ENTRYPOINT/EXPOSE dropped); "
                       "FM217 when it is not in the project",
    "pip_install": "RUN pip install ... (in order)",
    "uv_pip_install": "RUN pip install ... (in order)",
    "uv_sync": "RUN pip install uv; COPY pyproject.toml (+ uv.lock); RUN uv sync into "
               "/.uv/.venv (seeded with pip, --inexact), first on PATH — as Modal does",
    "pip_install_from_requirements": "COPY <file> + RUN pip install -r <file>",
    "pip_install_from_pyproject": "RUN pip install <project dir>",
    "micromamba_install": "RUN micromamba install ...",
    "apt_install": "RUN apt-get install -y ...",
    "run_commands": "RUN <command> (each)",
    "dockerfile_commands": "the Dockerfile lines as given",
    "env": "ENV KEY=value (secret-looking names → fal secrets, FM234)",
    "workdir": "WORKDIR <path>",
    "add_local_dir": "COPY <local> <remote> (FM232 when <local> is outside the project)",
    "add_local_file": "COPY <local> <remote> (FM232 when <local> is outside the project)",
    "add_local_python_source": "the project copy (made importable by the .pth file); "
                               "`copy=True`: COPY <module> at that place",
    "copy_local_dir": "COPY <local> <remote>",
    "copy_local_file": "COPY <local> <remote>",
    "run_function": "COPY the project, RUN pip install modal && python3 -c 'import <module>; "
                    "<module>.<fn>()' at that place (FM216; a function that cannot be found: error + TODO)",
    "entrypoint": "ENTRYPOINT",
    "cmd": "CMD",
    "shell": "SHELL",
}

# Public attributes of fal.App (fal 1.83.0) a converted class must not redefine by accident.
FAL_APP_ATTRIBUTES = frozenset({
    "app_auth", "app_files", "app_files_context_dir", "app_files_ignore", "app_name", "build_metadata",
    "collect_routes", "concurrency_buffer", "concurrency_buffer_perc", "current_request", "data_mounts",
    "get_billing_components", "get_endpoints", "get_health_check_config", "handle_exit", "health",
    "host_kwargs",
    "image", "isolate_channel", "kind", "lifespan", "local_file_path", "local_python_modules", "machine_type",
    "max_concurrency", "max_multiplexing", "metrics_port", "min_concurrency", "num_gpus", "openapi",
    "provide_hints", "regions", "request_start_timeout", "request_timeout", "requirements",
    "requirements_context_dir", "retry_config", "run_local", "scaling_delay", "secrets", "serve",
    "skip_retry_conditions", "spawn", "startup_timeout", "termination_grace_period_seconds", "version",
})

# Environment variable names that look like secrets: their values are never baked into the image.
SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)


def secret_env_finding(key: str, location: Location) -> Finding:
    return Finding(rule="FM234", severity="warning", location=location,
                   message=f"environment variable {key} looks like a secret: its value is not "
                           "copied into the image",
                   remediation=f"create it in fal: `fal secrets set {key}=…` (the app lists it in `secrets`)")


# fal's retry conditions (fal.sdk.RetryConditionLiteral in fal 1.83.0); retries=0 skips them all.
FAL_RETRY_CONDITIONS = ("timeout", "server_error", "connection_error")

# Ports fal's runner itself listens on (the app server and its metrics).
FAL_RESERVED_PORTS = frozenset({8080, 9090})


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def render_mapping_doc() -> str:
    """The mapping part of docs/from-modal.md, generated from the tables above."""
    out = ["## GPU types", ""]
    gpu_rows = [[f"`{k}`", f"`{v[0]}`", v[1]] for k, v in GPU_TYPES.items()]
    gpu_rows.append(["`T:N` (e.g. `H100:2`)", "machine type of `T`", "`num_gpus = N`"])
    gpu_rows.append(["list of types", "list of machine types", "fal tries them in order"])
    out += _table(["Modal gpu", "fal machine_type", "note"], gpu_rows)
    out += ["", f"`gpu=\"any\"` becomes `machine_type = {ANY_GPU_FALLBACKS!r}`.", "",
            "## Function and class keywords", ""]
    knob_rows = [
        [f"`{k.modal}`" + "".join(f" / `{o}`" for o in k.old_names), f"`{k.fal}`" if k.fal else "—",
         k.rule or "", k.note]
        for k in KNOBS
    ]
    out += _table(["Modal keyword", "fal", "finding", "note"], knob_rows)
    out += ["", "## Decorators and objects", ""]
    out += _table(["Modal", "fal", "finding"], [[f"`{d.modal}`", d.fal, d.rule or ""] for d in DECORATORS])
    out += ["", "## Image builder methods", ""]
    out += _table(["Modal Image method", "Dockerfile"], [[f"`{k}`", v] for k, v in IMAGE_METHODS.items()])
    out += ["", "## Finding rules", ""]
    out += _table(["rule", "meaning"], [[rule.id, rule.title] for rule in rules.for_platform("modal")])
    return "\n".join(out) + "\n"


DOC_BEGIN = "<!-- BEGIN GENERATED: falmigrate.importers.modal.mapping.render_mapping_doc -->"
DOC_END = "<!-- END GENERATED -->"


def update_doc(text: str) -> str:
    """``text`` (docs/from-modal.md) with its generated mapping section replaced by the current one."""
    generated = f"{DOC_BEGIN}\n\n{render_mapping_doc()}\n{DOC_END}"
    if DOC_BEGIN in text and DOC_END in text:
        head, _, rest = text.partition(DOC_BEGIN)
        _, _, tail = rest.partition(DOC_END)
        return head + generated + tail
    return text.rstrip("\n") + "\n\n# Mapping tables\n\n" + generated + "\n"
