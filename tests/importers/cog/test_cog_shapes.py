"""Real-world cog shapes on small projects: --entry among several cog projects, function predictors,
trainers, cog's pre-0.1 API, and each finding these add — shown firing with its construct and silent
without it (the mutation), so none can pass by never firing."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from falmigrate.cli.app import app as cli_app
from falmigrate.convert import convert
from falmigrate.errors import SourceError, UsageError
from falmigrate.importers.base import ImportRequest
from falmigrate.importers.cog import CogImporter

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "cog"
YAML = 'build:\n  python_version: "3.11"\npredict: "predict.py:Predictor"\n'
PREDICT = """
from cog import BasePredictor, Input

class Predictor(BasePredictor):
    def predict(self, text: str = Input(default="hi")) -> str:
        return text
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    return root


def load(root: Path, entry: str | None = None):
    return CogImporter().load(root, ImportRequest(entry=entry))


def rules(spec) -> list[str]:
    return [f.rule for f in spec.findings]


# --- --entry -----------------------------------------------------------------------------------------

def test_several_cog_projects_need_entry_exit_2_listing_them(tmp_path: Path) -> None:
    src = FIXTURES / "multi_model" / "input"
    out = tmp_path / "out"
    result = CliRunner().invoke(cli_app, ["convert", str(src), "-o", str(out)])
    assert result.exit_code == 2
    assert ("models/captioner/cog.yaml, models/upscaler/cog.yaml" in result.output
            and "--entry" in result.output)
    assert not out.exists()
    chosen = CliRunner().invoke(cli_app,
                                ["convert", str(src), "-o", str(out), "--entry", "models/upscaler/cog.yaml"])
    assert chosen.exit_code == 0, chosen.output
    # the output is the chosen project's folder (cog's build context), nothing of the other project
    assert (out / "pixels.py").is_file() and (out / "weights" / "kernel.json").is_file()
    assert not (out / "models").exists() and not (out / "README.md").exists()


@pytest.mark.parametrize("entry, message", [
    ("models/nope/cog.yaml", "no such file"),
    ("models/upscaler/predict.py", "is not a file falmigrate converts"),
    ("README.md", "is not a file falmigrate converts"),
    ("../outside/cog.yaml", "no such file"),
])
def test_bad_entry_is_exit_2_naming_the_file(tmp_path: Path, entry: str, message: str) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(cli_app, ["convert", str(FIXTURES / "multi_model" / "input"), "-o", str(out),
                                          "--entry", entry])
    assert result.exit_code == 2 and message in result.output and entry in result.output
    assert not out.exists()


def test_the_importer_refuses_what_is_not_a_cog_config(tmp_path: Path) -> None:
    """convert checks --entry first; the importer checks again when called directly."""
    write(tmp_path, {"cog.yaml": YAML, "predict.py": PREDICT, "deploy/values.yaml": "replicas: 2\n"})
    with pytest.raises(UsageError, match="is not a cog config"):
        load(tmp_path, "deploy/values.yaml")
    with pytest.raises(UsageError, match="is not a cog.yaml"):
        load(tmp_path, "predict.py")


def test_the_root_cog_yaml_or_the_only_one_is_clearly_the_entry(tmp_path: Path) -> None:
    root = write(tmp_path / "a", {"cog.yaml": YAML, "predict.py": PREDICT, "sub/cog.yaml": YAML,
                                  "sub/predict.py": PREDICT})
    assert load(root).source.root == "."
    only = write(tmp_path / "b", {"models/m/cog.yaml": YAML, "models/m/predict.py": PREDICT})
    spec = load(only)
    assert spec.source.root == "models/m" and spec.source.entry_file == "predict.py"
    assert CogImporter().detect(only) > 0  # auto-detected although cog.yaml is not at the root


def test_errors_inside_a_sub_project_name_the_file_from_src(tmp_path: Path) -> None:
    root = write(tmp_path, {"models/m/cog.yaml": 'build:\n  gpu: maybe\npredict: "predict.py:Predictor"\n',
                            "models/m/predict.py": PREDICT})
    with pytest.raises(SourceError) as info:
        load(root, "models/m/cog.yaml")
    assert (info.value.file, info.value.line) == ("models/m/cog.yaml", 2)


def test_dockerfile_and_context_options_do_not_apply(tmp_path: Path) -> None:
    write(tmp_path, {"cog.yaml": YAML, "predict.py": PREDICT})
    with pytest.raises(UsageError, match="--dockerfile does not apply"):
        CogImporter().load(tmp_path, ImportRequest(dockerfile="Dockerfile"))


