import os

import runpod

WEIGHTS = os.environ.get("WEIGHTS_DIR", "/worker/weights")


def handler(job):
    prompt = job["input"].get("prompt", "a photo of a cat")
    return {"prompt": prompt, "weights": WEIGHTS}


runpod.serverless.start({"handler": handler})
