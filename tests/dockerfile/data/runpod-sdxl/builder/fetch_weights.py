"""Download the SDXL weights into the image at build time (HF_TOKEN comes from a build secret)."""

import argparse
import os

from huggingface_hub import snapshot_download

MODEL_ID = os.environ.get("MODEL_ID", "stabilityai/stable-diffusion-xl-base-1.0")

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache", default="/worker/weights")
    args = parser.parse_args()
    snapshot_download(MODEL_ID, cache_dir=args.cache, token=os.environ.get("HF_TOKEN"))
