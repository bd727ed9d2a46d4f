"""Fixtures for the real services that ``scripts/services.sh start`` runs (and ``scripts/test.sh``
starts for the whole suite): a private Docker engine, a plain registry, a TLS + htpasswd registry
and a locally made Debian+Python base image.

The variables come from the environment or, when absent there, from ``.services/env`` in the repo.
A fixture whose service is not configured FAILS (never skips): a missing engine is a broken setup,
not a reason to pass. Tests are marked ``engine`` / ``registry`` from the fixtures they use
(``pytest_collection_modifyitems``), so ``-m "not engine and not registry"`` runs without services.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.marks import service_marks

pytest_plugins = ["pytester"]  # tests/harness runs small pytest sessions to check the hooks here

REPO = Path(__file__).resolve().parent.parent
ENV_FILE = REPO / ".services" / "env"
HOW_TO_START = "run `bash scripts/services.sh start` (or the whole suite with `bash scripts/test.sh`)"


def _load_env_file() -> None:
    if not ENV_FILE.is_file():
        return
    for line in ENV_FILE.read_text().splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.startswith("FALMIGRATE_TEST_") and key not in os.environ:
            os.environ[key] = value


_load_env_file()


@pytest.hookimpl(tryfirst=True)  # before pytest's own -m selection reads the marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for mark in service_marks(getattr(item, "fixturenames", ())):
            item.add_marker(mark)


def service_var(name: str) -> str:
    """The value of ``FALMIGRATE_TEST_<name>``, or a test failure saying how to start the services."""
    key = f"FALMIGRATE_TEST_{name}"
    value = os.environ.get(key)
    if not value:
        pytest.fail(f"{key} is not set: {HOW_TO_START}", pytrace=False)
    return value


@dataclass(frozen=True)
class TLSRegistry:
    address: str  # 127.0.0.1:PORT
    ca: str  # path of the CA certificate (PEM) that signed the registry's certificate
    user: str
    password: str


@pytest.fixture(scope="session")
def docker_host() -> str:
    return service_var("DOCKER_HOST")


@pytest.fixture(scope="session")
def docker_client(docker_host: str):
    import docker

    client = docker.DockerClient(base_url=docker_host, version="auto", timeout=600)
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure here means the setup is broken
        pytest.fail(f"Docker engine at {docker_host} does not answer ({exc}): {HOW_TO_START}", pytrace=False)
    yield client
    client.close()


@pytest.fixture(scope="session")
def registry() -> str:
    return service_var("REGISTRY")


@pytest.fixture(scope="session")
def registry_log() -> Path:
    return Path(service_var("REGISTRY_LOG"))


@pytest.fixture(scope="session")
def tls_registry() -> TLSRegistry:
    return TLSRegistry(
        address=service_var("REGISTRY_TLS"),
        ca=service_var("REGISTRY_CA"),
        user=service_var("REGISTRY_USER"),
        password=service_var("REGISTRY_PASSWORD"),
    )


@pytest.fixture(scope="session")
def base_image() -> str:
    return service_var("BASE_IMAGE")


@pytest.fixture(scope="session")
def tiny_image() -> str:
    """A busybox-static image (one small layer) for tests that need an image but not Python."""
    return service_var("TINY_IMAGE")


@pytest.fixture(scope="session")
def fal_base_image(docker_client, base_image) -> str:
    """``base_image`` plus curl and fal: what generated Dockerfiles' last dependency steps need (fal's
    custom-container requirements), made offline so those steps find them (tests/helpers/fal_base.py)."""
    from tests.helpers.fal_base import ensure_fal_ready_image

    return ensure_fal_ready_image(docker_client, base_image)