# --- function predictors, trainers, the old API ------------------------------------------------------

def test_function_predictor_becomes_an_app_class(tmp_path: Path) -> None:
    write(tmp_path, {"cog.yaml": 'build:\n  python_version: "3.11"\npredict: "predict.py:run"\n',
                     "predict.py": """
                         from cog import Input

                         def run(word: str = Input(default="x"), times: int = Input(default=2, ge=1)) -> str:
                             return word * times
                         """})
    spec = load(tmp_path)
    assert spec.class_name == "RunApp" and spec.details.class_name is None and spec.details.method == "run"
    code = convert(tmp_path, "cog").files["fal_app.py"]
    assert ("class RunApp(fal.App):" in code and '@fal.endpoint("/")' in code
            and "def run(self, request: RunInput)" in code)
    assert "from cog import" not in code and "import cog" not in code
    compile(code, "fal_app.py", "exec")


@pytest.mark.parametrize("trainer, rule", [
    ("from cog import Input, Path\n\ndef train(n: int = Input(default=1)) -> Path:\n    return Path('w')\n",
     "FM124"),
    # not a function
    ("class Trainer:\n    def train(self, n: int = 1) -> str:\n        return 'w'\n", "FM104"),
    ("def other(n: int = 1) -> str:\n    return 'w'\n", "FM104"),  # no function named train
    (None, "FM104"),  # the file is missing
])
def test_train_becomes_a_trainer_app_or_a_finding(tmp_path: Path, trainer: str | None, rule: str) -> None:
    files = {"cog.yaml": YAML + 'train: "train.py:train"\n', "predict.py": PREDICT}
    if trainer is not None:
        files["train.py"] = trainer
    spec = load(write(tmp_path, files))
    assert rule in rules(spec) and ({"FM124", "FM104"} - {rule}).isdisjoint(rules(spec))
    if rule == "FM124":
        (app,) = spec.more_apps
        assert app.class_name == "Trainer" and app.endpoints[0].path == "/train"
        assert app.scaling.request_timeout == 3600 and [v.fal_path for v in app.volumes] == ["/data"]
    else:
        assert not spec.more_apps


def test_without_train_there_is_no_trainer(tmp_path: Path) -> None:
    spec = load(write(tmp_path, {"cog.yaml": YAML, "predict.py": PREDICT}))
    assert not spec.more_apps and not {"FM104", "FM124"} & set(rules(spec))


@pytest.mark.parametrize("predict, construct", [
    ("import cog\n\nclass Predictor(cog.Predictor):\n    def predict(self, x):\n        return x\n",
     "`class Predictor(cog.Predictor)`"),
    (("import cog\nfrom cog import BasePredictor\n\nclass Predictor(BasePredictor):\n"
     "    @cog.input('x', type=str, default='a', help='x')\n    def predict(self, x):\n        return x\n"),
     "`@cog.input(…)` on predict()"),
])
def test_the_pre_0_1_api_is_refused_naming_the_construct(tmp_path: Path, predict: str,
                                                         construct: str) -> None:
    write(tmp_path, {"cog.yaml": YAML, "predict.py": predict})
    with pytest.raises(SourceError) as info:
        load(tmp_path)
    assert construct in info.value.message and "pre-0.1 API" in info.value.message
    assert (info.value.file == "predict.py" and info.value.line in (3, 5)
            and "BasePredictor" in info.value.hint)


# --- findings, each with and without its construct ---------------------------------------------------

def _with_predict(tmp_path: Path, body: str, *, yaml_text: str = YAML, extra: dict[str, str] | None = None):
    return load(write(tmp_path, {"cog.yaml": yaml_text, "predict.py": body, **(extra or {})}))


CUDA_PREDICT = """
from cog import BasePredictor, Input

class Predictor(BasePredictor):
    def setup(self):
        self.device = "cuda"

    def predict(self, text: str = Input(default="hi")) -> str:
        return text
"""


