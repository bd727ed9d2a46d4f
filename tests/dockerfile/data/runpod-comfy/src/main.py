"""A stand-in for ComfyUI's server: answers on --listen/--port until the worker stops."""

import argparse
from http.server import BaseHTTPRequestHandler, HTTPServer


class Ping(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")


parser = argparse.ArgumentParser()
parser.add_argument("--listen", default="127.0.0.1")
parser.add_argument("--port", type=int, default=8188)
args = parser.parse_args()
HTTPServer((args.listen, args.port), Ping).serve_forever()
