"""User Dockerfiles: read once (``reader``), patched in place (``patch``, ``edits``), checked before
they are written (``preflight``).

Platforms that come with a Dockerfile keep it as written; every change is a ``DockerfileEdit``
anchored to an instruction's first line (``edits``: append_to_final_stage, set_command,
rewrite_paths, replace_base, edit_decision), applied by ``patch.apply_edits`` with every other byte
unchanged; ``preflight.preflight`` checks the result. This package root holds the reader only, so
that reading a Dockerfile does not load the spec models.
"""

from falmigrate.dockerfile.model import Command, CopyFrom, Instruction, Mount, ParsedDockerfile, Stage
from falmigrate.dockerfile.reader import parse_dockerfile, parse_text
from falmigrate.dockerfile.shell import installs
from falmigrate.dockerfile.source import Heredoc
from falmigrate.dockerfile.variables import ArgDecl, substitute

__all__ = [
    "ArgDecl", "Command", "CopyFrom", "Heredoc", "Instruction", "Mount", "ParsedDockerfile", "Stage",
    "installs", "parse_dockerfile", "parse_text", "substitute",
]
