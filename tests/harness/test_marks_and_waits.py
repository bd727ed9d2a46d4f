"""The test harness itself: engine/registry marks follow the fixtures a test uses (so an offline run
deselects exactly those), ``wait_until`` waits on a condition, and no test sleeps for a fixed time."""

from __future__ import annotations

import re
import threading
import time

import pytest

from tests.helpers.golden import REPO
from tests.helpers.marks import ENGINE_FIXTURES, REGISTRY_FIXTURES, service_marks
from tests.helpers.wait import wait_until

# The only places a test may call time.sleep, and why.
ALLOWED_SLEEPS = {
    "tests/helpers/wait.py": "the poll interval of wait_until",
    "tests/remote/fakeregistry.py": "the injected 'slow' fault paces a response (a slow network, not a wait)",
    "tests/helpers/server_probe.py": "the poll interval of its wait for the health path: it "
                                     "runs in a container with only the standard library, so it "
                                     "cannot use wait_until",
    "tests/importers/docker/probe_server.py": ("the same poll inside a container, for the "
                                               "Docker fixtures' servers"),
    "tests/importers/runpod/test_runpod_images.py": "the poll interval of the script a "
                                                    "load-balancing worker's container runs "
                                                    "(standard library only)",
}


@pytest.mark.parametrize(("fixtures", "marks"), [
    ((), []),
    (("tmp_path", "monkeypatch"), []),
    (("docker_client",), ["engine"]),
    (("fal_base_image", "tmp_path"), ["engine"]),
    (("tiny_image",), ["engine"]),
    (("registry_log",), ["registry"]),
    (("tls_registry", "docker_host"), ["engine", "registry"]),
])
def test_service_marks(fixtures, marks):
    assert service_marks(fixtures) == marks


def test_the_fixture_sets_name_fixtures_that_exist():
    import tests.conftest as services

    for name in ENGINE_FIXTURES | REGISTRY_FIXTURES:
        assert hasattr(services, name), f"tests/conftest.py has no fixture {name}"


CONFTEST = '''
import pytest

from tests.conftest import pytest_collection_modifyitems  # the hook under test


@pytest.fixture
def docker_host():
    raise AssertionError("an engine test ran in an offline session")


@pytest.fixture
def registry():
    raise AssertionError("a registry test ran in an offline session")


@pytest.fixture
def unique_repo(registry):  # a registry test by way of another fixture
    return registry + "/x"
'''

TESTS = '''
def test_plain(tmp_path):
    assert tmp_path.is_dir()


def test_engine(docker_host):
    pass


def test_registry_through_a_fixture(unique_repo):
    pass


def test_both(docker_host, unique_repo):
    pass
'''


def test_offline_selection_runs_only_tests_without_services(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\naddopts = --strict-markers -p no:cacheprovider\n"
                     "markers =\n    engine: e\n    registry: r\n")
    pytester.makepyfile(test_sample=TESTS)
    offline = pytester.runpytest("-m", "not engine and not registry")
    offline.assert_outcomes(passed=1, deselected=3)
    engine = pytester.runpytest("-m", "engine", "--collect-only", "-q")
    engine.stdout.fnmatch_lines(["*test_engine", "*test_both", "*2/4 tests collected (2 deselected)*"])
    registry = pytester.runpytest("-m", "registry and not engine", "--collect-only", "-q")
    registry.stdout.fnmatch_lines(["*test_registry_through_a_fixture",
                                   "*1/4 tests collected (3 deselected)*"])


def test_wait_until_returns_the_value_once_the_condition_holds():
    box: list[int] = []
    timer = threading.Timer(0.2, box.append, args=(7,))
    timer.start()
    assert wait_until(lambda: box and box[0], timeout=10, what="the timer", interval=0.01) == 7
    timer.join()


def test_wait_until_fails_with_what_it_waited_for():
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"timed out after 0.2 s waiting for the flag \(last value: 0\)"):
        wait_until(lambda: 0, timeout=0.2, what="the flag", interval=0.01)
    assert time.monotonic() - started >= 0.2


def test_no_test_sleeps_for_a_fixed_time():
    found = {}
    for path in sorted((REPO / "tests").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        lines = [n for n, line in enumerate(path.read_text().splitlines(), 1) if re.search(r"\bsleep\(", line)
                 and "asyncio.sleep(0)" not in line]  # yielding to the event loop is not a wait
        if lines and rel not in ALLOWED_SLEEPS:
            found[rel] = lines
    assert not found, f"fixed sleeps (wait on a condition with tests.helpers.wait.wait_until): {found}"
