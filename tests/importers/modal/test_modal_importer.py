"""Modal importer: static reading of apps, knobs (new and old names), GPUs, images, bad input."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from falmigrate.errors import SourceError
from falmigrate.importers.modal import ModalImporter
from falmigrate.importers.modal.knobs import parse_gpu
from falmigrate.render.dockerfile import render as render_dockerfile
from falmigrate.spec import ModalServer

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "modal"


def load(tmp_path: Path, code: str, name: str = "app.py"):
    (tmp_path / name).write_text(textwrap.dedent(code))
    return ModalImporter().load(tmp_path)


def rules(spec) -> list[str]:
    return [f.rule for f in spec.findings]


def test_detect(tmp_path: Path) -> None:
    importer = ModalImporter()
    assert importer.detect(FIXTURES / "class_enter_methods" / "input") == 0.9
    assert importer.detect(tmp_path) == 0.0
    (tmp_path / "x.py").write_text("import modal\n")
    assert importer.detect(tmp_path) == 0.3


@pytest.mark.parametrize(
    ("value", "machine", "count"),
    [
        ("T4", "GPU-A6000", None),
        ("a10g", "GPU-A6000", None),
        ("A100-80GB", "GPU-A100", None),
        ("H100:2", "GPU-H100", 2),
        ("B200:8", "GPU-B200", 8),
        ("H200", "GPU-H200", None),
        (["L40S", "A100-80GB"], ["GPU-A6000", "GPU-A100"], None),
        ("any", ["GPU-A6000", "GPU-A100", "GPU-H100"], None),
    ],
)
def test_gpu_strings(value, machine, count) -> None:
    got_machine, got_count, notes = parse_gpu(value)
    assert (got_machine, got_count) == (machine, count)
    assert all(rule != "FM202" for rule, _, _ in notes)


def test_unknown_gpu_is_a_finding_not_a_crash() -> None:
    machine, _, notes = parse_gpu("Z9000")
    assert machine == "GPU-A100"
    assert [(r, s) for r, s, _ in notes] == [("FM202", "error")]
    assert parse_gpu(["H100:2", "A100"])[1] == 2
    assert any(r == "FM203" for r, _, _ in parse_gpu(["H100:2", "A100"])[2])


def test_class_knobs_with_old_names_and_constants(tmp_path: Path) -> None:
    spec = load(tmp_path, """
        import modal
        MINUTES = 60
        stub = modal.Stub("old-style")

        @stub.cls(gpu=modal.gpu.A100(count=2, size="80GB"), container_idle_timeout=5 * MINUTES,
                  keep_warm=1, concurrency_limit=4, allow_concurrent_inputs=10, timeout=10 * MINUTES,
                  retries=2, cpu=2.0)
        class Model:
            @modal.enter()
            def load(self):
                self.x = 1

            @modal.method()
            def run(self, n: int = 3) -> int:
                return n * self.x
    """)
    assert spec.name == "old-style" and spec.class_name == "Model"
    assert spec.hardware.machine_type == "GPU-A100" and spec.hardware.num_gpus == 2 and spec.hardware.gpu
    s = spec.scaling
    assert (s.keep_alive, s.min_concurrency, s.max_concurrency, s.max_multiplexing,
            s.request_timeout) == (300, 1, 4, 10, 600)
    assert {"FM205", "FM204"} <= set(rules(spec))
    assert spec.lifecycle.setup == "Model.load"
    [endpoint] = spec.endpoints
    assert endpoint.path == "/" and endpoint.handler == "Model.run"
    assert (endpoint.inputs[0].name == "n" and endpoint.inputs[0].default == 3
            and not endpoint.inputs[0].required)


def test_new_knob_names_volumes_secrets(tmp_path: Path) -> None:
    spec = load(tmp_path, """
        import modal
        vol = modal.Volume.from_name("my weights")
        app = modal.App("k")

        @app.function(gpu="L4", scaledown_window=30, min_containers=2, max_containers=9, buffer_containers=1,
                      startup_timeout=90, volumes={"/vol": vol},
                      secrets=[modal.Secret.from_name("hf", required_keys=["HF_TOKEN"]),
                               modal.Secret.from_dict({"API_KEY": "not-read"})],
                      enable_memory_snapshot=True, region="us-east", env={"MODE": "x"})
        def f(a: str) -> str:
            return a
    """)
    s = spec.scaling
    assert (s.keep_alive, s.min_concurrency, s.max_concurrency, s.concurrency_buffer,
            s.startup_timeout) == (30, 2, 9, 1, 90)
    assert spec.hardware.machine_type == "GPU-A6000"
    assert ([(v.name, v.source_path, v.fal_path) for v in spec.volumes]
            == [("my-weights", "/vol", "/data/my-weights")])
    assert spec.secrets == ["HF_TOKEN", "API_KEY"]
    assert "not-read" not in spec.to_json()
    assert {"FM201", "FM206", "FM207", "FM208"} <= set(rules(spec))
    assert spec.regions == ["us-east"]  # a fal region name: kept
    assert spec.image.env == {"MODE": "x"} and spec.image.cuda


def dockerfile_steps(spec) -> list[str]:
    """The rendered Dockerfile's instructions after the fixed ENV header, one string each."""
    text = render_dockerfile(spec, fal_version="1.83.0")
    steps, current = [], ""
    for line in text.splitlines():
        if not line.strip() or (line.startswith("#") and "TODO" not in line):
            continue
        current = current + "\n" + line if current else line
        if not line.endswith("\\"):
            steps.append(current)
            current = ""
    # the renderer's fixed header and its fal-runtime steps are not from the Modal chain
    own = ("ENV PIP_BREAK_SYSTEM_PACKAGES", "RUN command -v curl", "RUN python3 -m pip install fal",
           "RUN python3 -c \"import pathlib, site")
    return [s for s in steps if not s.startswith(own)]


