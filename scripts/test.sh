#!/usr/bin/env bash
# The test command: project venv + test services + pytest.
#
#   bash scripts/test.sh [pytest args...]
#
# Makes (or reuses) .venv with `pip install -e '.[test]'` (re-installed when pyproject.toml changes),
# starts the services of scripts/services.sh (Docker engine, registries, base image), runs pytest
# with the given arguments and stops the services again on exit, unless they were already running
# before (then someone else owns them). Exits with pytest's exit code.
# FALMIGRATE_PYTEST_WORKERS=N runs pytest-xdist with N workers (default: serial).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
VENV="$REPO/.venv"
PYTHON="${FALMIGRATE_PYTHON:-python3}"

log() { echo "test.sh: $*" >&2; }

ensure_venv() {
  local stamp="$VENV/.falmigrate-stamp" want
  want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
  if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    log "reusing $VENV"; return
  fi
  if ! "$PYTHON" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      log "installing python3-venv"
      DEBIAN_FRONTEND=noninteractive apt-get update -qq && apt-get install -y -qq python3 python3-venv python3-pip >&2
      PYTHON=/usr/bin/python3
    else
      log "need Python >= 3.11 with venv"; exit 1
    fi
  fi
  log "creating $VENV"
  "$PYTHON" -m venv "$VENV"
  # pip's output goes to a log (the machine's extra indexes make it noisy); shown when it fails
  if ! { "$VENV/bin/python" -m pip install -q --upgrade pip &&
         "$VENV/bin/python" -m pip install -q -e '.[test]'; } >"$VENV/pip-install.log" 2>&1; then
    grep -v '^WARNING: Location' "$VENV/pip-install.log" | tail -40 >&2
    log "pip install failed (full log: $VENV/pip-install.log)"; exit 1
  fi
  echo "$want" >"$stamp"
}

ensure_venv

if [ "${FALMIGRATE_SKIP_SERVICES:-0}" = 1 ]; then
  log "FALMIGRATE_SKIP_SERVICES=1: not starting services"
elif bash scripts/services.sh status; then
  log "services already running: using them and leaving them running"
else
  # Stop them on exit only if this run is the one that started them (another caller may have
  # started them meanwhile and still be using them).
  owner="test.sh-$$-$RANDOM"
  trap 'bash scripts/services.sh stop-if-owner "$owner" || true' EXIT
  FALMIGRATE_SERVICES_OWNER="$owner" bash scripts/services.sh start
fi

args=()
if [ -n "${FALMIGRATE_PYTEST_WORKERS:-}" ]; then
  args+=(-n "$FALMIGRATE_PYTEST_WORKERS")
fi

set +e
"$VENV/bin/python" -m pytest "${args[@]}" "$@"
rc=$?
set -e
log "pytest exited with $rc"
exit $rc
