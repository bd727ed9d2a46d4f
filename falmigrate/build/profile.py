"""Startup profiling: which files does the image read while it starts?

The built image is run once on the engine with no network and a time limit, under ``strace -f -y``
tracing ``open``/``openat``/``execve`` (``-y`` names the file each descriptor reached, so a path opened
through symlinks also records the real file, the name the image's layers hold it under). strace comes from
this machine: the binary, its shared libraries and the host's dynamic loader are copied into the (created, not
yet started) container with ``put_archive`` and started through that loader, so it runs whatever libc the
image has and works on a remote engine too (same CPU architecture). The files opened successfully, in
first-open order, become the FlashPack prefetch order (``--startup-profile``).

What runs: ``--profile-command``; else, when the build directory's pyproject.toml names Python entry
points (what ``convert`` writes for model code), what a fal runner does before its first request —
import the entry module by name, create each named ``fal.App`` class and call its ``setup()``
(``falmigrate/falsdk.py start``, copied into the container) — because fal runs that, not the CMD the
base image left behind (``python:*`` images say ``python3``); else the image's ENTRYPOINT+CMD (an
image-only app: its own server). Exceptions in setup (for example a
download refused by the disabled network) end the run but keep the files opened so far.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tarfile
import time
import tomllib
from pathlib import Path

import docker
import requests
from docker.errors import DockerException

from falmigrate import falsdk, progress
from falmigrate.build.engine import engine_error
from falmigrate.errors import EngineError, UsageError

TOOL_DIR = "/.falmigrate-profile"
TRACE_FILE = f"{TOOL_DIR}/trace.txt"
SKIP_PREFIXES = ("/proc/", "/sys/", "/dev/", f"{TOOL_DIR}/", "/etc/ld.so.cache")
# ``-y`` decorates descriptors with their paths: ``openat(AT_FDCWD</cwd>, "/lib/x.so", …) = 3</usr/lib/x.so>``
_CALL = re.compile(r'^(?P<pid>\d+)\s+(?P<call>openat2?|open|execve)\((?:(?:AT_FDCWD|\d+)(?:<[^>]*>)?, )?'
                   r'"(?P<path>[^"]*)"(?P<rest>.*)$')
_RESUMED = re.compile(r"^(?P<pid>\d+)\s+<\.\.\. (?P<call>openat2?|open|execve) resumed>(?P<rest>.*)$")
_RESULT = re.compile(r"\)\s+=\s+(-?\d+)(?:<(?P<real>[^>]*)>)?")
FALSDK = "falsdk.py"
PYPROJECT = "pyproject.toml"


def entry_points(build_dir: Path) -> tuple[str, list[str]] | None:
    """(module, classes) of the pyproject's ``python_entry_point`` apps in ``build_dir``, if any."""
    path = build_dir / PYPROJECT
    if not path.is_file():
        return None
    try:
        apps = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {}).get("fal", {}).get("apps", {})
    except tomllib.TOMLDecodeError:
        return None
    refs = [str(app["python_entry_point"]) for app in apps.values() if "python_entry_point" in app]
    modules = {ref.partition(":")[0] for ref in refs}
    if len(modules) != 1:
        return None
    return modules.pop(), [ref.partition(":")[2] for ref in refs if ref.partition(":")[2]]


def profile_startup(client: docker.APIClient, image: str, *, command: list[str] | None = None,
                    seconds: float = 30.0, fal_app_dir: Path | None = None) -> list[str]:
    """Run ``image`` for up to ``seconds`` (see the module docstring for what runs); the files it opened.

    ``fal_app_dir`` is the build directory: entry points in its pyproject.toml are what fal starts.
    """
    config = client.inspect_image(image).get("Config") or {}
    argv = command
    found = entry_points(fal_app_dir) if not argv and fal_app_dir is not None else None
    if found is not None:  # what fal runs; not the base image's inherited CMD
        argv = ["python3", f"{TOOL_DIR}/{FALSDK}", "start", found[0], *found[1]]
    argv = argv or [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])]
    if not argv:
        raise UsageError(f"image {image} has no ENTRYPOINT/CMD (and the build directory's {PYPROJECT} no "
                         "entry point) to profile", hint="pass --profile-command")
    tracer = [f"{TOOL_DIR}/{_loader_name()}", "--library-path", TOOL_DIR, f"{TOOL_DIR}/strace",
              "-f", "-qq", "-y", "-e", "trace=open,openat,openat2,execve", "-o", TRACE_FILE]
    container_id = None
    try:
        with progress.task(f"profiling startup of {image} ({seconds:.0f}s max)", None):
            container = client.create_container(
                image, entrypoint=tracer, command=argv, network_disabled=True,
                labels={"falmigrate": "profile"}, host_config=client.create_host_config(network_mode="none"),
            )
            container_id = container["Id"]
            client.put_archive(container_id, "/", _tool_bundle())
            client.start(container_id)
            _wait(client, container_id, seconds)
            trace = _read_file(client, container_id, TRACE_FILE)
    except (DockerException, requests.RequestException) as exc:
        raise engine_error("run the startup profile", exc) from exc
    finally:
        if container_id is not None:
            try:
                client.remove_container(container_id, force=True)
            except (DockerException, requests.RequestException):
                pass
    return parse_trace(trace)


