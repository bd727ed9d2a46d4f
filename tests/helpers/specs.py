"""Hand-built AppSpecs and a tiny matching project, for tests that must not depend on any importer."""

from __future__ import annotations

from pathlib import Path

from falmigrate.spec import (
    AppSpec,
    Decision,
    Endpoint,
    Finding,
    HardwareSpec,
    ImageSpec,
    InputField,
    Lifecycle,
    Location,
    RunStep,
    ScalingSpec,
    SecretMount,
    SourceInfo,
    TypeRef,
    VolumeSpec,
)

PREDICT_PY = '''\
class Predictor:
    def setup(self):
        self.suffix = "!"

    def predict(self, text, n=2):
        return (text * n) + self.suffix
'''


def echo_spec(**overrides) -> AppSpec:
    """A cog-like app: class Predictor in predict.py, setup(), predict(text, n) -> str."""
    data = {
        "name": "echo",
        "class_name": "EchoApp",
        "source": SourceInfo(platform="cog", root=".", entry_file="predict.py", entry_symbol="Predictor"),
        "endpoints": [Endpoint(handler="predict", inputs=[
            InputField(name="text", type=TypeRef(kind="str"), description="What to repeat", min_length=1,
                       location=Location(file="predict.py", line=5)),
            InputField(name="n", type=TypeRef(kind="int"), required=False, default=2, ge=1, le=5),
        ], output=TypeRef(kind="str"), examples=[{"text": "ab", "n": 3}])],
        "lifecycle": Lifecycle(setup="setup"),
    }
    data.update(overrides)
    return AppSpec(**data)


def full_spec() -> AppSpec:
    """Every part of the spec set: knobs, image, secrets, volumes, findings, decisions."""
    return echo_spec(
        scaling=ScalingSpec(keep_alive=300, min_concurrency=0, max_concurrency=4, max_multiplexing=2,
                            request_timeout=120, skip_retry_conditions=["timeout"]),
        hardware=HardwareSpec(machine_type="GPU-A100", num_gpus=1, gpu=True),
        image=ImageSpec(python="3.11", cuda="12.1", system_packages=["ffmpeg", "libgl1"],
                        python_requirements=["torch==2.3.0", "numpy>=1.26"],
                        requirements_file="requirements.txt",
                        run_steps=[RunStep(command="python3 -c 'print(1)'"),
                                   RunStep(command="echo token-needed",
                                           secrets=[SecretMount(id="HF_TOKEN")])],
                        env={"MODEL_DIR": "/weights", "GREETING": "hello world"}, exposed_port=8000),
        secrets=["HF_TOKEN"],
        volumes=[VolumeSpec(name="weights", source_path="/weights", fal_path="/data")],
        findings=[Finding(rule="FM103", severity="warning", message="weights downloaded at startup",
                          remediation="use fal.toolkit.download_model_weights",
                          location=Location(file="predict.py", line=7))],
        decisions=[Decision(source="cog.yaml build.gpu", target="machine_type GPU-A100",
                            location=Location(file="cog.yaml", line=2))],
    )


def write_project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "predict.py").write_text(PREDICT_PY)
    return root
