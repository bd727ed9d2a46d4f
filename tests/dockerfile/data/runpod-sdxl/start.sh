#!/usr/bin/env bash
set -euo pipefail
export WEIGHTS_DIR="${WEIGHTS_DIR:-/worker/weights}"
exec python3.11 -u /worker/src/handler.py
