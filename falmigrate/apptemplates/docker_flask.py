"""The ``--native`` Flask app's request dispatch: each fal endpoint runs the request through the user's
Flask app in-process, so its hooks, error handlers and ``flask.request`` behave as under a WSGI server.

Copied into generated apps by ``falmigrate.render.snippets`` (``codemods.docker_native.flask``).
"""

from typing import Any

from fastapi import Request, Response


def _falmigrate_flask(flask_app: Any, method: str, request: Request, body: bytes) -> Response:
    """Run one request through ``flask_app`` with the route's own ``method`` and return its response."""
    headers = [(k, v) for k, v in request.headers.items() if k.lower() not in ("host", "content-length")]
    with flask_app.test_request_context(request.url.path, method=method, data=body,
                                        query_string=request.url.query, headers=headers):
        answer = flask_app.full_dispatch_request()
    kept = {k: v for k, v in answer.headers.items() if k.lower() != "content-length"}
    return Response(content=answer.get_data(), status_code=answer.status_code, headers=kept)
