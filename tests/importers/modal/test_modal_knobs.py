"""Modal keywords and decorator options: retries, secrets without named keys, web options, enter order,
volumes → data_mounts; the settings land in pyproject.toml, never as attributes of the converted class."""

from __future__ import annotations

import textwrap
import tomllib
from pathlib import Path

from falmigrate.convert import convert
from falmigrate.importers.modal import ModalImporter


def pyproject_app(files: dict[str, str], name: str) -> dict:
    """The ``[tool.fal.apps.<name>]`` table of the generated pyproject.toml."""
    return tomllib.loads(files["pyproject.toml"])["tool"]["fal"]["apps"][name]


def write(tmp_path: Path, code: str) -> Path:
    (tmp_path / "app.py").write_text(textwrap.dedent(code))
    return tmp_path


def test_retries_zero_turns_fal_retries_off_and_others_are_findings(tmp_path: Path) -> None:
    spec = ModalImporter().load(write(tmp_path, """
        import modal
        app = modal.App("r")

        @app.cls(retries=0)
        class A:
            @modal.method()
            def f(self) -> int:
                return 1

        @app.function(retries=modal.Retries(max_retries=3, backoff_coefficient=2.0))
        def g() -> int:
            return 2
    """))
    assert spec.scaling.skip_retry_conditions == ["timeout", "server_error", "connection_error"]
    assert any(d.source == "retries=0" for d in spec.decisions)
    [finding] = [f for f in spec.findings if f.rule == "FM205"]
    assert "modal.Retries(max_retries=3" in finding.message and finding.location.line == 11
    files = convert(tmp_path, "modal").files
    table = pyproject_app(files, "r")
    assert table["skip_retry_conditions"] == ["timeout", "server_error", "connection_error"]
    assert "skip_retry_conditions" not in files["fal_app.py"]


def test_secret_without_named_keys_leaves_secrets_unset(tmp_path: Path) -> None:
    write(tmp_path, """
        import modal
        app = modal.App("s")

        @app.function(secrets=[modal.Secret.from_name("hf", required_keys=["HF_TOKEN"]),
                               modal.Secret.from_name("openai")])
        def f() -> int:
            return 1

        @app.cls(secrets=[modal.Secret.from_name("hf", required_keys=["HF_TOKEN"])])
        class Known:
            @modal.method()
            def g(self) -> int:
                return 2
    """)
    result = convert(tmp_path, "modal")
    assert pyproject_app(result.files, "s")["secrets"] == ["HF_TOKEN"]  # Known: every key is named
    # an explicit list would hide the keys of 'openai' from the functions app: `secrets` stays unset
    assert "secrets" not in pyproject_app(result.files, "s-sapp")
    assert "secrets =" not in result.files["fal_app.py"]
    unnamed = [f for f in result.spec.findings if f.rule == "FM207" and "openai" in f.message]
    assert unnamed and unnamed[0].severity == "warning" and "pyproject.toml" in unnamed[0].message


def test_enter_snap_true_runs_first(tmp_path: Path) -> None:
    write(tmp_path, """
        import modal
        app = modal.App("snap")

        @app.cls(enable_memory_snapshot=True)
        class M:
            @modal.enter()
            def after(self):
                self.order.append("after")

            @modal.enter(snap=True)
            def before(self):
                self.order = ["before"]

            @modal.method()
            def f(self) -> list:
                return self.order
    """)
    result = convert(tmp_path, "modal")
    assert result.spec.lifecycle.setup == "M.before, M.after"
    code = result.files["fal_app.py"]
    assert code.index("self.before()") < code.index("self.after()")


