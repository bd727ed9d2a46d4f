"""preflight: the example projects are clean; each rule fires, alone and at the right line, on a
mutation of a real file that makes exactly that mistake."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from falmigrate import rules
from falmigrate.dockerfile.preflight import RULE_IDS, preflight
from tests.dockerfile.projects import all_projects, project


def _replace(old: str, new: str) -> Callable[[str], str]:
    def mutate(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)

    return mutate


def _move_after(line: str, anchor: str) -> Callable[[str], str]:
    """Move the line ``line`` (with its newline) to just after the text ``anchor``."""

    def mutate(text: str) -> str:
        assert line in text and anchor in text
        text = text.replace(line, "", 1)
        at = text.index(anchor) + len(anchor)
        return text[:at] + line + text[at:]

    return mutate


@dataclass(frozen=True)
class Mutation:
    name: str
    project: str
    mutate: Callable[[str], str]
    rule: str
    line: int
    severity: str
    needle: str
    with_context: bool = True


MUTATIONS = [
    Mutation("requirements-copied-after-pip", "runpod-sdxl",
             _move_after("COPY builder/requirements.txt /worker/requirements.txt\n", "-r requirements.txt\n"),
             "FM051", 20, "error", "requirements.txt (/worker/requirements.txt)", with_context=False),
    Mutation("fetch-script-copied-after-run", "runpod-sdxl",
             _move_after("COPY builder/fetch_weights.py /worker/fetch_weights.py\n",
                         "--cache /worker/weights\n"),
             "FM051", 24, "error", "COPY at line 26"),
    Mutation("download-script-copied-after-run", "runpod-downloader",
             _move_after("COPY scripts/download.py .\n", "--out /models\n"), "FM051", 7, "error",
             "download.py"),
    Mutation("copy-source-missing", "runpod-sdxl",
             _replace("COPY start.sh /start.sh", "COPY launch.sh /start.sh"),
             "FM052", 29, "error", "'launch.sh'"),
    Mutation("lock-file-missing", "docker-gunicorn", _replace("requirements.lock ./", "requirements.txt ./"),
             "FM052", 15, "error", "'requirements.txt'"),
    Mutation("downloader-stage-renamed", "runpod-downloader", _replace("AS downloader", "AS fetch"),
             "FM053", 20, "error", "--from=downloader"),
    Mutation("build-stage-dropped", "docker-go", _replace("FROM golang:1.22 AS build", "FROM golang:1.22"),
             "FM053", 10, "error", "--from=build"),
    Mutation("torch-pin-in-single-quotes", "runpod-sdxl",
             _replace("torch==${TORCH_VERSION}", "'torch==${TORCH_VERSION}'"), "FM054", 21, "error",
             "$TORCH_VERSION"),
    Mutation("user-in-single-quotes", "docker-gunicorn",
             _replace("--uid 10001 ${APP_USER}", "--uid 10001 '${APP_USER}'"), "FM054", 13, "warning",
             "$APP_USER"),
    Mutation("path-expanded-at-convert-time", "runpod-downloader",
             _replace('ENV PATH="/opt/venv/bin:${PATH}"', 'ENV PATH="/opt/venv/bin:"'), "FM055", 15, "error",
             "/opt/venv/bin:"),
    Mutation("path-without-system-dirs", "runpod-comfy",
             _replace('ENV PATH="${VENV}/bin:$PATH"', "ENV PATH /opt/venv/bin"),
             "FM055", 6, "error", "replaces the image's PATH"),
    Mutation("pip-before-python", "runpod-sdxl", _replace("python3.11 python3-pip git", "git"),
             "FM056", 21, "error", "nvidia/cuda:12.1.0-cudnn8-runtime-ubuntu22.04 has no Python"),
    Mutation("python-older-than-310", "runpod-downloader",
             _replace("PYTHON_VERSION=3.11", "PYTHON_VERSION=3.9"),
             "FM057", 12, "warning", "python:3.9-slim"),
    Mutation("distro-python3-of-focal", "runpod-sdxl",
             lambda t: (t.replace("UBUNTU_VERSION=22.04", "UBUNTU_VERSION=20.04")
                        .replace("python3.11 python3-pip", "python3 python3-pip")),
             "FM057", 15, "warning", "3.8"),
    Mutation("torch-arg-only-before-from", "runpod-sdxl",
             lambda t: (t.replace("ARG TORCH_VERSION=2.3.1\n", "")
                        .replace("ARG CUDA_VERSION", "ARG TORCH_VERSION=2.3.1\nARG CUDA_VERSION")),
             "FM058", 21, "error", "$TORCH_VERSION"),
    Mutation("user-arg-only-before-from", "docker-gunicorn",
             lambda t: (t.replace("ARG APP_USER=app\n", "")
                        .replace("FROM python:3.12-slim AS base",
                                 "ARG APP_USER=app\nFROM python:3.12-slim AS base")),
             "FM058", 13, "warning", "$APP_USER"),
    Mutation("launcher-not-copied", "runpod-comfy",
             _replace("COPY start.sh extra_model_paths.yaml ./", "COPY extra_model_paths.yaml ./"),
             "FM059", 20, "error", "./start.sh (/comfyui/start.sh)"),
    Mutation("start-script-not-copied", "runpod-sdxl", _replace("COPY start.sh /start.sh\n", ""),
             "FM059", 30, "error", "/start.sh"),
    Mutation("unknown-instruction", "docker-go",
             _replace("RUN go mod download", "RUN go mod download\nCOPPY . ."), "FM050", 6, "error", "COPPY"),
    Mutation("arg-loop", "runpod-sdxl",
             _replace("ARG UBUNTU_VERSION=22.04", "ARG UBUNTU_VERSION=${BASE_IMAGE}"),
             "FM050", 4, "error", "loop"),
]


@pytest.mark.parametrize("proj", all_projects(), ids=lambda p: p.root.name)
def test_example_projects_are_clean(proj):
    assert preflight(proj.text, proj.rel, proj.context_files) == []
    assert preflight(proj.text, proj.rel) == []


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.name)
def test_each_rule_fires_alone_on_its_mutation(mutation):
    proj = project(mutation.project)
    text = mutation.mutate(proj.text)
    context = proj.context_files if mutation.with_context else None
    findings = preflight(text, proj.rel, context)
    assert [(f.rule, f.location.line, f.severity) for f in findings] == [
        (mutation.rule, mutation.line, mutation.severity)], findings
    assert mutation.needle in findings[0].message
    assert findings[0].location.file == proj.rel
    assert findings[0].remediation  # the registry's advice when the rule has no sharper one


def test_every_rule_has_a_mutation_and_is_registered_as_shared():
    assert {m.rule for m in MUTATIONS} == set(RULE_IDS)
    assert all(rules.lookup(rule).platform == "shared" for rule in RULE_IDS)
    severities = {m.rule: m.severity for m in MUTATIONS if m.severity == rules.severity(m.rule)}
    assert set(severities) == set(RULE_IDS)  # each rule has a mutation with its registered severity


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("FROM python:3.11\nARG V=1\nRUN bash -c 'echo $V'\nRUN echo \"$V\" '$HOME' '${OTHER}'\n",
                     id="nested-shell-double-quotes-and-non-args"),
        pytest.param("FROM ubuntu:22.04\nENV "
                     "PATH=/opt/conda/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/bin\n"
                     "RUN apt-get update && apt-get install -y python3-pip && pip3 install numpy\n",
                     id="full-path"),
        pytest.param("FROM nvidia/cuda:12.1.0-devel-ubuntu22.04\nCOPY "
                     "--from=ghcr.io/astral-sh/uv:0.4 /uv /bin/uv\n"
                     "RUN uv venv --python 3.11 /venv && /venv/bin/python -m pip --version\n",
                     id="uv-python"),
        pytest.param("FROM ubuntu:22.04\nRUN apt-get update && apt-get install -y wget && "
                     "wget -q https://repo.anaconda.com/miniconda/Miniconda3-py311_24.4.0-0-Linux-x86_64.sh "
                     "-O m.sh && bash m.sh -b -p /opt/conda\nENV PATH=/opt/conda/bin:$PATH\n"
                     "RUN pip install torch\n",
                     id="conda"),
        pytest.param("FROM debian:12 AS py\nRUN apt-get update && apt-get install -y python3-venv\n"
                     "FROM py\nRUN python3 -m venv /v\n", id="python-from-parent-stage"),
        pytest.param("FROM debian:12-slim\nRUN apt-get update && apt-get install -y curl && "
                     "curl -LsSf https://astral.sh/uv/install.sh | sh && ~/.local/bin/uv venv "
                     "--python 3.12 /venv\nRUN /venv/bin/python -m ensurepip\n", id="uv-from-its-installer"),
        pytest.param("FROM some/unknown:1\nRUN pip install x\n", id="unknown-base"),
        pytest.param("FROM python:3.11-slim\nWORKDIR /app\nCOPY . .\nRUN pip install -r requirements.txt\n",
                     id="copy-all-first"),
    ],
)
def test_clean_patterns_raise_nothing(text):
    assert preflight(text, "Dockerfile") == []


@pytest.mark.parametrize(
    ("text", "rule", "line", "needle"),
    [
        pytest.param("FROM pytorch/pytorch:1.12.1-cuda11.3-cudnn8-runtime\nRUN pip install x\n", "FM057", 1,
                     "3.7", id="old-pytorch-image"),
        pytest.param("FROM runpod/pytorch:2.0.1-py3.8-cuda11.8.0-devel-ubuntu22.04\n", "FM057", 1, "3.8",
                     id="runpod-py38-tag"),
        pytest.param("FROM ubuntu:22.04\nRUN apt-get update && apt-get install -y "
                     "software-properties-common && add-apt-repository ppa:deadsnakes/ppa && apt-get install "
                     "-y python3.9 python3.9-venv\n",
                     "FM057", 2, "3.9", id="deadsnakes-39"),
        pytest.param("ARG BASE=ubuntu:22.04\nFROM ${BASE}\nRUN python3 -m venv /v\n", "FM056", 3,
                     "ubuntu:22.04", id="arg-built-base"),
        pytest.param("FROM alpine:3.20\nRUN apk add --no-cache curl && pip install x\n", "FM056", 2, "alpine",
                     id="alpine"),
    ],
)
def test_python_rules_on_known_bases(text, rule, line, needle):
    [finding] = preflight(text, "Dockerfile")
    assert (finding.rule, finding.location.line) == (rule, line)
    assert needle in finding.message
