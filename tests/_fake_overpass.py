"""A local stand-in for the Overpass API, serving real OSM data from an XML extract.

It implements what osmnx sends: ``GET /api/status`` (the status text whose fifth line osmnx
parses for free slots) and ``GET``/``POST /api/interpreter`` with Overpass QL statements of the
form ``node|way|relation[filters...](poly:"lat lon lat lon ...")``. Filters follow Overpass
semantics (``["k"]``, ``["k"="v"]``, ``["k"!="v"]``, ``["k"~"re"]``, ``["k"!~"re"]``, the
negations also matching elements without the key). Ways are selected when one of their
nodes lies in the polygon, and the answer always includes the nodes of the selected ways
(the ``>;`` recursion osmnx asks for). The answer is Overpass JSON.

Faults are scripted per interpreter request with :meth:`FakeOverpass.fail_next`: an HTTP
status (429 with Retry-After, 500, 404...), an unreadable answer (``"garbage"``), or a slow
answer (``"slow"``: the normal answer after ``slow_s`` seconds). ``status_answer`` replaces
the ``/api/status`` status code.
"""

from __future__ import annotations

import bz2
import json
import re
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import shapely
from shapely.geometry import Polygon

from ._fake_http import QuietHandler

_STATEMENT = re.compile(
    r"(?P<kind>node|way|relation)(?P<filters>(?:\[[^\]]*\])*)\(poly:(?P<q>['\"])(?P<poly>[^'\"]*)(?P=q)\)"
)
_FILTER = re.compile(r"""\[(['"])(?P<key>.+?)\1(?:(?P<op>!?[=~])(['"])(?P<value>.*?)\4)?\]""")


@dataclass
class OsmData:
    """Nodes and ways of an OSM extract, as plain Python structures."""

    nodes: dict[int, tuple[float, float, dict[str, str]]] = field(default_factory=dict)
    ways: dict[int, tuple[list[int], dict[str, str]]] = field(default_factory=dict)

    @classmethod
    def from_xml(cls, path: Path) -> OsmData:
        """Read an ``.osm`` or ``.osm.bz2`` file (nodes and ways; relations are ignored)."""
        opener = bz2.open if path.suffix == ".bz2" else open
        data = cls()
        with opener(path, "rb") as handle:
            for _, element in ET.iterparse(handle, events=("end",)):
                tags = {t.get("k"): t.get("v") for t in element.findall("tag")}
                if element.tag == "node":
                    data.nodes[int(element.get("id"))] = (
                        float(element.get("lat")),
                        float(element.get("lon")),
                        tags,
                    )
                    element.clear()
                elif element.tag == "way":
                    refs = [int(nd.get("ref")) for nd in element.findall("nd")]
                    data.ways[int(element.get("id"))] = (refs, tags)
                    element.clear()
        return data


def _filter_matches(tags: dict[str, str], key: str, op: str | None, value: str | None) -> bool:
    present = key in tags
    if op is None:
        return present
    if op == "=":
        return present and tags[key] == value
    if op == "!=":
        return not present or tags[key] != value
    if op == "~":
        return present and re.search(value or "", tags[key]) is not None
    return not present or re.search(value or "", tags[key]) is None  # "!~"


def _polygon(poly_text: str) -> Polygon:
    numbers = [float(v) for v in poly_text.split()]
    lats, lons = numbers[0::2], numbers[1::2]
    return Polygon(zip(lons, lats, strict=True))


class _Index:
    """Node coordinates as arrays for fast point-in-polygon tests."""

    def __init__(self, data: OsmData) -> None:
        self.data = data
        self.ids = np.array(list(data.nodes), dtype=np.int64)
        self.lats = np.array([data.nodes[i][0] for i in self.ids])
        self.lons = np.array([data.nodes[i][1] for i in self.ids])

    def nodes_inside(self, polygon: Polygon) -> set[int]:
        shapely.prepare(polygon)
        inside = shapely.intersects_xy(polygon, self.lons, self.lats)
        return set(self.ids[inside].tolist())


