"""The docker:// transport hook: registry → OCI layout → registry (what `pack docker://A docker://B` uses)."""

from __future__ import annotations

import subprocess

from falmigrate.oci.remote import transport
from falmigrate.oci.remote.push import push_layout
from falmigrate.oci.remote.reference import parse


def test_pull_to_layout_and_write_image(registry, chunked_layout, repo, tmp_path) -> None:
    src = push_layout(chunked_layout, "latest", parse(f"{registry}/{repo}:src"))
    tag, pulled = transport.pull_to_layout(f"docker://{registry}/{repo}:src", tmp_path / "layout")
    assert tag == "src" and pulled.digest == src.digest
    inspect = subprocess.run(["skopeo", "inspect", f"oci:{tmp_path / 'layout'}:src"], capture_output=True,
                             text=True, check=False)
    assert inspect.returncode == 0, inspect.stderr
    written = transport.write_image(tmp_path / "layout", tag, f"docker://{registry}/{repo}-out:v1",
                                    mount_from=(repo,))
    assert (written.digest == src.digest and written.stats.blobs_uploaded == 0
            and written.stats.blobs_mounted == 2)
    assert transport.parse("docker://busybox").repository == "library/busybox"