def _wait(client: docker.APIClient, container_id: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = client.inspect_container(container_id)["State"]
        if not state.get("Running"):
            return
        time.sleep(0.2)
    # strace detaches and flushes on SIGTERM; the traced program is stopped with the container.
    client.kill(container_id, signal="SIGTERM")
    for _ in range(50):
        if not client.inspect_container(container_id)["State"].get("Running"):
            return
        time.sleep(0.1)
    client.kill(container_id)


def _read_file(client: docker.APIClient, container_id: str, path: str) -> str:
    stream, _ = client.get_archive(container_id, path)
    data = b"".join(stream)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.next()
        handle = tar.extractfile(member) if member is not None else None
        return handle.read().decode("utf-8", errors="replace") if handle else ""


def parse_trace(text: str) -> list[str]:
    """Absolute paths opened successfully, first-open order, without pseudo files and directories."""
    pending: dict[str, tuple[str, str]] = {}
    seen: dict[str, None] = {}
    for line in text.splitlines():
        call = _CALL.match(line)
        if call:
            if "<unfinished ...>" in call.group("rest"):
                pending[call.group("pid")] = (call.group("path"), call.group("rest"))
                continue
            _record(seen, call.group("path"), call.group("rest"))
            continue
        resumed = _RESUMED.match(line)
        if resumed and resumed.group("pid") in pending:
            path, head = pending.pop(resumed.group("pid"))
            _record(seen, path, head + resumed.group("rest"))
    return list(seen)


def _record(seen: dict[str, None], path: str, rest: str) -> None:
    """Keep an opened path and, when it went through symlinks, the file it reached (strace ``-y``): the
    image's layers hold the file under that real name, which is what packing marks for prefetch."""
    result = _RESULT.search(rest)
    if not result or int(result.group(1)) < 0 or "O_DIRECTORY" in rest:
        return
    for name in (path, result.group("real") or ""):
        if name.startswith("/") and not name.startswith(SKIP_PREFIXES):
            seen.setdefault(os.path.normpath(name), None)


def write_profile(paths: list[str], dest: Path) -> Path:
    """One path per line, atomically."""
    tmp = dest.with_name(f".{dest.name}.partial")
    tmp.write_text("".join(f"{p}\n" for p in paths), encoding="utf-8")
    os.replace(tmp, dest)
    return dest


def read_profile(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read startup profile {path}: {exc.strerror}") from exc
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _strace_files() -> dict[str, str]:
    strace = shutil.which("strace")
    if not strace:
        raise EngineError("--profile needs strace on this machine", hint="apt-get install strace")
    files = {"strace": strace}
    out = subprocess.run(["ldd", strace], capture_output=True, text=True, check=False).stdout
    for line in out.splitlines():
        parts = line.split()
        path = parts[2] if "=>" in parts and len(parts) > 2 else (parts[0] if parts else "")
        if path.startswith("/"):
            files[os.path.basename(path)] = path
    return files


def _loader_name() -> str:
    names = [n for n in _strace_files() if n.startswith(("ld-linux", "ld64"))]
    if not names:
        raise EngineError("cannot find the dynamic loader strace uses (ldd strace)")
    return names[0]


def _tool_bundle() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        files = {**_strace_files(), FALSDK: falsdk.__file__}
        for name, path in sorted(files.items()):
            info = tar.gettarinfo(os.path.realpath(path), arcname=f"{TOOL_DIR.lstrip('/')}/{name}")
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            with open(os.path.realpath(path), "rb") as handle:
                tar.addfile(info, handle)
    return buffer.getvalue()