def test_fm121_cuda_in_the_code_without_build_gpu_chooses_a_gpu(tmp_path: Path) -> None:
    spec = _with_predict(tmp_path / "a", CUDA_PREDICT)
    (note,) = [f for f in spec.findings if f.rule == "FM121"]
    assert 'the device "cuda"' in note.message and note.location.file == "predict.py"
    assert spec.hardware.gpu and spec.hardware.machine_type == "GPU-A100" and "-devel-" in spec.image.base
    kept = _with_predict(tmp_path / "b", CUDA_PREDICT,
                         yaml_text=YAML.replace("build:\n", "build:\n  gpu: false\n"))
    assert "FM121" in rules(kept) and not kept.hardware.gpu  # cog.yaml said CPU: kept, with the warning
    quiet = _with_predict(tmp_path / "c", CUDA_PREDICT.replace('"cuda"', '"cpu"'))
    assert "FM121" not in rules(quiet) and not quiet.hardware.gpu
    torch_only = _with_predict(tmp_path / "d", PREDICT, yaml_text=YAML.replace(
        "build:\n", 'build:\n  python_packages: ["torch==2.3.1"]\n'))
    assert "FM121" not in rules(torch_only) and not torch_only.hardware.gpu  # torch alone runs on CPU too
    package = _with_predict(tmp_path / "e", PREDICT, yaml_text=YAML.replace(
        "build:\n", 'build:\n  python_packages: ["vllm==0.6.3"]\n'))
    assert "FM121" in rules(package) and package.hardware.gpu


ARGPARSE = """
import argparse
from cog import BasePredictor, Input

parser = argparse.ArgumentParser()
parser.add_argument("--scale", type=int, default=2)
ARGS = parser.parse_args()

def cli():
    return parser.parse_args()

class Predictor(BasePredictor):
    def predict(self, text: str = Input(default="hi")) -> str:
        return text * ARGS.scale

if __name__ == "__main__":
    print(parser.parse_args())
"""


def test_fm122_module_level_argparse_parses_an_empty_list(tmp_path: Path) -> None:
    root = write(tmp_path / "a", {"cog.yaml": YAML, "predict.py": ARGPARSE,
                                  "helpers.py": ("import argparse\nOPTS = "
                                                 "argparse.ArgumentParser().parse_known_args()\n")})
    spec = load(root)
    found = [f for f in spec.findings if f.rule == "FM122"]
    assert [(f.location.file, f.location.line) for f in found] == [("helpers.py", 2), ("predict.py", 7)]
    code = convert(root, "cog").files["fal_app.py"]
    assert "ARGS = parser.parse_args([])" in code  # module level: the parser's defaults, as under cog
    assert "    return parser.parse_args()" in code and "    print(parser.parse_args())" in code  # left alone
    quiet = _with_predict(tmp_path / "b",
                          ARGPARSE.replace("ARGS = parser.parse_args()", "ARGS = parser.parse_args([])"))
    assert "FM122" not in rules(quiet)


ENV_DEFAULT = """
import os
from cog import BasePredictor, Input

MODEL = os.environ.get("MODEL_NAME", "base")
LABEL = f"{MODEL}-v2"

class Predictor(BasePredictor):
    def predict(self, label: str = Input(default=LABEL),
                steps: int = Input(default=int(os.getenv("STEPS", "20")))) -> str:
        return label * steps
"""


def test_fm123_env_var_defaults_use_cog_yaml_then_the_literal(tmp_path: Path) -> None:
    spec = _with_predict(tmp_path / "a", ENV_DEFAULT,
                         yaml_text=YAML + 'environment:\n  - "MODEL_NAME=large"\n')
    label, steps = spec.endpoints[0].inputs
    assert (label.default, steps.default) == ("large-v2", 20)
    messages = [f.message for f in spec.findings if f.rule == "FM123"]
    assert any("MODEL_NAME ('large', set by cog.yaml" in m for m in messages)
    assert any("STEPS ('20', the read's literal default)" in m for m in messages)
    plain = _with_predict(tmp_path / "b",
                          ENV_DEFAULT.replace('os.environ.get("MODEL_NAME", "base")', '"base"')
                          .replace('int(os.getenv("STEPS", "20"))', "20"))
    assert "FM123" not in rules(plain) and plain.endpoints[0].inputs[0].default == "base-v2"


def test_fm126_work_at_import(tmp_path: Path) -> None:
    loads = PREDICT.replace("class Predictor",
                            'from transformers import AutoModel\nMODEL = AutoModel.from_pretrained("x")\n\n'
                            "class Predictor")
    spec = _with_predict(tmp_path / "a", loads)
    (note,) = [f for f in spec.findings if f.rule == "FM126"]
    assert "AutoModel.from_pretrained" in note.message and note.location.line == 5
    moved = PREDICT.replace("    def predict",
                            '    def setup(self):\n        self.m = AutoModel.from_pretrained("x")\n\n'
                            "    def predict")
    assert "FM126" not in rules(_with_predict(tmp_path / "b", moved))


