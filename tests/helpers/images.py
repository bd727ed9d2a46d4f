"""Build a converted fixture's image on the test engine and check it the way fal would run it.

- ``build_output``: ``falmigrate build``'s engine stage on OUT, with the final stage's base swapped for
  the local fal-ready test base (``--base-image``) and other images the engine cannot pull (the uv image
  of CUDA bases) replaced by local stand-ins (``--replace-image``); RUN steps reach PyPI/apt through the
  host network.
- ``entry_point_results``: inside the image, from cwd ``/`` and with no PYTHONPATH, what fal's runner
  does: import ``fal_app`` by name (the image's .pth makes it importable), build each app's ASGI app
  and call its endpoints (``falmigrate.verify.worker image``, the package mounted read-only).
- ``server_results``: the image's own CMD/ENTRYPOINT started without a network; a second container in
  its network namespace (``server_probe.py``, stdlib only) waits for the health path and sends the cases.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from falmigrate.build.pipeline import BuildOptions, build_image
from falmigrate.build.secrets import Redactor, Secret
from falmigrate.dockerfile import parse_text
from falmigrate.render.dockerfile import UV_IMAGE
from falmigrate.spec import AppSpec, ServedApp
from falmigrate.verify.normalize import normalize
from tests.helpers.build_once import build_once

REPO = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).with_name("server_probe.py")
CHECK_ROOT = "/opt/falmigrate-check"


def ensure_uv_image(client) -> str:
    """A local stand-in for the uv image generated Dockerfiles copy uv from: the same uv release's
    binaries, from its PyPI wheel, at the image's paths (/uv, /uvx)."""
    version = UV_IMAGE.rsplit(":", 1)[1]

    def make(context: Path) -> None:
        wheels = context / "wheel"
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", f"uv=={version}", "--no-deps",
                        "--only-binary=:all:", "-d", str(wheels)], check=True, capture_output=True)
        with zipfile.ZipFile(next(wheels.glob("*.whl"))) as wheel:
            for name in ("uv", "uvx"):
                (context / name).write_bytes(wheel.read(f"uv-{version}.data/scripts/{name}"))
                (context / name).chmod(0o755)
        (context / "Dockerfile").write_text("FROM scratch\nCOPY uv uvx /\n")

    return build_once(client, f"falmigrate-test/uv:{version}", make)


# What python:*-slim images have and the Debian test bases lack: ``python`` on PATH, a pip that installs into
# the system Python, and site-packages under /usr/local (where ``pip install --prefix=/install`` + ``COPY
# --from=… /install /usr/local`` put them;
# Debian's pip lays a prefix out as local/lib/pythonX.Y/dist-packages)
_PYTHON_SLIM = ("ENV PIP_BREAK_SYSTEM_PACKAGES=1 PIP_DISABLE_PIP_VERSION_CHECK=1\n"
                "RUN ln -sf /usr/bin/python3 /usr/local/bin/python && python3 -c \"import pathlib, sys; "
                "v = '%d.%d' % sys.version_info[:2]; "
                "pathlib.Path('/usr/lib/python3/dist-packages/slim-site.pth')"
                ".write_text(f'/usr/local/lib/python{v}/site-packages\\\\n/usr/local/local/lib/python{v}/"
                "dist-packages\\\\n')\"\n")


def python_slim(client, base: str) -> str:
    """``base`` made to behave like a ``python:*-slim`` image (for users' Dockerfiles built on one)."""
    tag = "falmigrate-test/python-slim:" + re.sub(r"[^a-z0-9]+", "-", base.lower()).strip("-")[-100:]

    def make(context: Path) -> None:
        (context / "Dockerfile").write_text(f"FROM {base}\n{_PYTHON_SLIM}")

    return build_once(client, tag, make)


def _secret_stand_ins(spec: AppSpec, secrets_dir: Path) -> dict[str, Any]:
    """A stand-in value for each build secret (``RUN --mount=type=secret``); a secret makes it a BuildKit
    build through the docker CLI, which must reach the same engine."""
    ids = sorted({*spec.image.build_secrets, *(s.id for step in spec.image.run_steps for s in step.secrets)})
    secrets = []
    for secret in ids:
        (secrets_dir / secret).write_text("not-a-real-secret")
        secrets.append(Secret(id=secret, src=secrets_dir / secret))
    return ({"secrets": tuple(secrets),
             "docker_host": os.environ.get("FALMIGRATE_TEST_DOCKER_HOST")} if ids else {})


def _user_dockerfile(client, out: Path, spec: AppSpec, fal_base: str, plain_base: str) -> dict[str, Any]:
    """Build options for a user's own Dockerfile (kept, patched): every outside base — builder stages too
    — on the test base (one with fal for entry-point apps, whose pip would otherwise skip what fal already
    brings), Python images as python-slim look-alikes."""
    model = parse_text((out / "Dockerfile").read_text(), check_references=False)
    entry_point = any(app.route == "entry_point" for app in spec.served_apps())
    python = python_slim(client, fal_base if entry_point else plain_base)
    mapping = {stage.base_as_written: python
               if "python" in stage.base.lower() or "python" in (spec.image.base or "")
               else plain_base for stage in model.stages if stage.parent is None}
    return {"replace_images": {**mapping, UV_IMAGE: ensure_uv_image(client)}}


