"""--entry / --dockerfile / --context: checked before any importer runs; the entry decides the platform."""

from __future__ import annotations

import pytest

from falmigrate import importers
from falmigrate.errors import UsageError
from falmigrate.importers.base import ImportRequest


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "replicate").mkdir()
    (tmp_path / "replicate" / "cog.yaml").write_text("predict: predict.py:Predictor\n")
    (tmp_path / "serve.py").write_text("import modal\napp = modal.App('x')\n")
    (tmp_path / "worker.py").write_text("import runpod\nrunpod.serverless.start({})\n")
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "Dockerfile.prod").write_text("FROM scratch\n")
    (tmp_path / "notes.txt").write_text("hello\n")
    return tmp_path


@pytest.mark.parametrize(("entry", "platform"), [
    ("replicate/cog.yaml", "cog"), ("serve.py", "modal"), ("worker.py", "runpod"),
    ("docker/Dockerfile.prod", "docker"),
])
def test_the_entry_file_names_its_platform(repo, entry, platform):
    assert importers.entry_platform(repo, entry) == platform


@pytest.mark.parametrize(("request_", "needle"), [
    (ImportRequest(entry="missing.py"), "no such file"),
    (ImportRequest(entry="notes.txt"), "not a file falmigrate converts"),
    (ImportRequest(dockerfile="docker/Dockerfile.dev"), "no such file"),
    (ImportRequest(context="build"), "no such directory"),
])
def test_paths_that_do_not_exist_or_fit_are_usage_errors(repo, request_, needle):
    with pytest.raises(UsageError) as caught:
        importers.load(repo, "auto", request_)
    assert needle in caught.value.message and caught.value.exit_code == 2 and caught.value.file


def test_an_entry_of_another_platform_than_from_is_refused(repo):
    with pytest.raises(UsageError) as caught:
        importers.load(repo, "runpod", ImportRequest(entry="serve.py"))
    assert (caught.value.file == "serve.py" and "Modal" in caught.value.message
            and "--from modal" in caught.value.hint)
