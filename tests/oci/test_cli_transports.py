"""pack/validate CLI and transports: dir-tree, oci, docker-archive (made by skopeo), layer cache."""

from __future__ import annotations

import json
import subprocess

from typer.testing import CliRunner

from falmigrate.cli.app import app
from falmigrate.oci.validate import validate


def test_pack_cli_tree_then_repack_reuses_layers(tmp_path):
    tree = tmp_path / "t"
    tree.mkdir()
    (tree / "app.py").write_text("print('hi')\n")
    (tree / "w.bin").write_bytes(bytes(range(256)) * 4000)
    runner = CliRunner()
    res = runner.invoke(app, ["pack", f"dir-tree:{tree}", f"oci:{tmp_path / 'lay'}:fp", "--json"])
    assert res.exit_code == 0, res.output
    first = json.loads(res.stdout)
    assert first["layers_reused"] == 0
    res = runner.invoke(app, ["pack", f"oci:{tmp_path / 'lay'}:fp", f"oci:{tmp_path / 'lay'}:gz",
                              "--compression", "gzip", "--json"])
    assert json.loads(res.stdout)["layers_reused"] == 0
    res = runner.invoke(app, ["pack", f"oci:{tmp_path / 'lay'}:gz", f"oci:{tmp_path / 'lay'}:fp2", "--json"])
    again = json.loads(res.stdout)
    assert again["layers_reused"] == 1 and again["digest"] == first["digest"]
    archive = tmp_path / "img.tar"
    subprocess.run(["skopeo", "copy", "-q", f"oci:{tmp_path / 'lay'}:gz", f"docker-archive:{archive}:x/y:z"],
                   check=True, capture_output=True)
    res = runner.invoke(app, ["pack", f"docker-archive:{archive}", f"oci:{tmp_path / 'lay2'}", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["digest"] == first["digest"]
    res = runner.invoke(app, ["validate", f"oci:{tmp_path / 'lay2'}", "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["ok"] is True
    validate(tmp_path / "lay")


def test_validate_cli_reports_problems_with_exit_4(tmp_path):
    tree = tmp_path / "t"
    tree.mkdir()
    (tree / "f").write_text("x" * 1000)
    runner = CliRunner()
    runner.invoke(app, ["pack", f"dir-tree:{tree}", f"oci:{tmp_path / 'lay'}", "--compression", "zstd"])
    for blob in (tmp_path / "lay" / "blobs" / "sha256").iterdir():
        if blob.read_bytes()[:4] == b"\x28\xb5\x2f\xfd":
            blob.write_bytes(blob.read_bytes()[:-2])
    res = runner.invoke(app, ["validate", str(tmp_path / "lay"), "--json"])
    assert res.exit_code == 4
    assert "content digest" in res.stdout


def test_validate_missing_layout_is_an_error_not_an_empty_layout(tmp_path):
    res = CliRunner().invoke(app, ["validate", str(tmp_path / "nothing"), "--json"])
    assert res.exit_code == 4
    assert not (tmp_path / "nothing").exists()
