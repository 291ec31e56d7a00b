"""What the local fake web services (Overpass, Nominatim, geocoders) share: a quiet handler."""

from __future__ import annotations

import contextlib
from http.server import BaseHTTPRequestHandler
from typing import Any


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that logs nothing and answers with :meth:`_send`."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the http.server API)
        pass  # keep test output quiet

    def _send(
        self, status: int, body: str, content_type: str, headers: dict | None = None
    ) -> None:
        payload = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        # The client may have given up waiting (the "slow" fault).
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(payload)