def test_image_chain_in_order() -> None:
    spec = ModalImporter().load(FIXTURES / "image_chain" / "input")
    steps = dockerfile_steps(spec)
    assert steps[0] == "FROM python:3.12-slim-bookworm"
    order = ["apt-get install", "pillow==10.4.0", "COPY requirements.txt", "-r /tmp/falmigrate-requirements",
             "mkdir -p /cache", "echo built > /cache/marker", 'ENV HF_HOME="/cache"', 'ENV APP_MODE="prod"',
             "WORKDIR /srv", "COPY assets/config.json /srv/config.json", "COPY assets /srv/assets",
             "COPY . /srv", "import app; app.download_weights()", "COPY . /srv"]
    at = 0
    for needle in order:  # each step found after the previous one
        at = next((i for i in range(at + 1, len(steps)) if needle in steps[i]), None)
        assert at is not None, (needle, steps)
    pip = next(step for step in steps if "pillow" in step)
    assert pip.index("pillow") < pip.index("requests") < pip.index("httpx")
    # the function runs in a RUN step
    assert [f.severity for f in spec.findings if f.rule == "FM216"] == ["info"]
    assert any("add_local_python_source" in d.source for d in spec.decisions)


def test_from_registry_add_python_and_gpu_list() -> None:
    spec = ModalImporter().load(FIXTURES / "from_registry" / "input")
    assert spec.image.base == "nvidia/cuda:12.4.1-devel-ubuntu22.04" and spec.image.python == "3.11"
    assert spec.hardware.machine_type == ["GPU-A6000", "GPU-A100"]
    assert spec.scaling.request_timeout == 300
    assert "FM213" in rules(spec)  # the scheduled function is not an endpoint
    assert [e.handler for e in spec.endpoints] == ["matmul"]


def test_web_kinds_and_extra_apps() -> None:
    spec = ModalImporter().load(FIXTURES / "wsgi_batched" / "input")
    assert spec.class_name == "LegacyApp" and spec.details.apps[spec.class_name].kind == "wsgi_app"
    [other] = spec.more_apps
    assert other.class_name == "WsgiBatchedApp" and other.endpoints[0].handler == "square"
    assert {"FM220", "FM211", "FM226"} <= set(rules(spec))
    server = ModalImporter().load(FIXTURES / "web_server" / "input")
    assert server.details.apps["ServeApp"].server == ModalServer(owner=None, name="serve", port=18741,
                                                                 startup_timeout=20.0)
    assert server.scaling.startup_timeout == 20  # fal's setup() limit covers the wait for the port
    asgi = ModalImporter().load(FIXTURES / "asgi_app" / "input")
    assert [(e.path, e.method) for e in asgi.endpoints] == [
        ("/add", "POST"), ("/mul", "POST"), ("/ping", "GET"), ("/events", "GET")]
    assert asgi.scaling.max_multiplexing == 20 and asgi.scaling.max_concurrency == 3
    # servers are image-only apps: the launcher serves the factory's app; health from a GET route
    assert asgi.server is not None and asgi.server.kind == "asgi" and asgi.server.port == 8000
    assert asgi.server.command[2:4] == ["asgi", "app:web"] and asgi.server.health.path == "/ping"
    assert asgi.server.launcher == "modal_serve" and asgi.server.requirements[1:] == ["uvicorn", "websockets"]
    assert spec.server is not None and spec.server.kind == "wsgi" and "gunicorn" in spec.server.requirements
    assert (server.server is not None
            and (server.server.port, server.server.health.start_period_seconds) == (18741, 20))


