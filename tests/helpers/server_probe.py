"""Run inside a container that shares the network of a server container (``--network container:ID``),
with only the Python standard library: wait for the server's health path, then send each case and
print one JSON line with what came back.

    python3 server_probe.py PORT HEALTH_PATH CASES_JSON

A case is ``{"endpoint", "method", "input"}`` plus an optional ``"kind"``: ``"http"`` (default; the
answer is ``{"status", "body"}``), ``"sse"`` (the ``data:`` payloads of a server-sent event stream, in
order) or ``"websocket"`` (each of ``"messages"`` sent as a text frame, the text frames received back).
"""

import base64
import http.client
import json
import os
import socket
import struct
import sys
import time
import urllib.parse

TIMEOUT = 180.0


def _request(port, method, path, body=None, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    data = None if body is None else json.dumps(body).encode()
    all_headers = {"Content-Type": "application/json"} if data is not None else {}
    all_headers.update(headers or {})
    connection.request(method, path, body=data, headers=all_headers)
    return connection, connection.getresponse()


def wait_healthy(port, path):
    deadline = time.monotonic() + TIMEOUT
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            connection, response = _request(port, "GET", path)
            response.read()
            connection.close()
            if response.status < 500:
                return
            last = f"HTTP {response.status}"
        except OSError as exc:
            last = repr(exc)
        time.sleep(0.2)
    raise SystemExit(f"GET {path} on port {port} did not answer below 500 within {TIMEOUT:.0f}s ({last})")


def _target(case):
    method = case.get("method", "POST").upper()
    path = case.get("endpoint", "/")
    body = case.get("input", {})
    if method in ("GET", "HEAD", "DELETE"):
        query = urllib.parse.urlencode(body or {})
        return method, path + (f"?{query}" if query else ""), None
    return method, path, body


def http_case(port, case):
    method, path, body = _target(case)
    connection, response = _request(port, method, path, body)
    raw = response.read().decode("utf-8", "replace")
    connection.close()
    try:
        return {"status": response.status, "body": json.loads(raw)}
    except ValueError:
        return {"status": response.status, "body": raw}


def sse_case(port, case):
    method, path, body = _target(case)
    connection, response = _request(port, method, path, body, {"Accept": "text/event-stream"})
    events = []
    for line in response:
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if text.startswith("data:"):
            events.append(text[5:].strip())
    connection.close()
    return {"status": response.status, "content_type": response.getheader("Content-Type"), "events": events}


def _frame(text):
    payload = text.encode()
    mask = os.urandom(4)
    header = bytes([0x81])
    if len(payload) < 126:
        header += bytes([0x80 | len(payload)])
    else:
        header += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _read_exact(sock, count):
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise OSError("the server closed the websocket")
        data += chunk
    return data


def _read_text(sock):
    first, second = _read_exact(sock, 2)
    length = second & 0x7F
    if length == 126:
        length = struct.unpack("!H", _read_exact(sock, 2))[0]
    elif length == 127:
        length = struct.unpack("!Q", _read_exact(sock, 8))[0]
    payload = _read_exact(sock, length)
    return first & 0x0F, payload.decode("utf-8", "replace")


def websocket_case(port, case):
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    key = base64.b64encode(os.urandom(16)).decode()
    path = case.get("endpoint", "/")
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += _read_exact(sock, 1)
    status = head.split(b"\r\n", 1)[0].decode()
    replies = []
    for message in case.get("messages", []):
        sock.sendall(_frame(message))
        opcode, text = _read_text(sock)
        replies.append(text if opcode == 1 else f"<opcode {opcode}>")
    sock.close()
    return {"handshake": status, "replies": replies}


def main():
    port, health, cases = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
    wait_healthy(port, health)
    handlers = {"http": http_case, "sse": sse_case, "websocket": websocket_case}
    print(json.dumps([handlers[case.get("kind", "http")](port, case) for case in cases]))


if __name__ == "__main__":
    main()
