"""Third-party readers of our chunked FlashPack layers: skopeo copies them byte for byte, and podman 4.3
(containers/storage's zstd:chunked differ, partial pulls enabled on overlay) pulls them from the
loopback registry by ranges — zero chunks become holes, and after an edit in the middle of the
weights file podman fetches only the changed chunk, like our own puller."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from falmigrate.oci.compress import toc as toclib
from falmigrate.oci.layout import Layout, pack_tree
from falmigrate.oci.remote import reference
from falmigrate.oci.remote.push import push_layout
from tests.helpers.wait import wait_until
from tests.oci.test_chunks import write_weights

MiB = 1 << 20
_LOG = re.compile(r'"GET (/v2/\S+) HTTP/[\d.]+" (\d{3}) (\d+) "[^"]*" "containers/')


def _layer(layout: Path) -> tuple[dict, Path]:
    lay = Layout(layout)
    manifest = json.loads(lay.blob_path(lay.resolve("x")["digest"]).read_bytes())
    layer = manifest["layers"][0]
    return layer, lay.blob_path(layer["digest"])


def _weights_chunks(blob: Path) -> list[toclib.Chunk]:
    entries = toclib.read_toc(toclib.file_reader(blob), blob.stat().st_size)["entries"]
    return next(chunks for entry, chunks in toclib.file_chunks(entries) if entry["name"] == "m/w.bin")


@pytest.fixture
def podman(tmp_path: Path):
    runroot = Path(tempfile.mkdtemp(prefix="fmc-", dir="/tmp"))  # podman wants a short runroot
    conf = tmp_path / "storage.conf"
    conf.write_text(f'[storage]\ndriver = "overlay"\nrunroot = "{runroot}"\n'
                    f'graphroot = "{tmp_path / "root"}"\n[storage.options]\n'
                    'pull_options = {enable_partial_images = "true", use_hard_links = "false", '
                    'ostree_repos = ""}\n')

    def run(*args: str) -> subprocess.CompletedProcess:
        env = {"CONTAINERS_STORAGE_CONF": str(conf), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
               "HOME": str(tmp_path)}
        return subprocess.run(["podman", "--log-level", "debug", *args], check=False, capture_output=True,
                              text=True, timeout=300, env=env)
    yield run
    run("image", "unmount", "-a")
    run("rmi", "-a", "-f")
    subprocess.run(["umount", "-R", str(tmp_path / "root" / "overlay")], check=False, capture_output=True)
    shutil.rmtree(runroot, ignore_errors=True)


def test_skopeo_copies_our_chunked_layer_byte_for_byte(tmp_path) -> None:
    tree = tmp_path / "tree"
    (tree / "m").mkdir(parents=True)
    write_weights(tree / "m" / "w.bin", 16)
    pack_tree(tree, tmp_path / "lay", "x", "flashpack")
    layer, blob = _layer(tmp_path / "lay")
    assert any(c.zeros for c in _weights_chunks(blob)) and len(_weights_chunks(blob)) > 20
    subprocess.run(["skopeo", "copy", "-q", f"oci:{tmp_path / 'lay'}:x", f"dir:{tmp_path / 'dir'}"],
                   check=True, capture_output=True)
    assert (tmp_path / "dir" / layer["digest"].split(":")[1]).read_bytes() == blob.read_bytes()
    inspect = subprocess.run(["skopeo", "inspect", f"oci:{tmp_path / 'lay'}:x"], check=True,
                             capture_output=True, text=True)
    assert layer["digest"] in inspect.stdout


def test_podman_partial_pull_reads_our_chunks_and_zero_runs(registry, registry_log, podman, tmp_path) -> None:
    tree = tmp_path / "tree"
    (tree / "m").mkdir(parents=True)
    write_weights(tree / "m" / "w.bin", 12, seed=21)
    (tree / "hello.txt").write_text("hi\n")
    ref = f"{registry}/test/podman-chunks-{tmp_path.name[-8:].lower()}"
    pack_tree(tree, tmp_path / "v1", "x", "flashpack")
    push_layout(tmp_path / "v1", "x", reference.parse(f"{ref}:v1"))

    pulled = podman("pull", "--tls-verify=false", f"{ref}:v1")
    assert pulled.returncode == 0, pulled.stderr[-3000:]
    assert "Retrieved partial blob" in pulled.stderr  # its zstd:chunked differ took our TOC, not the tar
    mount = podman("image", "mount", f"{ref}:v1")
    assert mount.returncode == 0, mount.stderr[-2000:]
    root = Path(mount.stdout.strip())
    assert (root / "m" / "w.bin").read_bytes() == (tree / "m" / "w.bin").read_bytes()
    assert (root / "hello.txt").read_text() == "hi\n"
    chunks = _weights_chunks(_layer(tmp_path / "v1")[1])
    zero_bytes = sum(c.size for c in chunks if c.zeros)
    assert (root / "m" / "w.bin").stat().st_blocks * 512 <= 12 * MiB - zero_bytes + 64 * 1024  # holes

    data = bytearray((tree / "m" / "w.bin").read_bytes())
    data[len(data) // 2:len(data) // 2 + 64] = b"\x01" * 64
    (tree / "m" / "w.bin").write_bytes(bytes(data))
    pack_tree(tree, tmp_path / "v2", "x", "flashpack")
    push_layout(tmp_path / "v2", "x", reference.parse(f"{ref}:v2"))
    layer2, blob2 = _layer(tmp_path / "v2")
    changed = [c for c in _weights_chunks(blob2) if c.digest not in {old.digest for old in chunks}]
    assert 1 <= len(changed) <= 2
    start = registry_log.stat().st_size
    update = podman("pull", "--tls-verify=false", f"{ref}:v2")
    assert update.returncode == 0, update.stderr[-3000:]
    missing = re.search(r"Missing (\d+) bytes out of (\d+)", update.stderr)
    assert missing and int(missing.group(1)) == sum(c.size for c in changed), update.stderr[-3000:]

    def logged_layer_bytes() -> int:
        with registry_log.open("rb") as handle:
            handle.seek(start)
            text = handle.read().decode(errors="replace")
        return sum(int(m.group(3)) for m in _LOG.finditer(text) if layer2["digest"] in m.group(1))

    # the registry writes an access log line as each response completes: wait until the lines of the
    # layer count at least what the pull had to fetch (its compressed TOC and the missing chunks), so
    # the bound below sees every range of the pull
    position = layer2["annotations"]["io.github.containers.zstd-chunked.manifest-position"]
    toc_length = int(position.split(":")[1])
    fetched_at_least = toc_length + int(missing.group(1))
    wait_until(lambda: logged_layer_bytes() >= fetched_at_least, timeout=30,
               what=f"the registry log to show >= {fetched_at_least} B of the layer")
    layer_bytes = logged_layer_bytes()
    assert (0 < layer_bytes
            <= toc_length + sum(c.end - c.offset for c in changed) + 4096), (layer_bytes, toc_length)
    mount = podman("image", "mount", f"{ref}:v2")
    assert Path(mount.stdout.strip(), "m", "w.bin").read_bytes() == bytes(data)