def test_body_model_and_parameters() -> None:
    spec = ModalImporter().load(FIXTURES / "fastapi_endpoint" / "input")
    [endpoint] = spec.endpoints
    assert [f.name for f in endpoint.inputs] == ["name", "excited"]
    assert endpoint.inputs[0].min_length == 1 and endpoint.inputs[0].description == "who to greet"
    assert spec.details.apps["GreeterApp"].calls["/"].body_type == "Greeting"
    gpu = ModalImporter().load(FIXTURES / "gpu_volumes_secrets" / "input")
    assert {"FM210", "FM208"} <= set(rules(gpu))
    assert (gpu.hardware.machine_type, gpu.hardware.num_gpus) == ("GPU-H100", 2)


def test_concurrent_findings() -> None:
    spec = ModalImporter().load(FIXTURES / "concurrent" / "input")
    assert spec.scaling.max_multiplexing == 16
    assert any(f.rule == "FM212" and "target_inputs" in f.message for f in spec.findings)
    assert spec.more_apps[0].scaling.max_multiplexing == 4


def test_no_app_is_a_source_error(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("import modal\n\nx = 1\n")
    with pytest.raises(SourceError, match="no modal.App"):
        ModalImporter().load(tmp_path)


def test_syntax_error_has_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("import modal\napp = modal.App('x')\n\ndef broken(:\n    pass\n")
    with pytest.raises(SourceError) as info:
        ModalImporter().load(tmp_path)
    assert info.value.file == "app.py" and info.value.line == 4


def test_app_without_functions(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="nothing serves requests") as info:
        load(tmp_path, "import modal\napp = modal.App('empty')\n")
    assert info.value.line == 2


def test_dynamic_values_become_findings(tmp_path: Path) -> None:
    spec = load(tmp_path, """
        import os
        import modal
        app = modal.App("dyn", image=modal.Image.debian_slim().pip_install(*os.environ["PKGS"].split()))

        @app.function(gpu=os.environ["GPU"], timeout=int(os.environ["T"]))
        def f(x: int = len("abc")) -> int:
            return x
    """)
    assert {"FM202", "FM223", "FM218"} <= set(rules(spec))
    assert all(f.severity == "error" for f in spec.findings if f.rule in ("FM202", "FM223", "FM218"))
    assert spec.hardware.machine_type == "GPU-A100"
    assert spec.endpoints[0].inputs[0].default == 3  # len("abc") is evaluated statically


def test_second_app_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "other.py").write_text("import modal\napp = modal.App('o')\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_app.py").write_text("import modal\napp = modal.App('t')\n\n@app.function()\n"
                                                    "def t():\n    pass\n")
    spec = load(tmp_path, "import modal\napp = modal.App('m')\n\n@app.function()\ndef f():\n    return 1\n")
    assert spec.source.entry_file == "app.py"  # the one app file (tests aside) is clearly the entry
    assert any(f.rule == "FM227" and "tests/test_app.py" in f.message for f in spec.findings)


def test_image_order_is_kept_across_dockerfile_sections(tmp_path: Path) -> None:
    spec = load(tmp_path, """
        import modal
        image = (
            modal.Image.debian_slim(python_version="3.11")
            .env({"PIP_INDEX_URL": "https://example.invalid/simple"})
            .pip_install("torch")
            .run_commands("python -c 'import torch'")
            .workdir("/work dir")
            .pip_install("diffusers", index_url="https://example.invalid/simple")
            .apt_install("git")
            .run_commands(["echo a", "echo b"])
            .dockerfile_commands("RUN echo raw")
            .env({"LATE": "1"})
        )
        app = modal.App("order", image=image)

        @app.function()
        def f() -> int:
            return 1
    """)
    steps = dockerfile_steps(spec)
    assert steps[1:] == [
        "WORKDIR /work dir",
        'ENV PIP_INDEX_URL="https://example.invalid/simple"',
        "RUN python3 -m pip install --no-cache-dir torch",
        "RUN python -c 'import torch'",
        "WORKDIR /work dir",
        "RUN python3 -m pip install --no-cache-dir --index-url https://example.invalid/simple diffusers",
        "RUN apt-get update && apt-get install -y --no-install-recommends git && rm -rf /var/lib/apt/lists/*",
        "RUN echo a",
        "RUN echo b",
        "RUN echo raw",
        'ENV LATE="1"',
        "COPY . /work dir",
    ]


