"""A converted Modal image chain built by the real Docker engine runs its steps in the chain's order:
env before a run step, a copy=True file before the step that reads it, a later env/workdir only after.
A busybox base (the steps only need a shell) replaces the FROM: fast, and no network."""

from __future__ import annotations

import re
import textwrap
import uuid
from pathlib import Path

import pytest

from falmigrate.convert import convert, write_output

pytestmark = [pytest.mark.engine, pytest.mark.slow]

APP = '''
import modal

image = (
    modal.Image.debian_slim(python_version="3.11")
    .env({"STAGE": "one"})
    .run_commands("echo env=$STAGE > /order.txt")
    .add_local_file("data.txt", "/opt/data.txt", copy=True)
    .run_commands("cat /opt/data.txt >> /order.txt")
    .env({"STAGE": "two"})
    .workdir("/srv")
    .run_commands("echo env=$STAGE cwd=$(pwd) >> /order.txt")
    .dockerfile_commands("RUN echo raw >> /order.txt")
)
app = modal.App("order", image=image)


@app.function()
def f() -> str:
    return open("/order.txt").read()
'''


def test_chain_order_holds_in_the_built_image(tmp_path: Path, docker_client, tiny_image) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "app.py").write_text(textwrap.dedent(APP))
    (src / "data.txt").write_text("copied-before-run\n")
    out = tmp_path / "out"
    write_output(convert(src, "modal"), out)
    dockerfile = out / "Dockerfile"
    text = dockerfile.read_text()
    assert "\nFROM python:3.11-slim-bookworm\n" in text
    text = text.replace("\nFROM python:3.11-slim-bookworm\n", f"\nFROM {tiny_image}\n")
    # The renderer's fal-runtime step (curl + `pip install fal`) needs the network and is not what
    # this test checks; the chain's own steps need none.
    text = re.sub(r"\nRUN command -v curl[^\n]*\\\n[^\n]*\n", "\n", text)
    text = re.sub(r"\nRUN python3 -m pip install fal==[^\n]*\n", "\n", text)
    text = re.sub(r"\nRUN python3 -c \"import pathlib, site[^\n]*\n", "\n", text)
    dockerfile.write_text(text)
    tag = f"falmigrate-test/modal-order:{uuid.uuid4().hex[:10]}"
    docker_client.images.build(path=str(out), tag=tag, rm=True, forcerm=True, network_mode="host")
    try:
        logs = docker_client.containers.run(tag, ["sh", "-c", "cat /order.txt; pwd; ls"], remove=True)
    finally:
        docker_client.images.remove(tag, force=True)
    lines = logs.decode().splitlines()
    assert lines[:5] == ["env=one", "copied-before-run", "env=two cwd=/srv", "raw", "/srv"]
    assert "fal_app.py" in lines[5:]  # the project is copied into the last workdir