def test_fm127_no_python_version(tmp_path: Path) -> None:
    spec = _with_predict(tmp_path / "a", PREDICT, yaml_text='predict: "predict.py:Predictor"\n')
    assert "FM127" in rules(spec) and spec.image.python == "3.13"
    assert "FM127" not in rules(_with_predict(tmp_path / "b", PREDICT))


def test_fm119_cog_layout_in_run_steps_and_scripts(tmp_path: Path) -> None:
    yaml_text = YAML.replace("build:\n", 'build:\n  run:\n    - "/root/.pyenv/shims/pip install x"\n')
    spec = _with_predict(tmp_path / "a", PREDICT, yaml_text=yaml_text,
                         extra={"scripts/serve.sh": "#!/bin/sh\npython -m cog.server.http\n"})
    found = sorted((f.location.file, f.location.line) for f in spec.findings if f.rule == "FM119")
    assert found == [("cog.yaml", 3), ("scripts/serve.sh", 2)]
    assert "FM119" not in rules(_with_predict(tmp_path / "b", PREDICT,
                                              extra={"scripts/serve.sh": "#!/bin/sh\necho ok\n"}))


@pytest.mark.parametrize("yaml_extra, required", [
    ("", True),  # no pin: the cog release the table mirrors (0.23) requires it
    ('  sdk_version: "0.16.9"\n', False),  # older cog made it optional
    ('  sdk_version: "0.16.9"\n  cog_runtime: true\n', True),  # the coglet runtime already required it
    ('  sdk_version: "0.20.0"\n', True),
])
def test_fm118_input_default_none_by_the_pinned_cog(tmp_path: Path, yaml_extra: str, required: bool) -> None:
    body = PREDICT.replace('text: str = Input(default="hi")', "text: str = Input(default=None)")
    spec = _with_predict(tmp_path, body, yaml_text=YAML.replace("build:\n", "build:\n" + yaml_extra))
    (field,) = spec.endpoints[0].inputs
    assert field.required is required and field.default is None
    (note,) = [f for f in spec.findings if f.rule == "FM118"]
    assert ("requires it" in note.message) is required


def test_run_steps_get_the_tools_they_call_before_them(tmp_path: Path) -> None:
    yaml_text = YAML.replace("build:\n", 'build:\n  run:\n    - "curl -fsSL https://example.com/x -o /x"\n'
                                          '    - "git clone https://example.com/r.git /r"\n')
    root = write(tmp_path / "a", {"cog.yaml": yaml_text, "predict.py": PREDICT})
    spec = load(root)
    assert spec.image.system_packages == ["curl", "ca-certificates", "git"]
    dockerfile = convert(root, "cog").files["Dockerfile"]
    assert dockerfile.index("        curl \\") < dockerfile.index("RUN curl -fsSL")
    plain = load(write(tmp_path / "b", {"cog.yaml": YAML, "predict.py": PREDICT}))
    assert plain.image.system_packages == []


def test_future_annotations_keep_a_json_request_body(tmp_path: Path) -> None:
    """The predictor module uses `from __future__ import annotations`: the endpoint's request model is still
    read from the annotation, so the body is JSON (not query parameters, which would answer 422)."""
    import subprocess
    import sys

    from falmigrate.convert import write_output

    out = tmp_path / "out"
    write_output(convert(FIXTURES / "future_annotations" / "input", "cog"), out)
    probe = ("import json, sys\nfrom falmigrate.verify import falside\n"
             "module = falside.load_module(sys.argv[1])\nwith "
             "falside.client(falside.pick_app(module)) as c:\n"
             "    body = c.get('/openapi.json').json()['paths']['/']['post']['requestBody']\n"
             "    answer = c.post('/', json={'text': 'One. Two two. Three three three.'})\n"
             "    print(json.dumps([sorted(body['content']), answer.status_code, answer.json()]))\n")
    proc = subprocess.run([sys.executable, "-c", probe, str(out / "fal_app.py")], cwd=out,
                          capture_output=True, text=True, timeout=120, check=True)
    content, status, answer = json.loads(proc.stdout.strip().splitlines()[-1])
    assert content == ["application/json"] and status == 200
    assert (answer["sentences"] == 2
            and "from __future__ import annotations" in (out / "fal_app.py").read_text())
