"""File outputs typed fal Image or File, choices from module constants, and the Dockerfile in cog's
layer order — on small projects written by each test, plus the image fixture called offline."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from falmigrate.convert import convert, write_output
from falmigrate.importers.cog import CogImporter

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "cog"


def project(tmp_path: Path, predict: str, yaml_text: str = 'predict: "predict.py:Predictor"\n') -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "cog.yaml").write_text(textwrap.dedent(yaml_text))
    (root / "predict.py").write_text(textwrap.dedent(predict))
    return root


def predictor(returns: str, body: str, extra: str = "") -> str:
    return ("from typing import Iterator, List\nfrom cog import BaseModel, BasePredictor, "
            f"Input, Path\n{extra}\n\nclass Predictor(BasePredictor):\n    def predict(self, n: int = "
            f"Input(default=1)) -> {returns}:\n"
            + textwrap.indent(textwrap.dedent(body), "        "))


@pytest.mark.parametrize("returns, body, expected", [
    ("Path", 'return Path("/tmp/out.png")\n', "image"),
    ("Path", 'out = f"/tmp/{n}.webp"\nreturn Path(out)\n', "image"),
    ("Path", 'img.save("/tmp/x", format="PNG")\nreturn Path("/tmp/x")\n', "image"),
    ("Path", 'return Path("/tmp/out.wav")\n', "file"),
    ("Path", 'Path("/tmp/log.txt").write_text("x")\nreturn Path("/tmp/out.png")\n', "file"),
    ("Path", "return Path(some_path)\n", "file"),
    ("List[Path]", 'return [Path(f"/tmp/{i}.jpg") for i in range(n)]\n', "list[image]"),
    ("Iterator[Path]", 'yield Path("/tmp/a.jpeg")\n', "image"),
    ("str", 'return "out.png"\n', "str"),
])
def test_file_outputs_are_images_when_predict_names_only_image_files(
        tmp_path: Path, returns: str, body: str, expected: str) -> None:
    spec = CogImporter().load(project(tmp_path, predictor(returns, body)))
    assert str(spec.endpoints[0].output) == expected
    row = next(d for d in spec.decisions if d.source.startswith("output"))
    if "image" in expected:
        assert "Image" in row.target and "names only image files" in (row.note or "")
    elif "file" in expected:
        assert "File" in row.target and "would make it an `Image`" in (row.note or "")


def test_model_output_fields_become_images(tmp_path: Path) -> None:
    extra = "\n\nclass Output(BaseModel):\n    image: Path\n    masks: List[Path]\n    caption: str\n"
    spec = CogImporter().load(project(tmp_path, predictor("Output", 'return Output(image=Path("a.png"), '
                                                          'masks=[], caption="c")\n', extra)))
    fields = {f.name: str(f.type) for f in spec.endpoints[0].output.fields}
    assert fields == {"image": "image", "masks": "list[image]", "caption": "str"}


def test_pil_image_name_is_kept_and_fal_image_aliased(tmp_path: Path) -> None:
    """`from PIL import Image` in the predictor: fal's Image is imported as FalImage, PIL's stays."""
    extra = "from PIL import Image\n"
    body = 'img = Image.new("RGB", (n, n))\nimg.save("/tmp/o.png")\nreturn Path("/tmp/o.png")\n'
    result = convert(project(tmp_path, predictor("Path", body, extra)), "cog")
    code = result.files["fal_app.py"]
    assert "from PIL import Image\n" in code
    assert re.search(r"^from fal\.toolkit import .*\bImage as FalImage\b", code, re.MULTILINE)
    assert "    output: FalImage\n" in code and "FalImage.from_path(" in code
    assert 'img = Image.new("RGB", (n, n))' in code  # the user's code still means PIL
    compile(code, "fal_app.py", "exec")


def test_image_fixture_answers_an_image_offline(tmp_path: Path) -> None:
    """The image fixture's app, called through fal's ASGI app: an Image response (image/png, the PNG's
    bytes) and a schema fal's playground shows as a picture."""
    out = tmp_path / "out"
    write_output(convert(FIXTURES / "image_output" / "input", "cog"), out)
    probe = (
        "import base64, json, sys\n"
        "from falmigrate.verify import falside\n"
        "falside.use_in_memory_files()\n"
        "module = falside.load_module(sys.argv[1])\n"
        "print('SCHEMA=' + json.dumps(module.PredictOutput.model_json_schema()))\n"
        "with falside.client(falside.pick_app(module)) as c:\n"
        "    body = c.post('/', json={'width': 3, 'height': 2}).json()['output']\n"
        "    print('TYPE=' + body['content_type'])\n"
        "    print('MAGIC=' + base64.b64decode(body['url'].split(',', 1)[1])[:8].hex())\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe, str(out / "fal_app.py")], cwd=out,
                          capture_output=True, text=True, timeout=120, check=True)
    found = dict(line.split("=", 1) for line in proc.stdout.splitlines()
                 if line[:6] in ("SCHEMA", "TYPE=i", "MAGIC="))
    schema, content_type, magic = json.loads(found["SCHEMA"]), found["TYPE"], found["MAGIC"]
    assert schema["$defs"]["Image"]["ui"]["field"] == "image"
    assert content_type == "image/png" and magic == "89504e470d0a1a0a"


