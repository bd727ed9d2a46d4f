"""Building a converted Docker fixture on the test engine and probing the server its image runs.

Unreachable bases are swapped for local ones — in every stage, builder stages too (``falmigrate build
--base-image`` swaps the final stage's only): Python images for ``python-slim`` (the test base
with fal, plus what ``python:*-slim`` images have: ``python`` on PATH and a pip that installs system-wide),
Debian images for the plain test base. The engine has no bridge network, so the server container runs
without a network and a probe container joins its network namespace: it waits for the health path,
checks the server listens on all interfaces (``/proc/net/tcp*``), calls a route and reads an SSE stream.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
import tempfile
from pathlib import Path

from falmigrate.build import engine_build
from falmigrate.build.buildlog import BuildLog
from falmigrate.build.secrets import Secret
from falmigrate.dockerfile import parse_text
from falmigrate.dockerfile.patch import apply_edits
from falmigrate.spec import DockerfileEdit

PROBE = Path(__file__).with_name("probe_server.py")
# python:*-slim imports what ``pip install --prefix=/install`` + ``COPY --from=… /install /usr/local`` puts there;
# Debian's pip lays a prefix out as local/lib/pythonX.Y/dist-packages, so both spellings go on the path
_SLIM = ("ENV PIP_BREAK_SYSTEM_PACKAGES=1 PIP_DISABLE_PIP_VERSION_CHECK=1\n"
         "RUN ln -sf /usr/bin/python3 /usr/local/bin/python && python3 -c \"import pathlib, sys; "
         "v = '%d.%d' % sys.version_info[:2]; pathlib.Path('/usr/lib/python3/dist-packages/slim-site.pth')"
         ".write_text(f'/usr/local/lib/python{v}/site-packages\\\\n/usr/local/local/lib/python{v}/dist-packages\\\\n')\"\n")


def python_slim_base(client, base: str) -> str:
    """``base`` with what ``python:*-slim`` images have: ``python`` on PATH and a pip that installs into
    the system Python (made once per engine; the tag names the base it was made from)."""
    import docker.errors

    tag = "falmigrate-docker/python-slim-3:" + re.sub(r"[^a-z0-9]+", "-", base.lower()).strip("-")[-100:]
    key = hashlib.sha256(f"{client.api.base_url} {tag}".encode()).hexdigest()[:16]
    with (Path(tempfile.gettempdir()) / f"falmigrate-docker-base-{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            client.images.get(tag)
            return tag
        except docker.errors.ImageNotFound:
            pass
        with tempfile.TemporaryDirectory(prefix="fm-docker-base-") as tmp:
            (Path(tmp) / "Dockerfile").write_text(f"FROM {base}\n{_SLIM}")
            client.images.build(path=tmp, tag=tag, network_mode="none", rm=True)
    return tag


def swap_bases(text: str, base: str) -> str:
    """``text`` with every stage that starts from an outside image (builder stages too) on ``base``."""
    model = parse_text(text, check_references=False)
    edits = []
    for stage in model.stages:
        if stage.parent is None:
            source = stage.instructions[0].source
            swapped = source.replace(stage.base_as_written, base, 1)
            edits.append(DockerfileEdit(action="replace", line=stage.line, lines=swapped.rstrip("\n").split("\n"),
                                        reason="test base"))
    return apply_edits(text, edits)


def build(out: Path, base: str, docker_host: str, client, secrets: tuple[Secret, ...] = ()) -> str:
    """The output folder's image, every outside base swapped for ``base``; returns the image id."""
    with tempfile.TemporaryDirectory(prefix="fm-docker-build-") as tmp:
        dockerfile = Path(tmp) / "Dockerfile"
        dockerfile.write_text(swap_bases((out / "Dockerfile").read_text(), base))
        request = engine_build.BuildRequest(context=out, dockerfile=dockerfile, network_mode="host", secrets=secrets)
        log = BuildLog(lambda text: text, "Dockerfile")
        if secrets:
            return engine_build.build_with_cli(request, log, docker_host)
        return engine_build.build_with_sdk(client.api, request, log)


def probe(client, image_id: str, probe_image: str, plan: dict) -> dict:
    """Run the image as it is (its own ENTRYPOINT/CMD) and probe it; the probe's JSON report."""
    server = client.containers.run(image_id, detach=True, network_mode="none")
    try:
        output = client.containers.run(
            probe_image, ["python3", "-c", PROBE.read_text(), json.dumps(plan)], remove=True,
            network_mode=f"container:{server.id}", entrypoint=[])
        return json.loads(output.decode().strip().splitlines()[-1])
    except Exception as exc:  # the server's own log says why it did not come up
        raise AssertionError(f"{exc}\nserver log:\n{server.logs().decode(errors='replace')[-3000:]}") from exc
    finally:
        server.remove(force=True)
