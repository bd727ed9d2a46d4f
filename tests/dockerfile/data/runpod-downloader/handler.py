import os

import runpod

MODEL_DIR = os.environ.get("MODEL_DIR", "/models")


def handler(job):
    return {"model_dir": MODEL_DIR, "steps": job["input"].get("steps", 1)}


runpod.serverless.start({"handler": handler})
