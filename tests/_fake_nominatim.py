"""A local stand-in for the Nominatim geocoder (``GET /search``), on 127.0.0.1.

It answers place-name searches as Nominatim does with ``format=json&polygon_geojson=1`` (what
osmnx's ``geocode_to_gdf`` asks for): a JSON list of places with ``boundingbox``, ``importance``
and the ``geojson`` outline, from a fixed book of names. Faults are scripted per search with
:meth:`FakeNominatim.fail_next`, as for the fake Overpass: an HTTP status (429 comes with
``Retry-After: 0``), an unreadable answer (``"garbage"``) or a slow one (``"slow"``: the normal
answer after ``slow_s`` seconds). ``GET /`` answers 200, as the reachability probe expects.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from shapely.geometry import Polygon, mapping

from ._fake_http import QuietHandler


class FakeNominatim:
    """Serve ``places`` (name → WGS84 polygon) until :meth:`stop`."""

    def __init__(self, places: dict[str, Polygon]):
        self.places = places
        self.searches: list[str] = []
        self.faults: list[int | str] = []
        self.slow_s = 2.0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Base URL as lifecircle.settings.nominatim_url expects it."""
        return f"http://127.0.0.1:{self.server.server_port}/"

    def fail_next(self, *faults: int | str) -> FakeNominatim:
        """Answer the next searches with these faults, in order; then normally."""
        self.faults.extend(faults)
        return self

    def start(self) -> FakeNominatim:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def results(self, query: str) -> list[dict[str, Any]]:
        polygon = self.places.get(query)
        if polygon is None:
            return []
        west, south, east, north = polygon.bounds
        return [
            {
                "place_id": 1,
                "osm_type": "relation",
                "osm_id": 1,
                "class": "boundary",
                "type": "administrative",
                "importance": 0.6,
                "display_name": query,
                "lat": str(polygon.centroid.y),
                "lon": str(polygon.centroid.x),
                "boundingbox": [str(south), str(north), str(west), str(east)],
                "geojson": mapping(polygon),
            }
        ]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(QuietHandler):

            def do_GET(self) -> None:  # noqa: N802 (the http.server API)
                parts = urlsplit(self.path)
                if parts.path != "/search":
                    self._send(200 if parts.path == "/" else 404, "Nominatim", "text/plain")
                    return
                query = parse_qs(parts.query).get("q", [""])[0]
                fake.searches.append(query)
                fault = fake.faults.pop(0) if fake.faults else None
                if fault == "garbage":
                    self._send(
                        200, "<html><body>Captive portal: please log in</body></html>", "text/html"
                    )
                    return
                if isinstance(fault, int):
                    retry = {"Retry-After": "0"} if fault == 429 else None
                    self._send(fault, f"fault {fault}", "text/plain", retry)
                    return
                if fault == "slow":
                    time.sleep(fake.slow_s)
                self._send(200, json.dumps(fake.results(query)), "application/json")

        return Handler
