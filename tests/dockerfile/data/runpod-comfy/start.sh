#!/usr/bin/env bash
# start ComfyUI in the background, then the RunPod handler
python /comfyui/src/main.py --listen 127.0.0.1 --port 8188 &
exec python -u /comfyui/src/rp_handler.py