def test_copy_before_run_and_requirements_after_pip(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "reqs.txt").write_text("requests\n")
    spec = load(tmp_path, """
        import modal
        image = (
            modal.Image.debian_slim()
            .apt_install("curl")
            .add_local_dir(local_path="pkg", remote_path="/opt/pkg", copy=True)
            .run_commands("pip install -e /opt/pkg")
            .pip_install_from_requirements("reqs.txt")
            .copy_local_file("reqs.txt")
            .add_local_file("/etc/hosts", "/srv/hosts")
        )
        app = modal.App("copies", image=image)

        @app.function()
        def f() -> int:
            return 1
    """)
    steps = dockerfile_steps(spec)
    assert steps[2:] == [
        "WORKDIR /app",
        "COPY pkg /opt/pkg",
        "RUN pip install -e /opt/pkg",
        "COPY reqs.txt /tmp/falmigrate-requirements-0.txt",
        "RUN python3 -m pip install --no-cache-dir -r /tmp/falmigrate-requirements-0.txt",
        "COPY reqs.txt .",
        "COPY /etc/hosts /srv/hosts",
        "COPY . /app",
    ]
    [outside] = [f for f in spec.findings if f.rule == "FM232"]
    assert "/etc/hosts" in outside.message and outside.location.line == 10


def test_micromamba_base_installs_python_first(tmp_path: Path) -> None:
    spec = load(tmp_path, """
        import modal
        image = (modal.Image.micromamba(python_version="3.12")
                 .micromamba_install("numpy", channels=["conda-forge"]).pip_install("rich"))
        app = modal.App("mamba", image=image)

        @app.function()
        def f() -> int:
            return 1
    """)
    steps = dockerfile_steps(spec)
    assert steps[0] == "FROM mambaorg/micromamba:2.1.1-debian12-slim"
    assert steps[2:8] == [
        'SHELL ["/usr/local/bin/_dockerfile_shell.sh"]',
        "USER root",
        "ENV MAMBA_DOCKERFILE_ACTIVATE=1",
        "RUN micromamba install -n base -y python=3.12 pip -c conda-forge && micromamba clean -a -y",
        "ENV PATH=/opt/conda/bin:$PATH",
        "RUN micromamba install -y -c conda-forge numpy",
    ]
    assert steps[8] == "RUN python3 -m pip install --no-cache-dir rich"


def test_from_dockerfile_steps_come_first(tmp_path: Path) -> None:
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "Dockerfile").write_text(
        "ARG BASE=debian:bookworm-slim\n"
        "FROM golang:1.22 AS tools\nRUN go install example.invalid/tool@v1\n"
        "FROM ${BASE}\nRUN apt-get update && apt-get install -y python3-pip\n"
        "COPY --from=tools /go/bin/tool /usr/local/bin/tool\nCOPY conf /etc/conf\n"
        "WORKDIR /srv\nENV MODE=docker\nEXPOSE 9000\nCMD [\"python3\", \"serve.py\"]\n")
    spec = load(tmp_path, """
        import modal
        image = modal.Image.from_dockerfile("docker/Dockerfile", context_dir="docker").pip_install("rich")
        app = modal.App("df", image=image)

        @app.function()
        def f() -> int:
            return 1
    """)
    steps = dockerfile_steps(spec)
    assert steps[0].startswith("FROM golang:1.22 AS tools") and "FROM debian:bookworm-slim" in steps
    start = steps.index("FROM debian:bookworm-slim")
    assert steps[start + 1:start + 8] == [
        "WORKDIR /srv",  # the project is copied where that Dockerfile leaves the cwd
        "RUN apt-get update && apt-get install -y python3-pip",
        "COPY --from=tools /go/bin/tool /usr/local/bin/tool",
        "COPY docker/conf /etc/conf",
        "WORKDIR /srv",
        "ENV MODE=docker",
        "RUN python3 -m pip install --no-cache-dir rich",
    ]
    assert steps[-1] == "COPY . /srv"
    assert not any(s.startswith(("CMD", "EXPOSE")) for s in steps)
    assert any("CMD (line 11)" in (d.note or "") for d in spec.decisions)
    missing = load(tmp_path, """
        import modal
        app = modal.App("df", image=modal.Image.from_dockerfile("nope/Dockerfile"))

        @app.function()
        def f() -> int:
            return 1
    """)
    assert any(f.rule == "FM217" and f.location.line == 3 for f in missing.findings)


