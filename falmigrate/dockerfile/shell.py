"""What a RUN line does, read from its shell text (best effort, static): the simple commands it runs,
the apt/pip packages it installs, and the files it reads (``pip install -r FILE``, ``python FILE``,
``bash FILE``, ``./FILE``, ``source FILE``).
"""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from falmigrate.dockerfile.model import Instruction

_APT = re.compile(r"\b(?:apt-get|apt)\s+(?:-\S+\s+)*install\b(.*)")
_PIP = re.compile(r"\b(?:pip3?(?:\.\d+)?|python3?(?:\.\d+)?\s+-m\s+pip|uv\s+pip)\s+install\b(.*)")
_PIP_VALUE_FLAGS = {"-i", "--index-url", "--extra-index-url", "-c", "--constraint", "--target", "-t",
                    "--prefix", "-f", "--find-links", "--root", "--python"}
_SEPARATORS = re.compile(r"&&|\|\||;|\||\n")
_PREFIXES = {"sudo", "exec", "env", "time", "nohup", "command", "then", "do", "else", "{", "(", "!"}
_PYTHON = re.compile(r"^(?:.*/)?python(?:3(?:\.\d+)?)?$")
_PIP_CMD = re.compile(r"^(?:.*/)?pip(?:3(?:\.\d+)?)?$")
_SHELLS = {"bash", "sh", "/bin/bash", "/bin/sh", "/usr/bin/bash", "/usr/bin/env"}
_HEREDOC_TOKEN = re.compile(r"(?:^|(?<=\s))<<-?(?:\"|'|)[A-Za-z_][A-Za-z0-9_]*(?:\"|'|)")


def run_script(ins: Instruction) -> str:
    """The shell text a RUN executes, as written: its arguments, or the heredoc body it runs as a script
    (``RUN <<EOF``; a body fed to a command, ``RUN python3 <<EOF``, is that command's input)."""
    command = ins.arguments
    if ins.heredocs and not _HEREDOC_TOKEN.sub("", command).strip():
        return "\n".join(h.body for h in ins.heredocs)
    return command


def segments(script: str) -> list[str]:
    """The simple commands of a shell script (``&&``, ``||``, ``;``, ``|`` and newlines split)."""
    joined = re.sub(r"\\\r?\n", " ", script)
    return [s.strip() for s in _SEPARATORS.split(joined) if s.strip()]


def words(segment: str) -> list[str]:
    """A simple command's words, without leading ``VAR=value`` assignments and wrappers (sudo, env…)."""
    try:
        out = shlex.split(segment, comments=True)
    except ValueError:
        out = segment.split()
    while out:
        if out[0] in _PREFIXES:
            out = out[1:]
            while len(out) > 1 and out[0].startswith("-"):  # the wrapper's own options (sudo -E, env -i)
                out = out[1:]
        elif re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", out[0]):
            out = out[1:]
        else:
            break
    return out


def uses_python(segment: str) -> bool:
    """Whether a simple command runs python or pip."""
    w = words(segment)
    return bool(w) and bool(_PYTHON.match(w[0]) or _PIP_CMD.match(w[0]))


def _script_argument(args: list[str]) -> str | None:
    """The first argument that is not an option (the script an interpreter runs)."""
    for arg in args:
        if arg in ("-c", "-m", "-"):
            return None
        if not arg.startswith("-"):
            return arg
    return None


def file_uses(segment: str) -> list[str]:
    """Files a simple command reads by name: requirement/constraint files, scripts it runs or sources."""
    w = words(segment)
    if not w:
        return []
    head = w[0]
    found: list[str] = []
    if _PIP.search(segment) or (_PIP_CMD.match(head) and "install" in w):
        found += [w[i + 1] for i, word in enumerate(w[:-1])
                  if word in ("-r", "--requirement", "-c", "--constraint")]
        found += [word[2:] for word in w
                  if word.startswith(("-r", "-c")) and len(word) > 2 and "=" not in word]
        found += [word.split("=", 1)[1] for word in w if word.startswith(("--requirement=", "--constraint="))]
    elif _PYTHON.match(head) or head in _SHELLS or head in ("source", "."):
        args = w[1:]
        if head == "/usr/bin/env" and args:
            args = args[1:]
        script = _script_argument(args)
        found += [script] if script else []
    elif head.startswith("./") and len(head) > 2:
        found.append(head)
    return found


def installs(run: str) -> tuple[list[str], list[str], list[str]]:
    """(apt packages, pip packages, pip ``-r`` files) a RUN line installs."""
    apt: list[str] = []
    pip: list[str] = []
    files: list[str] = []
    for segment in segments(run):
        if m := _APT.search(segment):
            apt += [w for w in m.group(1).split() if not w.startswith("-")]
        elif m := _PIP.search(segment):
            _pip_words(m.group(1).split(), pip, files)
    return apt, pip, files


def _pip_words(args: list[str], pip: list[str], files: list[str]) -> None:
    i = 0
    while i < len(args):
        w = args[i]
        if w in ("-r", "--requirement") and i + 1 < len(args):
            files.append(args[i + 1])
            i += 1
        elif w.startswith("-r") and len(w) > 2:
            files.append(w[2:])
        elif w.startswith("-"):
            if w in _PIP_VALUE_FLAGS:
                i += 1
        elif w != ".":
            pip.append(w.strip("'\""))
        i += 1
