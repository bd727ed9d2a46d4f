"""GPU-stack benchmark (not a test): FlashPack pack and pull of real CUDA/torch images against `zstd`,
skopeo and `docker pull`, cross-image dedup, startup set first.

    python bench/gpu_stack.py [--small] [--json OUT] [--rounds N] [--work DIR] [--keep]

Needs the services of scripts/services.sh (engine, loopback registry, base image; `.services/env`).
Default stack: torch with its CUDA wheels (several GB); ``--small``: numpy + the CUDA runtime + cuBLAS
(~0.8 GB). Two images share the stack under different layer digests (bench/gpu_images.py says how they
are made). Steps, all in one run on this machine:

1. both images as gzip (for the engine) and pushed; A pulled by the engine and run once under our
   startup profiler (``build.profile``: the stack's real import, in the image);
2. both images as FlashPack with that profile, pushed; A's stack layer pack timed against
   ``zstd -T0 -3`` (CPU), the format's floor (SHA-256 of every mandated digest + zstd) and
   ``skopeo copy --dest-compress-format zstd:chunked``;
3. cold pull + unpack of A: ours (``falmigrate pull --to``) and ``docker pull`` of the gzip variant,
   interleaved rounds (each from nothing: store/rootfs or image removed, ``sync`` first). Ours writes
   to a new ext4 file system made for the run (see ``PullDisk``), not into the shared work disk;
4. with A in each store, B: bytes ours fetches (client count) and bytes the registry sent for docker's
   pull of B (its access log).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import gpu_images
from benchenv import PullDisk, services

from falmigrate.oci.remote import reference
from falmigrate.oci.remote.push import push_layout

_LOG_LINE = re.compile(r'"GET (/v2/\S+) HTTP/[\d.]+" (200|206) (\d+)')


class Bench:
    def __init__(self, size: str, work: Path, rounds: int) -> None:
        self.size, self.work, self.rounds = size, work, rounds
        self.env = services()
        self.registry = self.env["REGISTRY"]
        os.environ["DOCKER_HOST"] = self.env["DOCKER_HOST"]  # the docker-daemon: transport and the profiler
        self.docker_env = dict(os.environ)
        self.repo = f"oci-bench-gpu-{size}-{int(time.time())}"
        self.disk: PullDisk | None = None
        self.results: dict = {"stack": size, "registry": self.registry, "repository": self.repo,
                              "rounds": rounds,
                              "route": "pack (docker-daemon: base + dir-tree stack/app layers), not "
                                       "`falmigrate build`: the engine's vfs driver copies the whole rootfs "
                                       "per build step",
                              "load_average_1m": {"start": round(os.getloadavg()[0], 2)}}

    def ref(self, image: str, variant: str) -> str:
        return f"{self.registry}/{self.repo}/{image}:{variant}"

    def docker(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(["docker", *args], capture_output=True, text=True, env=self.docker_env,
                              check=False)
        if check and done.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def push(self, layout: Path, image: str, variant: str) -> int:
        push_layout(layout, "latest", reference.parse(self.ref(image, variant)))
        stored = gpu_images.Layout(layout)
        manifest = json.loads(stored.read_blob(stored.descriptor("latest").digest))
        shutil.rmtree(layout)
        return sum(layer["size"] for layer in manifest["layers"])

    # -- 1 and 2: images -----------------------------------------------------------------------------
    def images(self) -> None:
        started = time.monotonic()
        trees = gpu_images.trees(self.work, self.size)
        self.results["stack_bytes_on_disk"] = int(gpu_images.run("du", "-sb", str(trees["stack"])).split()[0])
        scratch = self.work / "scratch"
        scratch.mkdir()
        gpu_images.base_gzip(self.work, self.env["BASE_IMAGE"])
        layers = {"a": [trees["stack"], trees["app_a"]], "b": [trees["tools"], trees["stack_b"],
                                                               trees["app_b"]]}
        self.b_gzip_trees = layers["b"]  # B's gzip variant is made when docker pulls it (step 4)
        sizes = {}
        gpu_images.compose(self.work / "a-gz", self.work / "base-gz", layers["a"], "gzip", None, scratch)
        sizes["a_gzip_bytes"] = self.push(self.work / "a-gz", "a", "gz")
        profile = self.profile()
        base_fp = gpu_images.base_flashpack(self.work, profile)
        _, packed = gpu_images.compose(self.work / "a-fp", base_fp, layers["a"], "flashpack", profile,
                                       scratch,
                                       timed=trees["stack"])
        sizes["a_flashpack_bytes"] = self.push(self.work / "a-fp", "a", "fp")
        gpu_images.compose(self.work / "b-fp", base_fp, layers["b"], "flashpack", profile, scratch)
        sizes["b_flashpack_bytes"] = self.push(self.work / "b-fp", "b", "fp")
        shutil.rmtree(trees["stack"], ignore_errors=True)  # stack_b is a hard-linked copy: its files stay
        self.results["images"] = sizes
        self.results["pack"] = gpu_images.pack_measurements(packed, scratch / "timed.tar",
                                                            scratch / "timed.blob",
                                                            scratch)
        shutil.rmtree(scratch)
        self.results["make_images_seconds"] = round(time.monotonic() - started, 1)

    def pack_only(self) -> None:
        """Step 2's pack measurements alone (no engine needed): the stack as one layer."""
        stack = self.work / "stack"
        gpu_images.install(stack / gpu_images.SITE, gpu_images.STACKS[self.size])
        self.results["stack_bytes_on_disk"] = int(gpu_images.run("du", "-sb", str(stack)).split()[0])
        scratch = self.work / "scratch"
        scratch.mkdir()
        packed = gpu_images.pack_layer(stack, scratch)
        shutil.rmtree(stack)
        self.results["pack"] = gpu_images.pack_measurements(packed, scratch / "timed.tar",
                                                            scratch / "timed.blob",
                                                            scratch)
        shutil.rmtree(scratch)

    def profile(self) -> list[str]:
        """Run A (gzip, pulled by the engine) once under the startup profiler: the files its import opens."""
        import docker

        from falmigrate.build.profile import profile_startup

        image = self.ref("a", "gz")
        self.docker("pull", "-q", image)
        client = docker.APIClient(base_url=self.env["DOCKER_HOST"], version="auto", timeout=600)
        try:
            paths = profile_startup(client, image, command=["python3", "-c", gpu_images.STARTUP[self.size]],
                                    seconds=300)
        finally:
            client.close()
        self.docker("rmi", "-f", image, check=False)
        self.results["startup_profile"] = {"command": gpu_images.STARTUP[self.size], "paths": len(paths)}
        (self.work / "startup-profile.txt").write_text("".join(f"{p}\n" for p in paths))
        return [p.lstrip("/") for p in paths]

    # -- 3: cold pulls -------------------------------------------------------------------------------
    def ours(self, image: str, store: Path, rootfs: Path) -> dict:
        done = subprocess.run([sys.executable, "-m", "falmigrate", "pull",
                               f"docker://{self.ref(image, 'fp')}",
                               "--store", str(store), "--to", str(rootfs), "--json",
                               # the test base image has /dev/console; docker makes it too
                               "--allow-devices"],
                              capture_output=True, text=True, check=False, env={**os.environ,
                                                                                "COLUMNS": "200"})
        if done.returncode != 0:
            raise RuntimeError(f"falmigrate pull: {done.stderr.strip()[-2000:]}")
        return json.loads(done.stdout)

    def cpu_seconds(self, who: str) -> float:
        """CPU seconds used so far by our pulls (this process's waited-for children) or by the engine
        (``dockerd`` and its reaped children, e.g. the untar it re-executes itself as)."""
        if who == "ours":
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            return children.ru_utime + children.ru_stime
        pid = (Path(self.env["STATE"]) / "dockerd.pid").read_text().strip()
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
        return ticks / os.sysconf("SC_CLK_TCK")

    def cold_rounds(self) -> None:
        # room for one rootfs, its store and the same again for B's pull in step 4
        self.disk = PullDisk(self.work, 3 * self.results["stack_bytes_on_disk"] + (4 << 30))
        self.results["ours_pull_filesystem"] = self.disk.description
        store, rootfs = self.disk.path / "store", self.disk.path / "rootfs"
        rounds = []
        for number in range(self.rounds):
            row: dict = {"load_average_1m": round(os.getloadavg()[0], 2)}
            order = ("ours", "docker") if number % 2 == 0 else ("docker", "ours")
            for who in order:
                if who == "ours":
                    shutil.rmtree(store, ignore_errors=True)
                    shutil.rmtree(rootfs, ignore_errors=True)
                else:
                    self.docker("rmi", "-f", self.ref("a", "gz"), check=False)
                os.sync()
                start, cpu = time.monotonic(), self.cpu_seconds(who)
                report = self.ours("a", store, rootfs) if who == "ours" else self.docker("pull", "-q",
                                                                                         self.ref("a", "gz"))
                row[f"{who}_seconds"] = round(time.monotonic() - start, 2)
                row[f"{who}_cpu_seconds"] = round(self.cpu_seconds(who) - cpu, 2)
                if who == "ours":
                    row["ours_startup_ready_seconds"] = report["startup_ready_seconds"]
                    row["ours_pull_seconds"] = report["seconds"]
                    row["ours_bytes_fetched"] = report["bytes_fetched"]
                    row["ours_startup_files"] = report["startup_files"]
            row["ratio"] = round(row["ours_seconds"] / row["docker_seconds"], 2)
            rounds.append(row)
        self.results["cold_rounds"] = rounds
        best_ours = min(r["ours_seconds"] for r in rounds)
        self.results["cold_pull_vs_docker"] = round(best_ours / min(r["docker_seconds"] for r in rounds), 2)
        median = statistics.median
        self.results["cold_pull_vs_docker_median_same_round"] = round(median(r["ratio"] for r in rounds), 2)
        self.results["cold_pull_cpu_vs_docker"] = round(median(r["ours_cpu_seconds"] for r in rounds)
                                                        / median(r["docker_cpu_seconds"] for r in rounds), 2)
        best = min(rounds, key=lambda r: r["ours_seconds"])
        self.results["startup_ready_share"] = round(best["ours_startup_ready_seconds"]
                                                    / best["ours_pull_seconds"], 3)
        self.results["startup_ready_share_all_rounds"] = [
            round(r["ours_startup_ready_seconds"] / r["ours_pull_seconds"], 3) for r in rounds]

    # -- 4: cross-image ------------------------------------------------------------------------------
    def cross_image(self) -> None:
        """B after A: A stays in our store (its rootfs is removed) and in the engine (last round's pull)."""
        shutil.rmtree(self.disk.path / "rootfs", ignore_errors=True)
        report = self.ours("b", self.disk.path / "store", self.disk.path / "rootfs_b")
        shutil.rmtree(self.disk.path / "rootfs_b", ignore_errors=True)
        images = self.results["images"]
        self.results["cross_image_ours"] = {k: report[k] for k in ("bytes_fetched", "bytes_reused", "seconds",
                                                                   "files_fetched", "files_reused", "layers")}
        share = report["bytes_fetched"] / images["b_flashpack_bytes"]
        self.results["cross_image_fetch_share"] = round(share, 4)
        scratch = self.work / "scratch"
        scratch.mkdir(exist_ok=True)
        gpu_images.compose(self.work / "b-gz", self.work / "base-gz", self.b_gzip_trees, "gzip", None,
                           scratch)
        images["b_gzip_bytes"] = self.push(self.work / "b-gz", "b", "gz")
        for tree in self.b_gzip_trees:
            shutil.rmtree(tree, ignore_errors=True)
        # the engine's vfs driver keeps a full copy of the rootfs per layer: B needs ~2x its unpacked
        # size; the disk is shared, so do not fill it
        need = 2 * self.results["stack_bytes_on_disk"] + (10 << 30)
        if shutil.disk_usage(self.work).free < need:
            self.results["cross_image_fetch_share_docker"] = None
            note = f"skipped: under {need >> 30} GiB free on the shared disk"
            self.results["cross_image_docker_note"] = note
            return
        log = Path(self.env["REGISTRY_LOG"])
        start = log.stat().st_size
        self.docker("pull", "-q", self.ref("b", "gz"))
        served = _served(log, start, f"{self.repo}/b")
        self.results["cross_image_docker_bytes"] = served
        self.results["cross_image_fetch_share_docker"] = round(served / images["b_gzip_bytes"], 4)

    def cleanup(self) -> None:
        if self.disk is not None:
            self.disk.close()
        for image in ("a", "b"):
            self.docker("rmi", "-f", self.ref(image, "gz"), check=False)