def test_web_options_are_reported(tmp_path: Path) -> None:
    spec = ModalImporter().load(write(tmp_path, """
        import modal
        app = modal.App("web")

        @app.function()
        @modal.fastapi_endpoint(method="POST", docs=True, label="hello", requires_proxy_auth=True)
        def hello(name: str = "x") -> dict:
            return {"name": name}

        @app.function()
        @modal.asgi_app(custom_domains=["api.example.com"])
        def api():
            from fastapi import FastAPI
            return FastAPI()
    """))
    messages = [f.message for f in spec.findings if f.rule == "FM219"]
    assert any("docs=True" in m and "/docs" in m for m in messages)
    assert any("label='hello'" in m for m in messages)
    assert any("requires_proxy_auth=True" in m and "app_auth" in m for m in messages)
    assert any("custom_domains=['api.example.com']" in m for m in messages)
    assert not any("GET" in m for m in messages)  # method="POST" is what fal does


def test_volumes_become_data_mounts(tmp_path: Path) -> None:
    write(tmp_path, """
        import modal
        app = modal.App("v")
        vol = modal.Volume.from_name("weights")

        @app.function(volumes={"/w": vol, "/cache": modal.Volume.from_name("hf-cache")})
        def f() -> str:
            return open("/w/x").read()
    """)
    result = convert(tmp_path, "modal")
    code = result.files["fal_app.py"]
    assert pyproject_app(result.files, "v")["data_mounts"] == ["/data/hf-cache", "/data/weights"]
    assert 'open("/data/weights/x")' in code and "data_mounts =" not in code
    assert '`["/data/hf-cache", "/data/weights"]`' in result.files["MIGRATION.md"]


def test_secret_looking_env_is_never_baked_into_the_image(tmp_path: Path) -> None:
    write(tmp_path, """
        import modal
        image = modal.Image.debian_slim().env({"HF_TOKEN": "hf_not_copied_1", "MODE": "prod"})
        app = modal.App("env", image=image)

        @app.function(env={"OPENAI_API_KEY": "sk-not-copied-2", "LOG_LEVEL": "debug"})
        def f() -> int:
            return 1
    """)
    result = convert(tmp_path, "modal")
    written = "\n".join(result.files.values())
    assert "hf_not_copied_1" not in written and "sk-not-copied-2" not in written
    assert ('ENV MODE="prod"' in result.files["Dockerfile"]
            and 'ENV LOG_LEVEL="debug"' in result.files["Dockerfile"])
    assert sorted(result.spec.secrets) == ["HF_TOKEN", "OPENAI_API_KEY"]
    assert pyproject_app(result.files, "env")["secrets"] == ["HF_TOKEN", "OPENAI_API_KEY"]
    found = sorted((f.message.split()[2], f.location.line) for f in result.spec.findings if f.rule == "FM234")
    assert found == [("HF_TOKEN", 3), ("OPENAI_API_KEY", 6)]


def test_old_names_stub_web_endpoint_and_keywords(tmp_path: Path) -> None:
    write(tmp_path, """
        from modal import Image, Stub, web_endpoint

        stub = Stub("legacy", image=Image.debian_slim().copy_local_dir("assets", "/assets"))

        @stub.function(allow_concurrent_inputs=5, container_idle_timeout=100, keep_warm=1,
                       concurrency_limit=3)
        @web_endpoint()
        def hello(name: str = "x") -> dict:
            return {"hello": name}
    """)
    (tmp_path / "assets").mkdir()
    result = convert(tmp_path, "modal")
    spec = result.spec
    [endpoint] = spec.endpoints
    assert (endpoint.path, endpoint.handler, [f.name for f in endpoint.inputs]) == ("/", "hello", ["name"])
    s = spec.scaling
    assert (s.max_multiplexing, s.keep_alive, s.min_concurrency, s.max_concurrency) == (5, 100, 1, 3)
    # web_endpoint's default method
    assert any(f.rule == "FM219" and "GET" in f.message for f in spec.findings)
    assert [(c.src, c.dest) for c in spec.image.copies] == [("assets", "/assets")]
    code = result.files["fal_app.py"]
    assert "\nfrom modal" not in code and "@stub." not in code and "@web_endpoint" not in code
    assert '@fal.endpoint("/")' in code and "return hello(name=input.name)" in code
