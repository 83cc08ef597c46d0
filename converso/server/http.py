"""The plain HTTP side of the chat server: the chat page, the widget script and the health check.

websockets calls ``process_request`` before every handshake; returning a response answers the
request as ordinary HTTP, returning None lets the WebSocket handshake go on.
"""

from __future__ import annotations

import email.utils
import json
from collections.abc import Callable
from http import HTTPStatus
from importlib import resources
from typing import Any

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

WEBSOCKET_PATH = "/ws"

_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/widget.js": ("widget.js", "text/javascript; charset=utf-8"),
}


def _load_static() -> dict[str, tuple[bytes, str]]:
    folder = resources.files("converso.server") / "static"
    return {path: ((folder / name).read_bytes(), ctype) for path, (name, ctype) in _STATIC.items()}


def response(status: int, body: bytes, content_type: str, **headers: str) -> Response:
    code = HTTPStatus(status)
    all_headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Length", str(len(body))),
            ("Content-Type", content_type),
            ("Cache-Control", "no-cache"),
        ]
    )
    for name, value in headers.items():
        all_headers[name.replace("_", "-")] = value
    return Response(code.value, code.phrase, all_headers, body)


def json_response(status: int, payload: dict[str, Any]) -> Response:
    return response(status, json.dumps(payload).encode(), "application/json")


class Router:
    """Answers GET /, /widget.js and /healthz; lets WebSocket upgrades to /ws through."""

    def __init__(self, health: Callable[[], tuple[bool, dict[str, Any]]]) -> None:
        self._static = _load_static()
        self._health = health

    def __call__(self, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        healthy, details = self._health()
        if path == WEBSOCKET_PATH and request.headers.get("Upgrade", "").lower() == "websocket":
            if not healthy:
                return json_response(503, {**details, "error": "the server is shutting down; reconnect"})
            return None
        if path == "/healthz":
            return json_response(200 if healthy else 503, details)
        if path in self._static:
            body, content_type = self._static[path]
            # The widget is loaded from other sites by a <script> tag; allow that explicitly.
            return response(200, body, content_type, Access_Control_Allow_Origin="*")
        if path == WEBSOCKET_PATH:
            return response(
                426,
                b"Connect with a WebSocket client to /ws.\n",
                "text/plain; charset=utf-8",
                Upgrade="websocket",
            )
        return response(
            404,
            b"Not found. This server answers GET /, /widget.js, /healthz and WebSocket /ws.\n",
            "text/plain; charset=utf-8",
        )
