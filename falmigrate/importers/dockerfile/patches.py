"""The minimal Dockerfile edits that let fal reach the image's own server, and what the image runs.

fal starts the image's ENTRYPOINT/CMD as written and forwards requests to ``exposed_port`` from
outside the container, so the server must listen on all interfaces. Many launchers default to
loopback (uvicorn, gunicorn, hypercorn, ``flask run``, ``fastapi dev``, Gradio): where the launcher's
words are in the Dockerfile, its CMD/ENTRYPOINT gets the host flag (``--host 0.0.0.0``, ``--bind
0.0.0.0:PORT``, a loopback value replaced) or, for Gradio, ``ENV GRADIO_SERVER_NAME=0.0.0.0`` before
it; TorchServe started with ``--start`` gets ``--foreground`` so the container keeps running. Each edit
replaces or precedes one instruction, keeps every other byte, and is a decision with file:line.
Where the address is set in code or in an ENTRYPOINT script the Dockerfile cannot change it: an
error finding points at that line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from falmigrate.dockerfile import Instruction, ParsedDockerfile
from falmigrate.dockerfile.edits import edit_decision
from falmigrate.importers.dockerfile.pyserver import LOOPBACK
from falmigrate.importers.dockerfile.routes import ModuleInfo
from falmigrate.importers.dockerfile.server import Recognised, flag
from falmigrate.spec import Decision, DockerfileEdit, Finding, Location

LOOPBACK_RULE = "FM409"
ALL_INTERFACES = "0.0.0.0"
# launcher -> (its host flags, the host it binds by default, the env variable it reads the host from)
_HOSTS: dict[str, tuple[tuple[str, ...], str, str | None]] = {
    "uvicorn": (("--host",), "127.0.0.1", "UVICORN_HOST"),
    "flask": (("--host", "-h"), "127.0.0.1", "FLASK_RUN_HOST"),
    "gunicorn": (("--bind", "-b"), "127.0.0.1", None),
    "hypercorn": (("--bind", "-b"), "127.0.0.1", None),
    "fastapi": (("--host",), "0.0.0.0", None),
}
_LOOPBACK_VALUE = r"(?P<host>127\.0\.0\.1|localhost|\[::1\])"


@dataclass
class Patch:
    edits: list[DockerfileEdit] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def _command_instruction(parsed: ParsedDockerfile, rec: Recognised) -> Instruction | None:
    """The CMD or ENTRYPOINT instruction whose words start the server."""
    entry, cmd = parsed.command()
    head = rec.launcher[0] if rec.launcher else ""
    for command in (entry, cmd):
        if command is not None and head and head in command.text:
            return parsed.instruction_at(command.line)
    return None


def _insert_after(source: str, word: str, extra: list[str]) -> str | None:
    """``source`` with ``extra`` words after the command word ``word`` (JSON exec form or shell form)."""
    exec_form = re.compile(rf'"(?:[^"]*/)?{re.escape(word)}"(?=\s*[,\]])')
    match = exec_form.search(source)
    if match is not None:
        return source[:match.end()] + "".join(f', "{w}"' for w in extra) + source[match.end():]
    match = re.search(rf"(?<![\w.-]){re.escape(word)}(?![\w.-])", source)
    if match is None:
        return None
    return source[:match.end()] + "".join(f" {w}" for w in extra) + source[match.end():]


def _replace_loopback(source: str, flags: tuple[str, ...]) -> str | None:
    names = "|".join(re.escape(f) for f in flags)
    pattern = re.compile(rf'(?<![\w-])(?:{names})(?:=|"\s*,\s*"|\s+)["\']?{_LOOPBACK_VALUE}')
    match = pattern.search(source)
    if match is None:
        return None
    return source[:match.start("host")] + ALL_INTERFACES + source[match.end("host"):]


def _replace(ins: Instruction, source: str, path: str, reason: str, patch: Patch) -> None:
    lines = source.removesuffix("\n").split("\n")
    edit = DockerfileEdit(action="replace", line=ins.line, lines=lines, reason=reason)
    patch.edits.append(edit)
    patch.decisions.append(edit_decision(path, edit))


def _anchor(rec: Recognised) -> str:
    """The launcher word a host flag goes after (``flask run``/``fastapi dev``: after the subcommand)."""
    words = rec.launcher
    for sub in ("run", "dev"):
        if rec.kind in ("flask", "fastapi") and sub in words:
            return sub
    return next((w for w in words if w.rsplit("/", 1)[-1] == rec.kind), rec.kind)


def _launcher_host(rec: Recognised, env: dict[str, str]) -> tuple[str | None, bool]:
    """(the host the launcher binds, whether a flag sets it)."""
    flags, default, env_name = _HOSTS[rec.kind]
    hit = flag(rec.launcher, flags)
    if hit is not None:
        value = hit[1].rpartition(":")[0] if rec.kind in ("gunicorn", "hypercorn") else hit[1]
        return value.strip("[]'\"") or None, True
    if rec.kind == "fastapi" and "dev" in rec.launcher:
        return "127.0.0.1", False
    return (env.get(env_name) if env_name else None) or default, False


def _host_flag(rec: Recognised, port: int) -> list[str]:
    if rec.kind in ("gunicorn", "hypercorn"):
        return ["--bind", f"{ALL_INTERFACES}:{port}"]
    return ["--host", ALL_INTERFACES]


def _loopback_finding(where: Location, what: str, fix: str) -> Finding:
    return Finding(rule=LOOPBACK_RULE, severity="error", location=where,
                   message=f"{what} listens on loopback only: fal cannot reach it from outside the container",
                   remediation=fix)


def _launcher_patch(parsed: ParsedDockerfile, rec: Recognised, port: int, patch: Patch) -> None:
    host, flagged = _launcher_host(rec, parsed.final.env)
    if host not in LOOPBACK:
        return
    in_file = not rec.inherited and (not rec.via or rec.handed_over)
    ins = _command_instruction(parsed, rec) if in_file else None
    if ins is None:
        where = Location(file=rec.via or parsed.path, line=rec.via_line)
        patch.findings.append(_loopback_finding(where, f"{rec.kind} ({' '.join(rec.launcher[:3])}…)",
                                                f"start it with {' '.join(_host_flag(rec, port))}"))
        return
    flags = _HOSTS[rec.kind][0]
    source = _replace_loopback(ins.source, flags) if flagged else _insert_after(ins.source, _anchor(rec),
                                                                               _host_flag(rec, port))
    if source is None:
        patch.findings.append(_loopback_finding(Location(file=parsed.path, line=ins.line), rec.kind,
                                                f"start it with {' '.join(_host_flag(rec, port))}"))
        return
    _replace(ins, source, parsed.path, f"{rec.kind} binds {host} by default: listen on all interfaces so fal "
                                       f"reaches port {port}", patch)


def _code_patch(parsed: ParsedDockerfile, rec: Recognised, info: ModuleInfo, patch: Patch) -> None:
    launch = info.launch
    if launch is None or launch.effective_host(parsed.final.env) not in LOOPBACK:
        return
    where = Location(file=rec.app_file or parsed.path, line=launch.line)
    command = _command_instruction(parsed, rec)
    if launch.launcher == "gradio" and not launch.host_given and command is not None:
        edit = DockerfileEdit(action="insert_before", line=command.line,
                              lines=[f"ENV GRADIO_SERVER_NAME={ALL_INTERFACES}"],
                              reason=f"Gradio listens on 127.0.0.1 unless GRADIO_SERVER_NAME says otherwise "
                                     f"({where})")
        patch.edits.append(edit)
        patch.decisions.append(edit_decision(parsed.path, edit))
        return
    keyword = "server_name" if launch.launcher == "gradio" else "host"
    patch.findings.append(_loopback_finding(where, f"the server started at {where}",
                                            f"pass {keyword}=\"0.0.0.0\" there"))


def _torchserve_patch(parsed: ParsedDockerfile, rec: Recognised, patch: Patch) -> None:
    text = " ".join(rec.words)
    in_file = not rec.inherited and (not rec.via or rec.handed_over)
    if "--foreground" in rec.launcher or not in_file or re.search(r"tail -f|sleep inf", text):
        return
    ins = _command_instruction(parsed, rec)
    source = _insert_after(ins.source, "torchserve", ["--foreground"]) if ins is not None else None
    if ins is not None and source is not None:
        _replace(ins, source, parsed.path, "torchserve --start returns at once and the container would stop: "
                                           "--foreground keeps the server as the container's process", patch)
        rec.words = [*rec.words, "--foreground"] if "--foreground" not in rec.words else rec.words


def reach_server(parsed: ParsedDockerfile, rec: Recognised, info: ModuleInfo | None, port: int) -> Patch:
    """The edits (and findings where no edit can do it) that make the server reachable on ``port``."""
    patch = Patch()
    if rec.kind in _HOSTS:
        _launcher_patch(parsed, rec, port, patch)
    elif rec.kind == "python" and info is not None:
        _code_patch(parsed, rec, info, patch)
    elif rec.kind == "torchserve":
        _torchserve_patch(parsed, rec, patch)
    return patch


def image_runs(parsed: ParsedDockerfile, rec: Recognised, port: int) -> Decision:
    """What the final image runs on fal, and why (an inherited ENTRYPOINT, a reset one, a script)."""
    entry, cmd = parsed.command()
    decisive = entry or cmd
    where = Location(file=parsed.path, line=decisive.line if decisive else parsed.final.line)
    shown = " ".join(rec.words).replace("{port}", str(port))
    if rec.inherited:
        note = (f"the base image {parsed.external_base()}'s ENTRYPOINT runs the Dockerfile's CMD (assumed "
                "from that image)")
    elif entry is not None and not entry.argv:
        note = "ENTRYPOINT [] resets the base image's entrypoint: the CMD alone runs"
    elif rec.via:
        note = f"the ENTRYPOINT script {rec.via} runs first and starts the server (line {rec.via_line})"
    else:
        note = "as the Dockerfile's " + ("ENTRYPOINT" if entry is not None else "CMD") + " says"
    return Decision(source=f"{'ENTRYPOINT' if entry is not None else 'CMD'} ({where})",
                    target=f"on fal the image runs `{shown}` and serves port {port}", note=note,
                    location=where)
