"""The cog importer on small projects written by each test: spellings, mappings, and bad input
(a clear SourceError at file:line, or a Finding — never a crash, never a half-written output)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from falmigrate.cli.app import app as cli_app
from falmigrate.errors import SourceError
from falmigrate.importers.cog import CogImporter
from falmigrate.importers.cog.image import torch_version

PREDICT = """
from cog import BasePredictor, Input

class Predictor(BasePredictor):
    def predict(self, text: str = Input(default="hi")) -> str:
        return text
"""


def project(tmp_path: Path, yaml_text: str, files: dict[str, str] | None = None) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "cog.yaml").write_text(textwrap.dedent(yaml_text))
    for name, text in (files if files is not None else {"predict.py": PREDICT}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    return root


def rules(spec) -> set[str]:
    return {f.rule for f in spec.findings}


def test_invalid_yaml_points_at_the_line(tmp_path: Path) -> None:
    root = project(tmp_path,
                   'build:\n  python_version: "3.11"\n  gpu: [true\npredict: "predict.py:Predictor"\n')
    with pytest.raises(SourceError) as info:
        CogImporter().load(root)
    assert info.value.file == "cog.yaml" and info.value.line is not None and info.value.line >= 3
    assert "not valid YAML" in info.value.message


@pytest.mark.parametrize("ref, message", [
    ("missing.py:Predictor", "does not exist"),
    ("predict.py:Nope", "defines no top-level class or function Nope"),
])
def test_bad_predictor_reference_points_at_cog_yaml(tmp_path: Path, ref: str, message: str) -> None:
    root = project(tmp_path, f'build:\n  python_version: "3.11"\npredict: "{ref}"\n')
    with pytest.raises(SourceError) as info:
        CogImporter().load(root)
    assert (info.value.file, info.value.line) == ("cog.yaml", 3)
    assert message in info.value.message


def test_syntax_error_points_at_the_predictor_line(tmp_path: Path) -> None:
    root = project(tmp_path, 'predict: "predict.py:Predictor"\n',
                   {"predict.py": ("from cog import BasePredictor\n\nclass Predictor(BasePredictor):\n"
                                   "    def predict(self:\n")})
    with pytest.raises(SourceError) as info:
        CogImporter().load(root)
    assert info.value.file == "predict.py" and info.value.line == 4


def test_failed_conversion_writes_nothing(tmp_path: Path) -> None:
    root = project(tmp_path, 'predict: "predict.py:Missing"\n')
    out = tmp_path / "out"
    result = CliRunner().invoke(cli_app, ["convert", str(root), "-o", str(out), "--from", "cog"])
    assert result.exit_code == 2, result.output
    assert "cog.yaml:1" in result.output
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proj"]


def test_unsupported_types_are_findings_not_crashes(tmp_path: Path) -> None:
    predict = """
    import random
    from cog import BasePredictor, Input
    import numpy as np

    class Predictor(BasePredictor):
        def predict(self, arr: np.ndarray = Input(description="x"),
                    n: int = Input(default=random.randint(1, 3))) -> np.ndarray:
            return arr
    """
    spec = CogImporter().load(project(tmp_path, 'predict: "predict.py:Predictor"\n', {"predict.py": predict}))
    found = {f.rule: f for f in spec.findings}
    assert {"FM107", "FM108", "FM114"} <= set(found)
    assert found["FM107"].severity == "error" and found["FM107"].location.file == "predict.py"
    assert found["FM107"].location.line == 7
    arr, n = spec.endpoints[0].inputs
    assert arr.type.kind == "any" and n.required  # a default only known at run time cannot be kept


def test_both_spellings_and_runner_class(tmp_path: Path) -> None:
    runner = """
    from cog import BaseRunner, Input

    class Runner(BaseRunner):
        async def run(self, n: int = Input(default=1, ge=0, le=3)) -> int:
            return n
    """
    spec = CogImporter().load(project(tmp_path, 'run: "run.py:Runner"\n', {"run.py": runner}))
    endpoint = spec.endpoints[0]
    assert (spec.class_name, endpoint.handler, endpoint.is_async) == ("Runner", "Runner.run", True)
    assert (endpoint.inputs[0].ge, endpoint.inputs[0].le, endpoint.inputs[0].default) == (0, 3, 1)


def test_deprecated_unknown_and_info_keys(tmp_path: Path) -> None:
    spec = CogImporter().load(project(tmp_path, """\
        image: r8.im/me/my-model
        build:
          python_version: "3.10"
          python_packages: ["numpy==1.26.4"]
          pre_install: ["echo hi"]
          fancy_option: 1
        predict: "predict.py:Predictor"
        train: "train.py:train"
        mystery: true
        """))
    by_rule: dict[str, list] = {}
    for f in spec.findings:
        by_rule.setdefault(f.rule, []).append(f)
    assert len(by_rule["FM100"]) == 2 and all(f.severity == "warning" for f in by_rule["FM100"])
    assert {f.location.line for f in by_rule["FM101"]} == {6, 9}
    assert by_rule["FM104"][0].location.line == 8 and "FM106" in by_rule
    assert spec.name == "my-model" and spec.image.python == "3.10"
    assert [s.command for s in spec.image.run_steps] == ["echo hi"]
    assert spec.image.python_requirements == ["numpy==1.26.4"]


def test_concurrency_gpu_weights_and_secrets(tmp_path: Path) -> None:
    predict = """
    from typing import Optional
    from cog import BasePredictor, Input, Path, Secret

    class Predictor(BasePredictor):
        def setup(self, weights: Optional[Path] = None):
            self.w = weights

        async def predict(self, token: Secret = Input(description="t"),
                          image: Path = Input(description="i")) -> str:
            return "x"
    """
    spec = CogImporter().load(project(tmp_path, """\
        build:
          gpu: true
          python_requirements: requirements.txt
          run:
            - command: pip install private
              mounts:
                - type: secret
                  id: pip_token
                  target: /run/secrets/pip
        environment: ["A=1", "B=two=2", "HF_TOKEN=hf_abc123"]
        concurrency:
          max: 6
        predict: "predict.py:Predictor"
        """, {"predict.py": predict, "requirements.txt": "torch==2.4.1\n"}))
    assert spec.scaling.max_multiplexing == 6
    assert spec.hardware.machine_type == "GPU-A100" and spec.hardware.gpu
    assert spec.image.base == "nvidia/cuda:12.4.1-cudnn-devel-ubuntu22.04"  # newest CUDA torch 2.4 ships for
    assert spec.image.env == {"A": "1", "B": "two=2", "PIP_EXTRA_INDEX_URL": "https://download.pytorch.org/whl/cu124"}
    assert spec.secrets == ["HF_TOKEN"]
    assert "hf_abc123" not in spec.to_json()  # a secret's value never reaches the spec (or any output)
    assert spec.image.run_steps[0].secrets[0].id == "pip_token"
    assert spec.volumes and spec.volumes[0].fal_path == "/data" and spec.lifecycle.setup_takes_weights
    assert {"FM102", "FM103", "FM105", "FM111", "FM117"} <= rules(spec)
    token, image = spec.endpoints[0].inputs
    assert token.type.kind == "secret" and image.type.kind == "file" and image.required


@pytest.mark.parametrize("yaml_text, base, finding", [
    ('build:\n  gpu: true\n  cuda: "11.8"\n', "nvidia/cuda:11.8.0-cudnn8-devel-ubuntu22.04", None),
    ('build:\n  gpu: true\n', "nvidia/cuda:11.8.0-cudnn8-devel-ubuntu22.04", None),  # cog's default CUDA
    ('build:\n  gpu: true\n  cuda: "12.8"\n  python_version: "3.11"\n  python_packages: ["torch==2.1.2"]\n',
     "nvidia/cuda:12.8.1-cudnn-devel-ubuntu24.04", "FM113"),
    ('build:\n  gpu: true\n  python_version: "3.11"\n  python_packages: ["torch==2.0.1"]\n',
     "nvidia/cuda:11.8.0-cudnn8-devel-ubuntu22.04", None),
    ('build:\n  gpu: true\n  cuda: "11.3"\n', "nvidia/cuda:11.3.1-cudnn8-devel-ubuntu20.04", None),
    ('build:\n  gpu: true\n  cuda: "12.7"\n', "nvidia/cuda:12.6.3-cudnn-devel-ubuntu24.04", "FM113"),
])
def test_base_image_selection(tmp_path: Path, yaml_text: str, base: str, finding: str | None) -> None:
    spec = CogImporter().load(project(tmp_path, yaml_text + 'predict: "predict.py:Predictor"\n'))
    assert spec.image.base == base
    assert (finding in rules(spec)) if finding else "FM113" not in rules(spec)


def test_cpu_keeps_python_version_as_written(tmp_path: Path) -> None:
    spec = CogImporter().load(project(tmp_path,
                                      'build:\n  python_version: 3.10\npredict: "predict.py:Predictor"\n'))
    assert spec.image.python == "3.10" and spec.image.base == "python:3.10-slim-bookworm"
    assert spec.hardware.machine_type == "S"


def test_torch_pin_parsing() -> None:
    assert torch_version(["numpy", "torch==2.3.1+cu121  # gpu"]) == "2.3.1"
    assert torch_version(["torch == 2.1"]) == "2.1"
    assert torch_version(["torchvision==0.18"]) is None


@pytest.mark.parametrize("yaml_text, line", [
    ('build:\n  run: "echo no list"\npredict: "predict.py:Predictor"\n', 2),
    ('build:\n  run:\n    - command: x\n      mounts: [{type: ssh}]\npredict: "predict.py:Predictor"\n', 4),
    ('environment: {A: 1}\npredict: "predict.py:Predictor"\n', 1),
    ('build:\n  gpu: yes-please\npredict: "predict.py:Predictor"\n', 2),
    ('build:\n  python_version: "3.11"\n', None),
    ('- just\n- a list\n', 1),
])
def test_wrong_shapes_are_source_errors(tmp_path: Path, yaml_text: str, line: int | None) -> None:
    with pytest.raises(SourceError) as info:
        CogImporter().load(project(tmp_path, yaml_text))
    assert info.value.file == "cog.yaml" and info.value.line == line


def test_detect(tmp_path: Path) -> None:
    assert CogImporter().detect(project(tmp_path, 'predict: "predict.py:Predictor"\n')) == 1.0
    assert CogImporter().detect(tmp_path / "proj" / "nothing") == 0.0


def test_other_modules_importing_cog_get_cog_installed(tmp_path: Path) -> None:
    """Only the predictor module is rewritten: other modules that import cog (helpers, the trainer module)
    run as they are, so the image installs cog; each gets an info finding at its line."""
    root = project(tmp_path, 'predict: "predict.py:Predictor"\ntrain: "train.py:train"\n', {
        "predict.py": PREDICT,
        "helpers/io.py": "import os\n\nfrom cog import Path\n",
        "train.py": "from cog import Input\n",
        "plain.py": "# import cog is only mentioned in a comment\nimport os\n",
    })
    spec = CogImporter().load(root)
    found = [f for f in spec.findings if f.rule == "FM109"]
    assert [(f.location.file, f.location.line, f.severity) for f in found] == [("helpers/io.py", 3, "info"),
                                                                             ("train.py", 1, "info")]
    assert "the image installs cog==0.23.1" in found[0].message
    assert "cog==0.23.1" in spec.image.python_requirements
    assert "FM104" in rules(spec)  # train.py defines no train function: not migrated


def test_no_cog_in_the_image_when_nothing_kept_imports_it(tmp_path: Path) -> None:
    spec = CogImporter().load(project(tmp_path, 'predict: "predict.py:Predictor"\n'))
    assert not any(r.startswith("cog") for r in spec.image.python_requirements) and "FM109" not in rules(spec)


@pytest.mark.parametrize("yaml_text, index", [
    ('build:\n  python_packages: ["torch==2.3.1", "numpy"]\n', "https://download.pytorch.org/whl/cpu"),
    ('build:\n  gpu: true\n  cuda: "11.8"\n  python_packages: ["torch==2.1.2"]\n',
     "https://download.pytorch.org/whl/cu118"),
    ('build:\n  gpu: true\n  python_packages: ["torch==2.8.0"]\n', "https://download.pytorch.org/whl/cu129"),
    # CUDA 12.8 has no torch 2.1.2 build: cog installs the newest one below it (cu121) and warns (FM113)
    ('build:\n  gpu: true\n  cuda: "12.8"\n  python_packages: ["torch==2.1.2"]\n', "https://download.pytorch.org/whl/cu121"),
    # no build at or below 11.3
    ('build:\n  gpu: true\n  cuda: "11.3"\n  python_packages: ["torch==2.4.1"]\n', None),
    ('build:\n  python_packages: ["torch"]\n', None),  # not pinned
    ('build:\n  python_packages: ["torch==2.3.1"]\nenvironment: ["PIP_EXTRA_INDEX_URL=https://mirror.example/simple"]\n',
     "https://mirror.example/simple"),  # the user's own index wins
])
def test_pinned_torch_comes_from_the_pytorch_index_like_cog(tmp_path: Path, yaml_text: str,
                                                            index: str | None) -> None:
    root = project(tmp_path, yaml_text + 'predict: "predict.py:Predictor"\n')
    spec = CogImporter().load(root)
    assert spec.image.env.get("PIP_EXTRA_INDEX_URL") == index
    if index:
        from falmigrate.convert import convert

        dockerfile = convert(root, "cog").files["Dockerfile"]
        assert dockerfile.index(f'ENV PIP_EXTRA_INDEX_URL="{index}"') < dockerfile.index("pip install")


@pytest.mark.parametrize("ref, classes, expected", [
    ("predict.py", ["Predictor"], "Predictor"),
    ("predict.py", ["Predictor", "Runner"], "Runner"),  # cog's loader prefers Runner
    ("predict.py", ["Model"], None),
])
def test_reference_without_a_class_picks_like_cogs_loader(tmp_path: Path, ref: str, classes: list[str],
                                                           expected: str | None) -> None:
    body = "from cog import BasePredictor\n" + "".join(
        f"\n\nclass {c}(BasePredictor):\n    def predict(self, x: int = 1) -> int:\n        return x\n"
        for c in classes)
    root = project(tmp_path, f'predict: "{ref}"\n', {"predict.py": body})
    if expected is None:
        with pytest.raises(SourceError) as info:
            CogImporter().load(root)
        assert ((info.value.file, info.value.line) == ("cog.yaml", 1)
                and "neither Runner nor Predictor" in info.value.message)
        return
    spec = CogImporter().load(root)
    assert spec.class_name == expected and spec.decisions[0].source == f'predict: "{ref}"'


def test_gpu_image_gets_build_python_version_like_cog(tmp_path: Path) -> None:
    """cog installs build.python_version on its CUDA base; so does the Dockerfile (uv), and fal needs it:
    the image's Python minor version must match the one `fal deploy` runs with."""
    from falmigrate.convert import convert

    root = project(tmp_path,
                   'build:\n  gpu: true\n  python_version: "3.12"\npredict: "predict.py:Predictor"\n')
    spec = CogImporter().load(root)
    assert spec.image.python == "3.12" and spec.image.base.startswith("nvidia/cuda:")
    assert "python3" not in spec.image.system_packages and "FM112" not in rules(spec)
    dockerfile = convert(root, "cog").files["Dockerfile"]
    assert "uv venv --seed --python 3.12 /opt/venv" in dockerfile
    assert dockerfile.index("uv venv") < dockerfile.index("COPY . /src")


def test_torch_without_wheels_for_the_python_is_a_finding(tmp_path: Path) -> None:
    spec = CogImporter().load(project(tmp_path,
                                      'build:\n  python_version: "3.13"\n  '
                                      'python_packages: ["torch==2.1.2"]\n'
                                      'predict: "predict.py:Predictor"\n'))
    finding = next(f for f in spec.findings if f.rule == "FM113")
    assert finding.location.line == 2 and "Python 3.13" in finding.message
