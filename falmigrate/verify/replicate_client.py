"""A Replicate client, standard library only: runs inside a container that shares a cog server's network.

    python3 replicate_client.py JOB_JSON

``JOB_JSON`` holds ``{"port", "ready_path", "timeout", "parallel", "inputs": [{...}, ...]}``. The client
waits until ``GET ready_path`` answers 200, reads ``GET /health-check``, then sends every input the way a
client of cog's HTTP API does — ``POST /predictions`` with ``{"input": …}`` and a JSON content type —
and prints one JSON line: ``{"health": <body>, "answers": [{"status", "body"}]}``. With ``parallel`` above
1 it keeps that many requests in flight, as fal's ``max_multiplexing`` does; one at a time, it sends the
next once ``/health-check`` says ``READY`` again, as a client with its own think time would (cog frees its
slot a moment after answering; a request in that moment would get 409, see FM195).
It is copied into the image under test, whose Python may be old: no syntax past Python 3.8.
"""

import json
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

HOST = "127.0.0.1"


def call(port, method, path, body=None, timeout=600.0):
    """(status, parsed JSON body or text) of one request; HTTP errors are answers too."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(f"http://{HOST}:{port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    text = raw.decode("utf-8", "replace")
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def wait_ready(port, path, timeout):
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            status, _ = call(port, "GET", path, timeout=5)
            if status == 200:
                return
            last = f"HTTP {status}"
        except OSError as error:
            last = repr(error)
        time.sleep(0.2)
    raise SystemExit(f"GET {path} on port {port} did not answer 200 within {timeout:.0f}s ({last})")


def wait_idle(port, timeout):
    """Until cog's /health-check says READY (a prediction slot is free)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, health = call(port, "GET", "/health-check", timeout=5)
        if isinstance(health, dict) and health.get("status") == "READY":
            return
        time.sleep(0.05)


def main(argv):
    with open(argv[1], encoding="utf-8") as handle:
        job = json.load(handle)
    port = int(job["port"])
    wait_ready(port, job["ready_path"], float(job["timeout"]))
    _, health = call(port, "GET", "/health-check", timeout=30)

    parallel = max(1, int(job.get("parallel", 1)))

    def predict(value):
        if parallel == 1:
            wait_idle(port, 60.0)
        status, body = call(port, "POST", "/predictions", {"input": value}, timeout=float(job["timeout"]))
        return {"status": status, "body": body}

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        answers = list(pool.map(predict, job["inputs"]))
    print(json.dumps({"health": health, "answers": answers}))


if __name__ == "__main__":
    main(sys.argv)
