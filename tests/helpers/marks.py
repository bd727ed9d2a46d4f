"""Which service marks a test gets from the fixtures it uses (directly or through other fixtures).

``tests/conftest.py`` applies them at collection, so a test that needs the Docker engine or a registry
is selected out by ``-m "not engine and not registry"`` without anyone having to remember the mark.
"""

from __future__ import annotations

from collections.abc import Iterable

# fixtures (tests/conftest.py) that reach the Docker engine of scripts/services.sh
ENGINE_FIXTURES = frozenset({"docker_client", "docker_host", "base_image", "fal_base_image", "tiny_image"})
# fixtures that reach one of its registries
REGISTRY_FIXTURES = frozenset({"registry", "tls_registry", "registry_log"})


def service_marks(fixturenames: Iterable[str]) -> list[str]:
    """``["engine"]``, ``["registry"]``, both or neither, for a test using ``fixturenames``."""
    names = set(fixturenames)
    return [mark for mark, needs in (("engine", ENGINE_FIXTURES), ("registry", REGISTRY_FIXTURES))
            if names & needs]
