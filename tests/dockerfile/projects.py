"""The example projects under tests/dockerfile/data: RunPod workers and Docker servers written the way
real repositories write them (pre-FROM ARGs choosing the base, ARG-pinned torch, a weights-downloader
stage, a venv on PATH, start.sh launchers, heredocs, build secrets, HEALTHCHECK, a non-root USER)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
NAMES = ("runpod-sdxl", "runpod-downloader", "runpod-comfy", "docker-gunicorn", "docker-go")


@dataclass(frozen=True)
class Project:
    root: Path  # the build context
    dockerfile: Path

    @property
    def text(self) -> str:
        return self.dockerfile.read_bytes().decode("utf-8")

    @property
    def rel(self) -> str:
        return self.dockerfile.relative_to(self.root).as_posix()

    @property
    def context_files(self) -> set[str]:
        return {p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file()}


def project(name: str) -> Project:
    root = DATA / name
    dockerfile = root / "Dockerfile" if (root / "Dockerfile").is_file() else root / "docker" / "Dockerfile"
    return Project(root=root, dockerfile=dockerfile)


def all_projects() -> list[Project]:
    return [project(name) for name in NAMES]