def answer_query(index: _Index, query: str) -> dict[str, Any]:
    """Evaluate the Overpass QL statements of ``query`` and return Overpass JSON."""
    data = index.data
    node_ids: set[int] = set()
    way_ids: set[int] = set()
    for statement in _STATEMENT.finditer(query):
        filters = [(m["key"], m["op"], m["value"]) for m in _FILTER.finditer(statement["filters"])]
        inside = index.nodes_inside(_polygon(statement["poly"]))
        if statement["kind"] == "node":
            node_ids |= {
                n for n in inside if all(_filter_matches(data.nodes[n][2], *f) for f in filters)
            }
        elif statement["kind"] == "way":
            for way_id, (refs, tags) in data.ways.items():
                if all(_filter_matches(tags, *f) for f in filters) and not inside.isdisjoint(refs):
                    way_ids.add(way_id)
    for way_id in way_ids:  # recurse down: the ways' nodes
        node_ids.update(r for r in data.ways[way_id][0] if r in data.nodes)

    elements: list[dict[str, Any]] = []
    for node_id in sorted(node_ids):
        lat, lon, tags = data.nodes[node_id]
        element: dict[str, Any] = {"type": "node", "id": node_id, "lat": lat, "lon": lon}
        if tags:
            element["tags"] = tags
        elements.append(element)
    for way_id in sorted(way_ids):
        refs, tags = data.ways[way_id]
        element = {"type": "way", "id": way_id, "nodes": refs}
        if tags:
            element["tags"] = tags
        elements.append(element)
    return {
        "version": 0.6,
        "generator": "fake Overpass API (lifecircle tests)",
        "osm3s": {
            "timestamp_osm_base": "2025-08-09T07:00:26Z",
            "copyright": "The data included in this document is from www.openstreetmap.org. "
            "The data is made available under ODbL.",
        },
        "elements": elements,
    }


def status_text() -> str:
    """The Overpass ``/api/status`` text; osmnx reads the fifth line's first number."""
    now = datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        "Connected as: 2130706433\n"
        f"Current time: {now}\n"
        "Announced endpoint: none\n"
        "Rate limit: 2\n"
        "2 slots available now.\n"
        "Currently running queries (pid, space limit, time limit, start time):\n"
    )


class FakeOverpass:
    """An Overpass-like HTTP server on 127.0.0.1 (random free port) in a daemon thread.

    Parameters
    ----------
    data : OsmData
        The OSM elements to serve.
    """

    def __init__(self, data: OsmData) -> None:
        self._index = _Index(data)
        self.queries: list[str] = []
        self.status_requests = 0
        self.faults: list[int | str] = []
        self.slow_s = 2.0
        self.status_answer = 200
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL as lifecircle.settings.overpass_url expects it (``.../api``)."""
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/api"

    def fail_next(self, *faults: int | str) -> FakeOverpass:
        """Answer the next interpreter requests with these faults, in order; then normally."""
        self.faults.extend(faults)
        return self

    def start(self) -> FakeOverpass:
        """Start serving; returns self."""
        fake = self

        class Handler(QuietHandler):

            def _interpreter(self, query: str | None) -> None:
                if not query:
                    self._send(400, "Error: no query given", "text/plain")
                    return
                fake.queries.append(query)
                fault = fake.faults.pop(0) if fake.faults else None
                if fault == "garbage":
                    self._send(200, "<html><body>Gateway page: please log in</body></html>", "text/html")
                    return
                if isinstance(fault, int):
                    self._send(fault, f"fault {fault}", "text/plain", {"Retry-After": "0"} if fault == 429 else None)
                    return
                if fault == "slow":
                    time.sleep(fake.slow_s)
                answer = answer_query(fake._index, query)
                self._send(200, json.dumps(answer), "application/json")

            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                if parts.path == "/api/status":
                    fake.status_requests += 1
                    self._send(fake.status_answer, status_text(), "text/plain")
                elif parts.path == "/api/interpreter":
                    self._interpreter(parse_qs(parts.query).get("data", [None])[0])
                else:
                    self._send(404, "not found", "text/plain")

            def do_POST(self) -> None:  # noqa: N802
                if urlsplit(self.path).path != "/api/interpreter":
                    self._send(404, "not found", "text/plain")
                    return
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length).decode("utf-8")
                self._interpreter(parse_qs(body).get("data", [None])[0])

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-overpass", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the port (later connections are refused)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None
