"""What each platform's codemod and verify runner need to know beyond the common spec.

One typed model per platform (``AppSpec.details``, discriminated by ``platform``): importers fill it,
the platform's codemod and verify runner read it. The generic renderers do not; a route of one platform
(cog's compatibility route) has its own render pieces that do.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from falmigrate.spec.base import Frozen


class CogCompat(Frozen):
    """``convert --route compat``: the image runs cog's own HTTP server (``python -m cog.server.http``),
    so clients of the model keep calling ``POST /predictions`` as on Replicate."""

    cog_version: str  # the cog release the image installs (the project's pin, else the mirrored release)
    server: Literal["coglet", "python"]  # cog >= 0.17 serves with coglet (Rust); older releases with FastAPI
    predictor_ref: str  # ``COG_PREDICT_TYPE_STUB``: "predict.py:Predictor"
    max_concurrency: int = 1  # cog.yaml's concurrency.max: fal's ``max_multiplexing``
    slots: int = 1  # ``COG_MAX_CONCURRENCY``: the server's prediction slots (spares for the ones being freed)
    schema_file: str | None = None  # the OpenAPI schema coglet validates inputs with, relative to the workdir
    file_outputs: bool = False  # the output holds files (the server returns them as data: URLs)


class CogDetails(Frozen):
    platform: Literal["cog"] = "cog"
    file: str  # the predictor module, relative to the source root
    class_name: str | None = None  # None: a function predictor (``predict: "predict.py:run"``)
    method: str = "predict"  # the method (class predictor) or function name
    setup_weights: bool = False  # setup(self, weights) takes cog's weights argument
    file_inputs: list[str] = Field(default_factory=list)
    train: str | None = None  # cog.yaml's ``train:`` reference, as written
    train_file: str | None = None  # the trainer function's module, when it became an app
    train_function: str | None = None
    train_app: str | None = None  # the generated trainer app class (``/train``)
    cog_version: str | None = None  # the cog version the project pins (requiredness rules differ)
    config: str = "cog.yaml"  # the config file's name in the project folder (cog's ``-f``)
    compat: CogCompat | None = None  # set by ``--route compat``


class ModalCall(Frozen):
    """How the verify runner calls one handler the Modal way (``.local()``)."""

    owner: str | None = None  # the Modal class the handler is a method of; None for a function
    name: str
    body_param: str | None = None
    body_type: str | None = None
    batched: bool = False


class ModalServer(Frozen):
    """A Modal ASGI/WSGI/web_server function: the factory to call and, for web_server, its port."""

    owner: str | None = None
    name: str
    port: int | None = None
    startup_timeout: float | None = None


class ModalAppDetails(Frozen):
    kind: str  # "cls" | "functions" | "asgi_app" | "wsgi_app" | "web_server"
    calls: dict[str, ModalCall] = Field(default_factory=dict)  # endpoint path -> handler
    server: ModalServer | None = None


class ModalDetails(Frozen):
    platform: Literal["modal"] = "modal"
    modal_app: str  # the modal.App(...) name
    apps: dict[str, ModalAppDetails] = Field(default_factory=dict)  # fal class name -> its Modal handlers


class RunpodProcess(Frozen):
    """Work a RunPod worker did before its handler served jobs, reproduced in the fal app's ``setup()``.

    ``launcher``: the lines of a launcher script (``start.sh``) that run before the line starting the
    worker module, run as one shell script (``shell``) in the worker's folder; variables are expanded
    by that shell when the app starts, never at convert time. ``main``: the worker's own start-up
    function (``main()`` under the main guard), which now runs in ``setup()``. ``port``: a port the
    started server listens on (setup() waits for it), when the source names one.
    """

    origin: Literal["launcher", "main"]
    script: str | None = None  # the launcher's lines (origin "launcher")
    shell: str = "sh"
    file: str  # the launcher script or the worker module, relative to the source root
    first_line: int
    last_line: int
    port: int | None = None
    health_path: str | None = None
    dropped: list[str] = Field(default_factory=list)  # launcher lines after the worker line (not run)


class RunpodDetails(Frozen):
    platform: Literal["runpod"] = "runpod"
    handler: str | None = None  # the handler function's name (None: a load-balancing worker, no handler)
    call: str | None = None  # how the handler is reached from the entry module, when not by name
    handler_file: str | None = None  # the module that defines the handler
    entry: str  # the module that calls runpod.serverless.start (or serves HTTP, for load balancing)
    kind: str | None = None  # "sync" | "async" | "generator" | "async_generator" | "load_balancer"
    return_aggregate_stream: bool = False
    concurrency_modifier: str | None = None
    init: list[str] = Field(default_factory=list)  # module-level names setup() initialises
    schema_validated: bool = False  # the request fields come from an rp_validator schema
    # top-level job keys the handler reads besides "input"/"id" (e.g. "s3Config"): request fields that
    # the app moves back next to "input" when it builds the job
    job_fields: list[str] = Field(default_factory=list)
    processes: list[RunpodProcess] = Field(default_factory=list)
    # project modules whose copies in the output have their literal keys replaced by secret reads
    secret_files: list[str] = Field(default_factory=list)
    # env vars the rewritten code reads instead of literal keys (verify gives the fal side stand-ins)
    literal_secrets: list[str] = Field(default_factory=list)


class DockerDetails(Frozen):
    platform: Literal["docker"] = "docker"
    dockerfile: str  # the user's Dockerfile, relative to the source root
    context: str = "."  # the build context, relative to the source root
    server_dir: str = ""  # the project folder (in the context) the Dockerfile copies into its WORKDIR
    framework: str | None = None  # "fastapi" | "flask" | "http.server" | None
    via: str | None = None  # the ENTRYPOINT script the server is started through (relative to the context)
    port_movable: bool | None = None  # the server takes its port from the command line ({port}) or a variable
    port_variable: str | None = None  # the environment variable the server reads its port from
    image_paths: dict[str, str] = Field(default_factory=dict)  # image folder (PYTHONPATH…) -> context folder
    entrypoint_hands_over: bool = True  # the image's ENTRYPOINT (if any) ends by running its arguments


PlatformDetails = CogDetails | ModalDetails | RunpodDetails | DockerDetails