def test_gpu_image_on_the_cuda_base(tmp_path: Path) -> None:
    spec = load(tmp_path, """
        import modal
        app = modal.App("g", image=modal.Image.debian_slim(python_version="3.12").pip_install("torch"))

        @app.function(gpu="A10G")
        def f() -> int:
            return 1
    """)
    # the renderer picks the CUDA base (a tag that exists) and installs the image's Python on it
    assert ((spec.image.base, spec.image.cuda, spec.image.cudnn, spec.image.python)
            == (None, "12.1.1", "8", "3.12"))
    assert dockerfile_steps(spec)[0] == "FROM nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04"
    registry = load(tmp_path, """
        import modal
        app = modal.App("g", image=modal.Image.from_registry("pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime"))

        @app.cls(gpu="H100:2")
        class M:
            @modal.method()
            def f(self) -> int:
                return 1
    """)
    assert (registry.image.base == "pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime"
            and registry.image.cuda is None)


def test_fal_attribute_clash_and_the_table_matches_fal(tmp_path: Path) -> None:
    import fal

    from falmigrate.importers.modal.mapping import FAL_APP_ATTRIBUTES

    public = {n for n in dir(fal.App) if not n.startswith("_")} - {"setup", "teardown"}
    assert public <= FAL_APP_ATTRIBUTES
    spec = load(tmp_path, """
        import modal
        app = modal.App("clash")

        @app.cls()
        class Svc:
            @modal.method()
            def health(self) -> str:
                return "ok"
    """)
    assert any(f.rule == "FM228" and "Svc.health" in f.message for f in spec.findings)


def test_web_server_on_a_fal_runner_port(tmp_path: Path) -> None:
    spec = load(tmp_path, """
        import subprocess
        import modal
        app = modal.App("ports")

        @app.function()
        @modal.web_server(8080)
        def serve():
            subprocess.Popen("python -m http.server 8080", shell=True)
    """)
    assert any(f.rule == "FM229" and f.severity == "warning" and "--native" in f.message
               for f in spec.findings)
    assert spec.server is not None and spec.server.port == 8080 and spec.server.kind == "web_server"


def test_a_late_workdir_is_written_once_at_its_place(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    spec = load(tmp_path, """
        import modal
        image = (
            modal.Image.debian_slim()
            .pip_install("rich")
            .run_commands("echo built > /marker")
            .workdir("/srv")
            .add_local_dir("assets", "assets")
        )
        app = modal.App("late", image=image)

        @app.function()
        def f() -> int:
            return 1
    """)
    steps = dockerfile_steps(spec)
    assert steps[1:] == [
        "RUN python3 -m pip install \\\n        rich",
        "RUN echo built > /marker",
        "WORKDIR /srv",
        "COPY assets assets",
        "COPY . /srv",
    ]
    assert spec.image.workdir_late is True


def test_private_registry_base_is_a_finding(tmp_path: Path) -> None:
    spec = load(tmp_path, """
        import modal
        creds = modal.Secret.from_name("registry")
        image = modal.Image.from_registry("ghcr.io/acme/base:1", secret=creds, add_python="3.12")
        app = modal.App("private", image=image)

        @app.function()
        def f() -> int:
            return 1
    """)
    [finding] = [f for f in spec.findings if f.rule == "FM235"]
    assert "ghcr.io/acme/base:1" in finding.message and finding.location.line == 4
    assert spec.image.base == "ghcr.io/acme/base:1"
    public = load(tmp_path, """
        import modal
        app = modal.App("public", image=modal.Image.from_registry("python:3.12-slim"))

        @app.function()
        def f() -> int:
            return 1
    """)
    assert "FM235" not in rules(public)


def test_build_step_secrets_and_gpu_are_findings(tmp_path: Path) -> None:
    spec = load(tmp_path, """
        import modal
        image = (
            modal.Image.debian_slim()
            .run_commands("pip download private-pkg", secrets=[modal.Secret.from_name("pypi")])
            .pip_install("flash-attn", gpu="A10G")
        )
        app = modal.App("steps", image=image)

        @app.function()
        def f() -> int:
            return 1
    """)
    found = sorted((f.location.line, "secrets" in f.message) for f in spec.findings if f.rule == "FM236")
    assert found == [(5, True), (6, False)]