def _served(log: Path, start: int, repo: str) -> int:
    """Blob bytes the registry sent for ``repo`` since ``start`` (its access log is written per request)."""
    deadline, total = time.monotonic() + 10, -1
    while time.monotonic() < deadline:
        with log.open("rb") as handle:
            handle.seek(start)
            text = handle.read().decode(errors="replace")
        blobs = f"/v2/{repo}/blobs/"
        now = sum(int(m.group(3)) for m in _LOG_LINE.finditer(text) if m.group(1).startswith(blobs))
        if now == total:
            return now
        total = now
        time.sleep(1)
    return total


def markdown(r: dict) -> str:
    p = r["pack"]
    lines = [
        (f"Stack `{r['stack']}`: {r['stack_bytes_on_disk'] / 1e9:.2f} GB installed; "
         f"image A {r['images']['a_flashpack_bytes'] / 1e9:.2f} GB "
        f"FlashPack / {r['images']['a_gzip_bytes'] / 1e9:.2f} GB gzip; load average {r['load_average_1m']}."),
        "",
        "| measurement | value | target |",
        "|---|---|---|",
        (f"| pack_cpu_vs_zstd (stack layer, {p['tar_bytes'] / 1e9:.2f} GB tar) | {p['pack_cpu_vs_zstd']}x "
        f"({p['flashpack_cpu_seconds']} / {p['zstd_cpu_seconds']} CPU s) | |"),
        (f"| pack_cpu_vs_floor | {p['pack_cpu_vs_floor']}x (floor {p['floor']['cpu_seconds']} CPU s) "
         "| <= 1.3 |"),
        (f"| pack_time_vs_skopeo | {p['pack_time_vs_skopeo']}x ({p['flashpack_seconds']} / "
        f"{p['skopeo_zstd_chunked_seconds']} s) | <= 0.15 |"),
        f"| cold_pull_vs_docker (best vs best) | {r['cold_pull_vs_docker']}x | <= 0.5 |",
        f"| cold pull, median of same-round ratios | {r['cold_pull_vs_docker_median_same_round']}x | |",
        f"| cold pull CPU seconds, ours / the engine's (medians) | {r['cold_pull_cpu_vs_docker']}x | |",
        f"| startup_ready_share | {r['startup_ready_share']} | <= 0.5 (small) |",
        f"| cross_image_fetch_share | {r['cross_image_fetch_share']} | <= 0.10 |",
        f"| cross_image_fetch_share_docker | {r['cross_image_fetch_share_docker']} | ~1.0 |",
        "",
        "Rounds: " + "; ".join(f"ours {x['ours_seconds']} s (startup ready {x['ours_startup_ready_seconds']} "
                               f"s), docker {x['docker_seconds']} s, load {x['load_average_1m']}"
                               for x in r["cold_rounds"]),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="numpy + CUDA runtime + cuBLAS instead of torch")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--rounds", type=int,
                        help="cold-pull rounds per contender (default 3 small, 2 torch)")
    parser.add_argument("--work", type=Path, help="work directory (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--pack-only", action="store_true",
                        help="only the pack measurements (no engine needed)")
    args = parser.parse_args()
    size = "small" if args.small else "torch"
    work = Path(tempfile.mkdtemp(prefix=f"falmigrate-bench-gpu-{size}-", dir=args.work))
    os.environ["XDG_CACHE_HOME"] = str(work / "cache")
    bench = Bench(size, work, args.rounds or (3 if args.small else 2))
    started = time.monotonic()
    def save() -> None:  # after every step: a run stopped half-way still leaves its numbers
        if args.json:
            args.json.write_text(json.dumps(bench.results, indent=2) + "\n")

    try:
        steps = (bench.pack_only,) if args.pack_only else (bench.images, bench.cold_rounds, bench.cross_image)
        for step in steps:
            step()
            save()
    finally:
        if not args.pack_only:
            bench.cleanup()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    bench.results["load_average_1m"]["end"] = round(os.getloadavg()[0], 2)
    bench.results["total_seconds"] = round(time.monotonic() - started, 1)
    save()
    print(json.dumps(bench.results, indent=2))
    if not args.pack_only:
        print(markdown(bench.results))


if __name__ == "__main__":
    main()
