#!/usr/bin/env bash
# The README's first command: convert a bundled example, then build it into a FlashPack image.
#
#   bash scripts/demo.sh [FIXTURE_INPUT_DIR]
#
# 1. makes/reuses the project venv (.venv) like scripts/test.sh;
# 2. `falmigrate convert` a bundled Replicate cog example into /tmp/falmigrate-demo/out and prints
#    the generated files;
# 3. starts the local services (Docker engine, registry, base image; stopped again at the end if
#    this script started them), `falmigrate build`s the generated Dockerfile on the local
#    Debian+Python base image into a local OCI layout (FlashPack layers), `falmigrate validate`s it
#    and prints the build summary.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
DEMO="${FALMIGRATE_DEMO_DIR:-/tmp/falmigrate-demo}"
say() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

pick_fixture() {
  local dir
  for dir in fixtures/cog/*/input fixtures/*/*/input; do
    if [ -d "$dir" ]; then echo "$dir"; return; fi
  done
  echo "no bundled fixture found under fixtures/" >&2; exit 1
}
SRC="${1:-$(pick_fixture)}"

say "project venv"
# test.sh with --version only prepares the venv and checks pytest; services are not needed for it.
FALMIGRATE_SKIP_SERVICES=1 bash scripts/test.sh --version >/dev/null
FM="$REPO/.venv/bin/falmigrate"

say "falmigrate convert $SRC --out $DEMO/out"
rm -rf "$DEMO"
mkdir -p "$DEMO"
"$FM" convert "$SRC" --out "$DEMO/out"
for f in "$DEMO"/out/*; do
  say "$f"
  cat "$f"
done

say "starting the local Docker engine + registry (scripts/services.sh)"
started=0
if ! bash scripts/services.sh status; then
  started=1
  owner="demo.sh-$$-$RANDOM"
  trap 'bash scripts/services.sh stop-if-owner "$owner" >/dev/null 2>&1 || true' EXIT
  FALMIGRATE_SERVICES_OWNER="$owner" bash scripts/services.sh start
fi
eval "$(bash scripts/services.sh env)"
export DOCKER_HOST="$FALMIGRATE_TEST_DOCKER_HOST"

# The generated Dockerfile ends with what fal's runtime needs (curl, `pip install fal`); the local base
# gets both offline (this machine's curl, fal from a local wheelhouse) so the build needs no network.
say "base image with fal's runtime needs (from $FALMIGRATE_TEST_BASE_IMAGE)"
BASE="$(PYTHONPATH="$REPO" "$REPO/.venv/bin/python" -c '
import os, sys, docker
from tests.helpers.fal_base import ensure_fal_ready_image
client = docker.DockerClient(base_url=os.environ["DOCKER_HOST"], version="auto", timeout=1800)
print(ensure_fal_ready_image(client, os.environ["FALMIGRATE_TEST_BASE_IMAGE"]))')"

say "falmigrate build (engine build on $BASE → FlashPack → OCI layout $DEMO/oci)"
"$FM" build "$DEMO/out" --base-image "$BASE" --network host \
  --tag "$FALMIGRATE_TEST_REGISTRY/falmigrate-demo/app:latest" --layout "$DEMO/oci" --json >"$DEMO/build.json"
python3 - "$DEMO/build.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"image id  {r['image_id']}")
print(f"digest    {r.get('digest')}  ({r['compression']}, builder {r['builder']})")
for layer in r.get("layers", []):
    print(f"  layer {layer['digest']}  {layer['size']:>12,} bytes")
print("timings   " + ", ".join(f"{k} {v:.1f}s" for k, v in r["timings"].items()))
PY

say "falmigrate validate oci:$DEMO/oci"
"$FM" validate "oci:$DEMO/oci"
say "done: generated app in $DEMO/out, image in $DEMO/oci"
[ "$started" = 1 ] && say "stopping the services this demo started"
exit 0
