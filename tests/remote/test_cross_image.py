"""Cross-image dedup: two images that share a stack under different layer digests (another layer split,
another registry). After the first is pulled, the second's pull fetches only the frames of the files the
store lacks — counted by our client and by the registry's own access log — and reports the rest as
reused."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from falmigrate.oci.remote import reference
from falmigrate.oci.remote.pull import pull_reference
from falmigrate.oci.remote.push import push_layout
from falmigrate.oci.transports import repack
from falmigrate.oci.untar import unpack_layers
from tests.conftest import service_var
from tests.helpers.wait import wait_until
from tests.remote.conftest import manifest_of
from tests.remote.imagegen import layout_from_trees
from tests.remote.test_push_pull import _tree

_LOG_LINE = re.compile(r'"(GET|HEAD) (/v2/\S+) HTTP/[\d.]+" (\d{3}) (\d+)')


def _served(log: Path, start: int, repo: str) -> int:
    """Bytes the registry sent for ``repo`` (successful GETs) since ``start``."""
    with log.open("rb") as handle:
        handle.seek(start)
        text = handle.read().decode(errors="replace")
    return sum(int(m.group(4)) for m in _LOG_LINE.finditer(text)
               if f"/v2/{repo}/" in m.group(2) and m.group(1) == "GET" and m.group(3) in ("200", "206"))


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.fixture(scope="module")
def two_images(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A: base + stack + app. B: base + an extra dependency layer + the same stack split in two other
    layers (so no layer digest is shared beyond the base) + another app. Both FlashPack, our writer."""
    root = tmp_path_factory.mktemp("cross")
    rng = random.Random(3)
    base, stack, app_a, extra, app_b = (root / n for n in ("base", "stack", "app_a", "extra", "app_b"))
    _write(base / "usr/bin/python3", rng.randbytes(40_000))
    for n in range(120):
        _write(stack / f"opt/venv/site-packages/pkg{n:03d}/mod.so", rng.randbytes(30_000 + n * 500))
    _write(stack / "opt/venv/site-packages/cuda/libbig.so", rng.randbytes(6 << 20))  # chunked
    _write(app_a / "app/main.py", b"print('a')\n")
    _write(extra / "opt/venv/site-packages/extra_dep/__init__.py", rng.randbytes(50_000))
    _write(app_b / "app/main.py", b"print('b')\n")
    half_one, half_two = root / "half_one", root / "half_two"
    for number, path in enumerate(sorted(p for p in stack.rglob("*") if p.is_file())):
        rel = path.relative_to(stack)
        target = half_one if number % 2 == 0 or "cuda" in str(rel) else half_two
        _write(target / rel, path.read_bytes())
    images = []
    for name, trees in (("a", [base, stack, app_a]), ("b", [base, extra, half_two, half_one, app_b])):
        plain = layout_from_trees(trees, root / f"plain_{name}")
        repack(f"oci:{plain}:latest", f"oci:{root / name}:latest", "flashpack")
        images.append(root / name)
    return images[0], images[1], root / "plain_b"


def test_second_image_fetches_only_the_missing_files(registry, tls_registry, two_images, repo,
                                                     tmp_path) -> None:
    image_a, image_b, plain_b = two_images
    layers_a = {layer["digest"] for layer in manifest_of(image_a)["layers"]}
    layers_b = manifest_of(image_b)["layers"]
    assert len(layers_a & {layer["digest"] for layer in layers_b}) == 1  # only the base layer is shared
    config = tmp_path / "docker-config.json"
    config.write_text(json.dumps({"auths": {tls_registry.address: {"username": tls_registry.user,
                                                                    "password": tls_registry.password}}}))
    tls = {"ca": tls_registry.ca, "docker_config": str(config)}
    push_layout(image_a, "latest", reference.parse(f"{registry}/{repo}-a:v1"))
    push_layout(image_b, "latest", reference.parse(f"{tls_registry.address}/{repo}-b:v1"), **tls)
    store = tmp_path / "store"
    pull_reference(reference.parse(f"{registry}/{repo}-a:v1"), store, to=tmp_path / "a")

    log = Path(service_var("REGISTRY_TLS_LOG"))
    start = log.stat().st_size
    second = pull_reference(reference.parse(f"{tls_registry.address}/{repo}-b:v1"), store,
                            to=tmp_path / "b", **tls)
    stats = second.stats
    blobs = [plain_b / "blobs" / "sha256" / layer["digest"].split(":")[1]
             for layer in manifest_of(plain_b)["layers"]]
    assert _tree(tmp_path / "b") == _tree(unpack_layers(blobs, tmp_path / "expected"))
    size_b = sum(layer["size"] for layer in layers_b)
    extra_layer = layers_b[1]["size"]
    # TOCs, manifest, config, the new files
    assert stats.bytes_fetched < extra_layer + 0.03 * size_b, stats.as_dict()
    assert stats.bytes_reused > 0.9 * (size_b - extra_layer), stats.as_dict()
    assert [layer["mode"] for layer in second.layers] == ["cached", "full", "partial", "partial", "partial"]
    # the registry writes its access-log line when a request completes
    wait_until(lambda: _served(log, start, f"{repo}-b") >= stats.bytes_fetched, timeout=60,
               what="the registry's log lines of the pull")
    assert _served(log, start, f"{repo}-b") == stats.bytes_fetched