@pytest.mark.parametrize("choices, expected", [
    ("list(COLORS)", ["red", "blue"]),
    ("COLORS.keys()", ["red", "blue"]),
    ("sorted(NAMES)", ["a", "b"]),
    ("NAMES", ["b", "a"]),
])
def test_choices_from_module_constants(tmp_path: Path, choices: str, expected: list[str]) -> None:
    predict = f"""
    from cog import BasePredictor, Input

    COLORS = {{"red": 1, "blue": 2}}
    NAMES = ("b", "a")

    class Predictor(BasePredictor):
        def predict(self, c: str = Input(default={expected[0]!r}, choices={choices})) -> str:
            return c
    """
    spec = CogImporter().load(project(tmp_path, predict))
    assert spec.endpoints[0].inputs[0].type.choices == expected
    assert "FM114" not in {f.rule for f in spec.findings}


def test_choices_from_a_call_stay_a_finding(tmp_path: Path) -> None:
    predict = """
    from cog import BasePredictor, Input

    class Predictor(BasePredictor):
        def predict(self, c: str = Input(default="a", choices=load_choices())) -> str:
            return c
    """
    spec = CogImporter().load(project(tmp_path, predict))
    finding = next(f for f in spec.findings if f.rule == "FM114")
    assert finding.location.line == 5 and "choices" in finding.message


def test_dockerfile_follows_cogs_layer_order(tmp_path: Path) -> None:
    """cog's generator: ENV (environment) right after FROM, apt, pip, build.run, then pre_install,
    WORKDIR /src, and the code copied last."""
    yaml_text = """\
        build:
          python_version: "3.11"
          system_packages: ["git"]
          python_packages: ["requests==2.32.3"]
          pre_install: ["echo pre"]
          run:
            - "echo first"
            - command: "echo second"
              mounts: [{type: secret, id: tok, target: /run/secrets/tok}]
        environment: ["MODEL=x"]
        predict: "predict.py:Predictor"
        """
    root = project(tmp_path, predictor("str", 'return "x"\n'), yaml_text)
    lines = [line for line in convert(root, "cog").files["Dockerfile"].splitlines()
             if line and not line.startswith(("#", " "))]
    order = ['ENV MODEL="x"', "RUN apt-get update", "RUN python3 -m pip install", "RUN echo first",
             "RUN --mount=type=secret,id=tok,target=/run/secrets/tok echo second", "RUN echo pre",
             "WORKDIR /src"]
    positions = [next(i for i, line in enumerate(lines) if line.startswith(step)) for step in order]
    assert positions == sorted(positions), lines
    assert lines[-1] == "COPY . /src"


def test_weights_entries_are_copied_to_their_targets(tmp_path: Path) -> None:
    yaml_text = """\
        predict: "predict.py:Predictor"
        weights:
          - source: weights/model.bin
            target: /src/weights/model.bin
          - source: ./weights/vae.bin
            target: /models/vae.bin
          - source: weights/tok.json
        """
    root = project(tmp_path, predictor("str", 'return "x"\n'), yaml_text)
    spec = CogImporter().load(root)
    assert [(c.src, c.dest) for c in spec.image.copies] == [("weights/vae.bin", "/models/vae.bin")]
    finding = next(f for f in spec.findings if f.rule == "FM103")
    assert finding.location.line == 2 and "`weights:` (3 file(s))" in finding.message
    assert spec.volumes[0].fal_path == "/data"
    dockerfile = convert(root, "cog").files["Dockerfile"]
    assert dockerfile.index("COPY weights/vae.bin /models/vae.bin") < dockerfile.index("COPY . /src")


def test_weights_of_the_wrong_shape_are_a_source_error(tmp_path: Path) -> None:
    from falmigrate.errors import SourceError

    root = project(tmp_path, predictor("str", 'return "x"\n'),
                   'predict: "predict.py:Predictor"\nweights: w.bin\n')
    with pytest.raises(SourceError) as info:
        CogImporter().load(root)
    assert (info.value.file, info.value.line) == ("cog.yaml", 2)


def test_choices_from_the_keys_of_a_dict_of_classes(tmp_path: Path) -> None:
    """cog-sdxl's pattern: SCHEDULERS = {"DDIM": DDIMScheduler, …}; Input(choices=SCHEDULERS.keys())."""
    predict = """
    from cog import BasePredictor, Input

    class DDIM: ...
    class Euler: ...

    SCHEDULERS = {"DDIM": DDIM, "K_EULER": Euler}

    class Predictor(BasePredictor):
        def predict(self, scheduler: str = Input(choices=SCHEDULERS.keys(), default="K_EULER")) -> str:
            return scheduler
    """
    spec = CogImporter().load(project(tmp_path, predict))
    assert spec.endpoints[0].inputs[0].type.choices == ["DDIM", "K_EULER"]


def test_input_default_none_on_a_plain_type_is_required_with_a_finding(tmp_path: Path) -> None:
    predict = """
    from typing import Optional
    from cog import BasePredictor, Input

    class Predictor(BasePredictor):
        def predict(self, seed: int = Input(description="Random seed", default=None),
                    other: Optional[int] = Input(default=None)) -> str:
            return f"{seed}{other}"
    """
    spec = CogImporter().load(project(tmp_path, predict))
    seed, other = spec.endpoints[0].inputs
    assert seed.required and not other.required
    finding = next(f for f in spec.findings if f.rule == "FM118")
    assert "`seed`" in finding.message and finding.location.line == 6
    assert sum(f.rule == "FM118" for f in spec.findings) == 1
