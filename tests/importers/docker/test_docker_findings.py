"""One mutation test per finding the Docker route adds: a fixture has it or not, and a small change to
the fixture turns it on or off (so no finding can pass without its cause)."""

from __future__ import annotations

from pathlib import Path

from falmigrate.convert import convert
from falmigrate.importers.dockerfile import DockerImporter


def _rules(root: Path, **options) -> dict[str, list]:
    found: dict[str, list] = {}
    spec = convert(root, "docker", **options).spec if options else DockerImporter().load(root)
    for finding in spec.findings:
        found.setdefault(finding.rule, []).append(finding)
    return found


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1))


def test_fm409_a_server_bound_to_loopback_in_code(fixture_copy):
    root = fixture_copy("spaces_healthcheck_user")
    assert "FM409" not in _rules(root)
    _edit(root / "app.py", 'ThreadingHTTPServer(("0.0.0.0", 7860)', 'ThreadingHTTPServer(("127.0.0.1", 7860)')
    (finding,) = _rules(root)["FM409"]
    assert finding.severity == "error" and str(finding.location) == "app.py:65"


def test_fm410_a_port_flag_the_server_never_reads(fixture_copy):
    root = fixture_copy("spaces_healthcheck_user")
    assert "FM410" in _rules(root)
    _edit(root / "Dockerfile", '["python", "app.py", "--port", "8080"]', '["python", "app.py"]')
    assert "FM410" not in _rules(root)


def test_fm411_a_healthcheck_that_runs_a_command(fixture_copy):
    root = fixture_copy("fastapi_uvicorn")
    assert "FM411" not in _rules(root)
    _edit(root / "Dockerfile", "CMD curl -fsS http://localhost:8000/health || exit 1", "CMD pgrep -f uvicorn")
    (finding,) = _rules(root)["FM411"]
    assert finding.severity == "info" and str(finding.location) == "Dockerfile:10"
    assert DockerImporter().load(root).server.health_path == "/health"  # from the code's route instead


def test_fm030_gpu_evidence_chooses_a_gpu_machine(fixture_copy):
    root = fixture_copy("node_server")
    assert "FM030" not in _rules(root) and DockerImporter().load(root).hardware.machine_type == "S"
    _edit(root / "Dockerfile", "FROM debian:bookworm-slim", "FROM nvidia/cuda:12.2.0-base-ubuntu22.04")
    (finding,) = _rules(root)["FM030"]
    assert str(finding.location) == "Dockerfile:2" and "nvidia/cuda:12.2.0" in finding.message
    assert DockerImporter().load(root).hardware.machine_type == "GPU-A100"


def test_fm030_off_when_the_code_has_no_cuda(fixture_copy):
    root = fixture_copy("dockerdir_from_root")
    assert "FM030" in _rules(root)
    _edit(root / "src/embedder/model.py", 'DEVICE = "cuda" if', 'DEVICE = "cpu" if')
    assert "FM030" not in _rules(root)


def test_fm031_side_services_of_a_compose_file(fixture_copy):
    root = fixture_copy("dockerdir_from_root")
    assert sorted(f.message.split("`")[1] for f in _rules(root)["FM031"]) == ["queue", "worker"]
    _edit(root / "docker-compose.yml", "  queue:\n", "  db:\n    image: postgres:16\n  queue:\n")
    assert sorted(f.message.split("`")[1] for f in _rules(root)["FM031"]) == ["db", "queue", "worker"]
    (root / "docker-compose.yml").unlink()
    assert "FM031" not in _rules(root)


def test_fm032_a_process_the_launcher_starts_next_to_the_server(fixture_copy):
    root = fixture_copy("entrypoint_script")
    assert "FM032" not in _rules(root)
    _edit(root / "docker-entrypoint.sh", 'exec "$@"', 'redis-server --daemonize yes\nexec "$@"')
    (finding,) = _rules(root)["FM032"]
    assert finding.severity == "warning" and str(finding.location) == "docker-entrypoint.sh:6"


def test_fm033_a_data_file_the_repository_lacks(fixture_copy):
    root = fixture_copy("dockerdir_from_root")
    assert "FM033" in _rules(root)
    _edit(root / "src/embedder/settings.py", '"/models/embedder-v3.safetensors"',
          '"weights/embedder-v3.safetensors"')
    assert "FM033" in _rules(root)
    (root / "weights").mkdir()
    (root / "weights/embedder-v3.safetensors").write_bytes(b"\0")
    assert "FM033" not in _rules(root)


def test_fm458_an_entrypoint_script_that_starts_the_server_under_native(fixture_copy):
    root = fixture_copy("entrypoint_script")
    assert "FM458" not in _rules(root, native=True)  # the script hands over to CMD: it keeps running
    _edit(root / "docker-entrypoint.sh", 'exec "$@"', "exec flask run --host 0.0.0.0 --port 7000")
    (finding,) = _rules(root, native=True)["FM458"]
    assert str(finding.location) == "docker-entrypoint.sh"
