"""A patched worker Dockerfile still builds and runs on the real engine: the base swapped to the local
test base (through a pre-FROM ARG and a FROM <stage> chain), a volume path mapped, fal's check step
appended; every other line as the user wrote it (ARG-pinned version, a weights-downloader stage with
COPY --from, a venv on PATH via ${PATH}, a start.sh launcher)."""

from __future__ import annotations

import json
import uuid

import pytest

from falmigrate.build import engine, engine_build
from falmigrate.build.buildlog import BuildLog
from falmigrate.dockerfile import parse_text
from falmigrate.dockerfile.edits import append_to_final_stage, replace_base, rewrite_paths
from falmigrate.dockerfile.patch import apply_edits
from falmigrate.dockerfile.preflight import preflight

pytestmark = pytest.mark.engine

DOCKERFILE = """\
# RunPod worker: weights fetched in their own stage, a venv on PATH, started by start.sh
ARG BASE_IMAGE=nvidia/cuda:12.1.0-cudnn8-runtime-ubuntu22.04

FROM ${BASE_IMAGE} AS base
ENV PYTHONUNBUFFERED=1

FROM base AS downloader
ARG MODEL_REVISION=v1.2
WORKDIR /dl
COPY builder/fetch_weights.py .
RUN python3 fetch_weights.py --revision "${MODEL_REVISION}" --out /weights

FROM base AS runtime
ARG APP_VERSION=0.3.1
ENV VENV=/opt/venv \\
    WEIGHTS_CACHE=/runpod-volume/cache
RUN python3 -m venv ${VENV}
ENV PATH="${VENV}/bin:${PATH}"
WORKDIR /worker
COPY builder/requirements.txt .
RUN pip install --no-index -r requirements.txt && \\
    echo "${APP_VERSION}" > /worker/VERSION
COPY --from=downloader /weights /weights
COPY handler.py start.sh ./
RUN chmod +x start.sh
CMD ["./start.sh"]
"""

FILES = {
    "builder/fetch_weights.py": (
        "import argparse\nimport pathlib\n\nparser = argparse.ArgumentParser()\n"
        "parser.add_argument('--revision')\nparser.add_argument('--out')\nargs = parser.parse_args()\n"
        "out = pathlib.Path(args.out)\nout.mkdir(parents=True)\n"
        "(out / 'model.txt').write_text(f'weights {args.revision}')\n"),
    "builder/requirements.txt": "# the worker needs nothing beyond the standard library\n",
    "handler.py": (
        "import json\nimport os\nimport pathlib\nimport sys\n\n\ndef describe():\n    return {\n"
        "        'version': pathlib.Path('/worker/VERSION').read_text().strip(),\n"
        "        'weights': pathlib.Path('/weights/model.txt').read_text(),\n"
        "        'cache': os.environ['WEIGHTS_CACHE'],\n        'python': sys.prefix,\n    }\n\n\n"
        "if __name__ == '__main__':\n    print(json.dumps(describe()))\n"),
    "start.sh": "#!/bin/sh\nset -e\nexec python -u /worker/handler.py\n",
}
IMPORT_CHECK = ("RUN python -c \"import sys; sys.path.insert(0, '/worker'); import handler; "
                "print(handler.describe())\"")


def test_patched_worker_builds_and_runs(tmp_path, docker_client, docker_host, base_image):
    context = tmp_path / "worker"
    for rel, content in {"Dockerfile": DOCKERFILE, **FILES}.items():
        (context / rel).parent.mkdir(parents=True, exist_ok=True)
        (context / rel).write_text(content)
    model = parse_text(DOCKERFILE)
    edits = [
        replace_base(model, base_image, "the CUDA base cannot be pulled here: the local test base"),
        *rewrite_paths(model, {"/runpod-volume": "/data"}, "fal's persistent storage is mounted at /data"),
        append_to_final_stage(model, [IMPORT_CHECK], "the app imports in the image"),
    ]
    patched = apply_edits(DOCKERFILE, edits)
    assert [(e.action, e.line) for e in edits] == [("replace", 4), ("replace", 15), ("append", None)]
    changed = [(a, b) for a, b in zip(DOCKERFILE.splitlines(), patched.splitlines(), strict=False) if a != b]
    assert changed == [("FROM ${BASE_IMAGE} AS base", f"FROM {base_image} AS base"),
                       ("    WEIGHTS_CACHE=/runpod-volume/cache", "    WEIGHTS_CACHE=/data/cache")]
    files = {p.relative_to(context).as_posix() for p in context.rglob("*") if p.is_file()}
    assert preflight(patched, "Dockerfile", files) == []
    edited = tmp_path / "Dockerfile.patched"
    edited.write_text(patched)
    tag = f"dockerfiles-test/patched-worker:{uuid.uuid4().hex[:10]}"
    client = engine.connect(docker_host)
    image_id = engine_build.build_with_sdk(
        client, engine_build.BuildRequest(context=context, dockerfile=edited, tag=tag),
        BuildLog(lambda s: s, "Dockerfile"))
    try:
        output = docker_client.containers.run(image_id, remove=True).decode()
        assert json.loads(output) == {"version": "0.3.1", "weights": "weights v1.2", "cache": "/data/cache",
                                      "python": "/opt/venv"}
    finally:
        docker_client.images.remove(tag, force=True)
