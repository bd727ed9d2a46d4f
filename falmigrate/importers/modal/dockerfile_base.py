"""``modal.Image.from_dockerfile(path)``: the named Dockerfile's FROM, steps and build stages.

The steps come first in the generated Dockerfile, in their order, with the chain's later steps after
them; CMD/ENTRYPOINT/EXPOSE/HEALTHCHECK are dropped (the route decides what the image runs).
"""

from __future__ import annotations

from typing import Any

from falmigrate.dockerfile import parse_text
from falmigrate.importers.dockerfile.image import stage_texts
from falmigrate.importers.modal.images import ImageChain
from falmigrate.importers.modal.reader import ModalModule
from falmigrate.spec import Decision, Finding, Location


def _read(mod: ModalModule, path: str) -> str | None:
    if mod.root is None:
        return None
    for base in (mod.root, (mod.root / mod.path).parent):
        try:
            return (base / path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
    return None


def dockerfile_base(mod: ModalModule, path: str, context_dir: Any, loc: Location,
                    chain: ImageChain) -> dict[str, Any]:
    """The FROM, steps and build stages of the Dockerfile ``Image.from_dockerfile(path)`` names."""
    text = _read(mod, path)
    if text is None:
        chain.findings.append(Finding(
            rule="FM217", severity="error", location=loc,
            message=f"Image.from_dockerfile({path!r}): that Dockerfile is not in the project, so "
                    "its steps are missing",
            remediation="put that Dockerfile's FROM and steps at the top of the generated one by hand"))
        chain.base_unknown = True
        return {"ref": None,
                "lines": [f"# TODO(falmigrate FM217): the steps of {path} (not in the project) go here"]}
    parsed = parse_text(text, path)
    prefix = "" if context_dir in (None, ".", "./") else str(context_dir).rstrip("/") + "/"
    lines, dropped = [], []
    for stage in parsed.chain():
        for ins in stage.instructions:
            if ins.instruction == "FROM":
                continue
            if ins.instruction in ("CMD", "ENTRYPOINT", "EXPOSE", "HEALTHCHECK"):
                dropped.append(f"{ins.instruction} (line {ins.line})")
                continue
            raw = ins.raw
            if prefix and ins.instruction in ("COPY", "ADD") and "from" not in ins.flags:
                raw = _prefixed_copy(raw, prefix)
            lines.append(f"{ins.instruction} {raw}")
    chain.decisions.append(Decision(
        source=f"Image.from_dockerfile({path!r})",
        target=f"FROM {parsed.external_base()} and its {len(lines)} step(s)",
        note=f"dropped (the route decides what the image runs): {', '.join(dropped)}" if dropped else None,
        location=loc))
    workdir = next((st.workdir for st in reversed(parsed.chain()) if st.workdir), None)
    return {"ref": parsed.external_base(), "lines": lines, "stages": stage_texts(parsed), "workdir": workdir}


def _prefixed_copy(raw: str, prefix: str) -> str:
    """``COPY [--flags] src... dest`` with each relative source under ``prefix`` (the context_dir)."""
    words = raw.split()
    flags = [w for w in words if w.startswith("--")]
    paths = [w for w in words if not w.startswith("--")]
    sources = [p if p.startswith("/") else prefix + p for p in paths[:-1]]
    return " ".join([*flags, *sources, *paths[-1:]])
