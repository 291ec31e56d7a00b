"""A local stand-in for the AMap and Baidu geocoding REST APIs, on 127.0.0.1.

It answers ``GET /v3/geocode/geo`` as AMap does (``status``/``info``/``geocodes`` with a
``"lon,lat"`` GCJ-02 ``location``) and ``GET /geocoding/v3/`` as Baidu does (``status`` 0 with
``result.location`` in BD-09, status 1 "无相关结果" when nothing is found), for a fixed book of
addresses given in WGS84 (converted here with prcoords, independently of lifecircle). Requests
with another key are refused the way the services refuse them.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import prcoords

from ._fake_http import QuietHandler

KEY = "test-key"


class FakeGeocoder:
    """Serve ``book`` (address → WGS84 (lon, lat)) until :meth:`stop`."""

    def __init__(self, book: dict[str, tuple[float, float]]):
        self.book = book
        self.requests: list[dict[str, str]] = []
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def amap_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/v3/geocode/geo"

    @property
    def baidu_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/geocoding/v3/"

    def start(self) -> FakeGeocoder:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _answer(self, path: str, query: dict[str, str]) -> dict:
        self.requests.append({"path": path, **query})
        place = self.book.get(query.get("address", ""))
        if path.startswith("/v3/geocode/geo"):
            if query.get("key") != KEY:
                return {"status": "0", "info": "INVALID_USER_KEY", "infocode": "10001"}
            if place is None:
                return {"status": "1", "info": "OK", "infocode": "10000", "count": "0", "geocodes": []}
            gcj = prcoords.wgs_gcj(prcoords.Coords(place[1], place[0]))
            return {"status": "1", "info": "OK", "infocode": "10000", "count": "1",
                    "geocodes": [{"formatted_address": query["address"], "level": "门牌号",
                                  "location": f"{gcj.lon:.6f},{gcj.lat:.6f}"}]}
        if query.get("ak") != KEY:
            return {"status": 5, "message": "AK参数不存在"}
        if place is None:
            return {"status": 1, "msg": "Internal Service Error:无相关结果", "results": []}
        bd = prcoords.wgs_bd(prcoords.Coords(place[1], place[0]))
        return {"status": 0, "result": {"location": {"lng": round(bd.lon, 6), "lat": round(bd.lat, 6)},
                                        "precise": 1, "confidence": 80, "level": "门址"}}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        geocoder = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 (the http.server API)
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                body = json.dumps(geocoder._answer(parts.path, query), ensure_ascii=False)
                self._send(200, body, "application/json; charset=utf-8")

        return Handler