def _generated_dockerfile(client, out: Path, fal_base: str, plain_base: str | None) -> dict[str, Any]:
    """Build options for a generated Dockerfile: its final base swapped for the fal test base, the outside
    bases of its build stages (a Modal ``from_dockerfile``'s builder) for python-slim look-alikes."""
    model = parse_text((out / "Dockerfile").read_text(), check_references=False)
    final = model.final
    builders = {stage.base_as_written for stage in model.stages
                if stage.parent is None and stage is not final}
    stand_in = python_slim(client, plain_base or fal_base)
    return {"base_image": fal_base,
            "replace_images": {**{b: stand_in for b in builders}, UV_IMAGE: ensure_uv_image(client)}}


_UV_PYTHON = re.compile(r"(uv venv --seed --python )(\d+\.\d+)")


def _python_the_base_has(out: Path) -> None:
    """python-build-standalone (uv's Python downloads) is not reachable from this machine: a uv line asking
    for another Python than the test base's 3.11 gets the base's, as swapping the base does for every
    image that names its Python through its base tag."""
    dockerfile = out / "Dockerfile"
    dockerfile.write_text(_UV_PYTHON.sub(lambda m: m.group(1) + "3.11", dockerfile.read_text()))


def build_output(client, out: Path, base: str, tag: str, *, spec: AppSpec | None = None,
                 plain_base: str | None = None) -> str:
    """The image of OUT/Dockerfile, built by falmigrate's own engine stage; its id. ``spec`` + ``plain_base``:
    a user's own Dockerfile (``spec.image.dockerfile``) gets its bases swapped the way it needs."""
    _python_the_base_has(out)
    with tempfile.TemporaryDirectory(prefix="fm-image-secrets-") as tmp:
        extra = _secret_stand_ins(spec, Path(tmp)) if spec is not None else {}
        if spec is not None and spec.image.dockerfile is not None and plain_base is not None:
            extra |= _user_dockerfile(client, out, spec, base, plain_base)
        else:
            extra |= _generated_dockerfile(client, out, base, plain_base)
        options = BuildOptions(directory=out, tag=tag, network="host", **extra)
        image_id, _ = build_image(client.api, options, Redactor([]))
    return image_id


def entry_point_results(client, image: str, spec: AppSpec, cases: list[dict[str, Any]]) -> list[Any]:
    """The cases answered inside ``image`` by ``fal_app`` imported as fal's runner imports it."""
    with tempfile.TemporaryDirectory(prefix="fm-inimage-") as tmp:
        work = Path(tmp)
        (work / "spec.json").write_text(spec.to_json())
        (work / "cases.json").write_text(json.dumps(cases))
        script = (f"import sys; sys.path.append({CHECK_ROOT!r}); from falmigrate.verify.worker import main; "
                  "main(['image', '/', '/check/spec.json', '/check/cases.json', '/check/result.json'])")
        client.containers.run(
            image, ["python3", "-c", script], working_dir="/", network_mode="none", remove=True,
            entrypoint=[], environment={"PYTHONPATH": ""},
            volumes={str(REPO / "falmigrate"): {"bind": f"{CHECK_ROOT}/falmigrate", "mode": "ro"},
                     str(work): {"bind": "/check", "mode": "rw"}})
        payload = json.loads((work / "result.json").read_text())
    if not payload["ok"]:
        raise AssertionError(f"inside the image: {payload['error']}\n{payload.get('traceback', '')}")
    return payload["results"]


def pip_check(client, image: str) -> list[str]:
    """The lines of ``pip check`` in ``image`` that name a broken requirement (none: all consistent).
    pip writes them to stdout, and exits 1."""
    output = client.containers.run(image,
                                   ["sh", "-c", "python3 -m pip check 2>&1; echo \"pip-check-exit=$?\""],
                                   entrypoint=[], network_mode="none", remove=True)
    lines = [line for line in output.decode(errors="replace").splitlines() if line.strip()]
    status = lines.pop() if lines and lines[-1].startswith("pip-check-exit=") else "pip-check-exit=?"
    return [] if status == "pip-check-exit=0" else (lines or [status])


class _Answer:
    """What ``verify.normalize.response_value`` reads from an HTTP response."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.status_code = answer["status"]
        self._body = answer["body"]
        self.text = self._body if isinstance(self._body, str) else json.dumps(self._body)

    def json(self) -> Any:
        if isinstance(self._body, str):
            raise ValueError("not JSON")  # noqa: TRY004 - what a response's .json() raises
        return self._body


def server_results(client, image: str, probe_image: str, app: ServedApp,
                   cases: list[dict[str, Any]]) -> list[Any]:
    """The cases answered by ``image``'s own server (started as the image starts it, no network)."""
    from falmigrate.verify.normalize import response_value

    assert app.server is not None
    server = client.containers.run(image, detach=True, network_mode="none")
    try:
        output = client.containers.run(
            probe_image,
            ["python3", "/probe.py", str(app.server.port), app.server.health.path, json.dumps(cases)],
            network_mode=f"container:{server.id}", remove=True,
            volumes={str(PROBE): {"bind": "/probe.py", "mode": "ro"}})
    except Exception as exc:
        server.reload()
        state = server.attrs.get("State", {})
        stopped = ("" if state.get("Running")
                   else f"the server container exited with code {state.get('ExitCode')}; ")
        logs = server.logs(tail=40).decode(errors="replace")
        raise AssertionError(f"{stopped}{exc}\nserver log:\n{logs}") from exc
    finally:
        server.remove(force=True)
    answers = json.loads(output.decode().strip().splitlines()[-1])
    return [normalize(response_value(_Answer(a))) if case.get("kind", "http") == "http" else a
            for case, a in zip(cases, answers, strict=True)]
