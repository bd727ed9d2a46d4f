"""Runs inside a probe container that shares the server container's network namespace (stdlib only).

argv[1] is a JSON plan: port, health path, an optional route to call (method, path, JSON body) and an
optional SSE path. Prints one JSON line: the health answer, whether a socket listens on all interfaces
for the port, the route's status and body, and the SSE events read.
"""

import json
import sys
import time
import urllib.error
import urllib.request

plan = json.loads(sys.argv[1])
base = f"http://127.0.0.1:{plan['port']}"


def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def wait_healthy(deadline):
    while True:
        try:
            return call("GET", plan["health"])
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def listens_on_all_interfaces(port):
    wildcard = {"00000000", "00000000000000000000000000000000"}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as handle:
            for row in handle.read().splitlines()[1:]:
                local, state = row.split()[1], row.split()[3]
                address, _, hex_port = local.partition(":")
                if state == "0A" and int(hex_port, 16) == port and address in wildcard:
                    return True
    return False


def sse(path):
    with urllib.request.urlopen(base + path, timeout=10) as answer:
        text = answer.read().decode()
    return [json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:")]


report = {"health": wait_healthy(time.monotonic() + 120),
          "all_interfaces": listens_on_all_interfaces(plan["port"])}
if plan.get("route"):
    method, path, body = plan["route"]
    report["route"] = call(method, path, body)
if plan.get("sse"):
    report["sse"] = sse(plan["sse"])
print(json.dumps(report))
