"""Probing the server a built Docker fixture image runs (what the in-image fixture checks do not look at).

The engine has no bridge network, so the server container runs without a network and a probe container
joins its network namespace: it waits for the health path and checks that the server listens on all
interfaces (``/proc/net/tcp*``) — what fal needs to reach it from outside the container — then calls a
route. Images are built with ``tests.helpers.images.build_output``.
"""

from __future__ import annotations

import json
from pathlib import Path

PROBE = Path(__file__).with_name("probe_server.py")


def probe(client, image_id: str, probe_image: str, plan: dict) -> dict:
    """Run the image as it is (its own ENTRYPOINT/CMD) and probe it; the probe's JSON report."""
    server = client.containers.run(image_id, detach=True, network_mode="none")
    try:
        output = client.containers.run(
            probe_image, ["python3", "-c", PROBE.read_text(), json.dumps(plan)], remove=True,
            network_mode=f"container:{server.id}", entrypoint=[])
        return json.loads(output.decode().strip().splitlines()[-1])
    except Exception as exc:  # the server's own log says why it did not come up
        raise AssertionError(f"{exc}\nserver log:\n{server.logs().decode(errors='replace')[-3000:]}") from exc
    finally:
        server.remove(force=True)
