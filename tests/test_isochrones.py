from __future__ import annotations

import dataclasses
import math

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pandas as pd
import pytest
import shapely

from lifecircle.analysis.access import build_access_graph, nearest_facility_distance, snap_layer
from lifecircle.analysis.isochrones import reachable_street_lines, service_area, service_areas
from lifecircle.analysis.network import walking_network
from lifecircle.errors import LifecircleError, ProfileError

CRS = "EPSG:32651"
# A point in central Shanghai in UTM 51N, so that hand-built graphs reproject sensibly.
X0, Y0 = 350_000.0, 3_456_000.0
TOL = 1e-6


def _graph(nodes: dict[int, tuple[float, float]], edges: list[tuple]) -> nx.MultiDiGraph:
    """An osmnx-style graph: ``edges`` are (u, v) or (u, v, length) with straight geometry."""
    graph = nx.MultiDiGraph(crs=CRS)
    for node, (x, y) in nodes.items():
        graph.add_node(node, x=X0 + x, y=Y0 + y)
    for i, edge in enumerate(edges):
        u, v = edge[:2]
        line = shapely.LineString(
            [(X0 + nodes[u][0], Y0 + nodes[u][1]), (X0 + nodes[v][0], Y0 + nodes[v][1])]
        )
        length = edge[2] if len(edge) > 2 else line.length
        graph.add_edge(u, v, osmid=i, length=float(length), geometry=line)
        graph.add_edge(v, u, osmid=i, length=float(length), geometry=shapely.reverse(line))
    return graph


def _points(*xy: tuple[float, float]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=[shapely.Point(X0 + x, Y0 + y) for x, y in xy], crs=CRS)


def _lines(
    graph: nx.MultiDiGraph, facilities: dict[str, gpd.GeoDataFrame], category: str, threshold: float
):
    network = walking_network(graph, CRS)
    snaps = {c: snap_layer(network, f, 250.0) for c, f in facilities.items()}
    access = build_access_graph(network, snaps[category].iloc[:0], snaps)
    lines = reachable_street_lines(network, access, snaps[category], category, threshold)
    return network, lines


def _far_node_lengths(network, lines) -> dict[int, float]:
    """Reachable length per edge, keyed by the edge's larger OSM node id."""
    far = np.maximum(network.edges["u"], network.edges["v"]).to_numpy()[lines["edge"]]
    return pd.Series(lines.length.to_numpy()).groupby(far).sum().to_dict()


# A straight street A(1)–B(2)–C(3)–D(4), three edges of 100 m.
LINE_NODES = {1: (0, 0), 2: (100, 0), 3: (200, 0), 4: (300, 0)}
LINE_EDGES = [(1, 2), (2, 3), (3, 4)]


@pytest.mark.parametrize(
    ("facility_xy", "threshold", "expected"),
    [
        # Mid-AB, no snap: AB whole (50 + 50), then 120 - 50 = 70 m into BC.
        ((50, 0), 120.0, {2: 100.0, 3: 70.0}),
        # A 10 m snap leg is part of the walk: 110 m reach, AB whole and 60 m into BC.
        ((50, 10), 120.0, {2: 100.0, 3: 60.0}),
        # Reaches exactly to C: nothing of CD.
        ((50, 0), 150.0, {2: 100.0, 3: 100.0}),
        # Snap leg longer than the threshold: nothing reachable.
        ((50, 40), 30.0, {}),
    ],
)
def test_line_street_lengths(facility_xy, threshold, expected):
    network, lines = _lines(
        _graph(LINE_NODES, LINE_EDGES), {"k": _points(facility_xy)}, "k", threshold
    )
    got = _far_node_lengths(network, lines)
    assert set(got) == set(expected)
    for node, length in expected.items():
        assert got[node] == pytest.approx(length, abs=TOL)
    assert lines.crs == CRS
    assert list(lines.columns) == ["edge", "start_m", "end_m", "geometry"]


def test_threshold_shorter_than_any_node_gives_one_centred_piece():
    _, lines = _lines(_graph(LINE_NODES, LINE_EDGES), {"k": _points((50, 0))}, "k", 30.0)
    assert len(lines) == 1
    row = lines.iloc[0]
    assert (row.start_m, row.end_m) == pytest.approx((20.0, 80.0), abs=TOL)
    assert row.geometry.length == pytest.approx(60.0, abs=TOL)
    xs = sorted(x - X0 for x, _ in row.geometry.coords)
    assert xs == pytest.approx([20.0, 80.0], abs=TOL)


@pytest.mark.parametrize(
    ("threshold", "expected_total", "bc_pieces"),
    [
        # Both reach 70 m into BC from either end: BC covered once, as one piece.
        (120.0, 100.0 + 100.0 + 100.0, [(0.0, 100.0)]),
        # 10 m into BC from each end: two separate pieces.
        (60.0, 100.0 + 10.0 + 10.0 + 100.0, [(0.0, 10.0), (90.0, 100.0)]),
    ],
)
def test_overlapping_facilities_are_not_counted_twice(threshold, expected_total, bc_pieces):
    network, lines = _lines(
        _graph(LINE_NODES, LINE_EDGES), {"k": _points((50, 0), (250, 0))}, "k", threshold
    )
    assert lines.length.sum() == pytest.approx(expected_total, abs=TOL)
    bc = network.edges.index[(network.edges["u"] == 2) & (network.edges["v"] == 3)][0]
    pieces = lines.loc[lines["edge"] == bc, ["start_m", "end_m"]].to_numpy()
    assert pieces == pytest.approx(np.array(bc_pieces), abs=TOL)
    # The union of the pieces has the same length: nothing overlaps.
    assert shapely.union_all(lines.geometry.to_numpy()).length == pytest.approx(
        expected_total, abs=TOL
    )


@pytest.mark.parametrize(
    ("threshold", "pieces"),
    [(15.0, [(5.0, 35.0), (45.0, 75.0)]), (25.0, [(0.0, 85.0)])],
)
def test_two_facilities_on_one_edge(threshold, pieces):
    graph = _graph({1: (0, 0), 2: (100, 0)}, [(1, 2)])
    _, lines = _lines(graph, {"k": _points((20, 0), (60, 0))}, "k", threshold)
    assert lines[["start_m", "end_m"]].to_numpy() == pytest.approx(np.array(pieces), abs=TOL)
    assert lines.length.sum() == pytest.approx(sum(b - a for a, b in pieces), abs=TOL)


def test_star_graph():
    # Centre 0; arms east 100, north 200, west 300, south 50. Facility 50 m up the north arm.
    nodes = {0: (0, 0), 1: (100, 0), 2: (0, 200), 3: (-300, 0), 4: (0, -50)}
    graph = _graph(nodes, [(0, 1), (0, 2), (0, 3), (0, 4)])
    network, lines = _lines(graph, {"k": _points((0, 50))}, "k", 150.0)
    # North arm: 50 ± 150 covers it; 100 m left at the centre: east whole, west 100, south whole.
    got = _far_node_lengths(network, lines)
    assert got == pytest.approx({1: 100.0, 2: 200.0, 3: 100.0, 4: 50.0}, abs=TOL)
    west = lines.geometry[lines["edge"] == network.edges.index[network.edges["v"] == 3][0]]
    xs = sorted(x - X0 for x, _ in west.iloc[0].coords)
    assert xs == pytest.approx([-100.0, 0.0], abs=TOL)


@pytest.mark.parametrize(
    ("threshold", "expected_total", "n_rows"),
    [(180.0, 100.0 + 2 * 100.0 + 2 * 30.0, 5), (260.0, 400.0, 4)],
)
def test_loop_reached_from_both_sides(threshold, expected_total, n_rows):
    # A 100 m square; facility mid-bottom. Top corners are 150 m away.
    nodes = {1: (0, 0), 2: (100, 0), 3: (100, 100), 4: (0, 100)}
    graph = _graph(nodes, [(1, 2), (2, 3), (3, 4), (4, 1)])
    _, lines = _lines(graph, {"k": _points((50, 0))}, "k", threshold)
    assert lines.length.sum() == pytest.approx(expected_total, abs=TOL)
    assert len(lines) == n_rows


def test_offsets_follow_the_length_attribute_not_the_geometry():
    # Geometry 100 m long but a length attribute of 200 m (e.g. lengths measured elsewhere).
    network = walking_network(_graph({1: (0, 0), 2: (100, 0)}, [(1, 2)]), CRS)
    network = dataclasses.replace(network, edges=network.edges.assign(length=200.0))
    snaps = snap_layer(network, _points((50, 0)), 250.0)
    assert snaps["offset_m"].iloc[0] == pytest.approx(100.0)
    access = build_access_graph(network, snaps.iloc[:0], {"k": snaps})
    lines = reachable_street_lines(network, access, snaps, "k", 50.0)
    row = lines.iloc[0]
    assert (row.start_m, row.end_m) == pytest.approx((50.0, 150.0), abs=TOL)
    # A quarter to three quarters of the edge: 25 m to 75 m of its geometry.
    assert sorted(x - X0 for x, _ in row.geometry.coords) == pytest.approx([25.0, 75.0], abs=TOL)


def test_no_facility_on_the_network_gives_nothing():
    network = walking_network(_graph(LINE_NODES, LINE_EDGES), CRS)
    snaps = snap_layer(network, _points((50, 5000)), 250.0)
    compounds = snap_layer(network, _points((150, 20)), 250.0)
    access = build_access_graph(network, compounds, {"k": snaps})
    lines = reachable_street_lines(network, access, snaps, "k", 500.0)
    assert lines.empty
    assert service_area(lines).is_empty


def test_mismatched_inputs_are_rejected():
    network = walking_network(_graph(LINE_NODES, LINE_EDGES), CRS)
    snaps = snap_layer(network, _points((50, 0), (150, 0)), 250.0)
    access = build_access_graph(network, snaps.iloc[:0], {"k": snaps})
    with pytest.raises(LifecircleError, match="not in the access graph"):
        reachable_street_lines(network, access, snaps, "elderly", 300.0)
    with pytest.raises(LifecircleError, match="same snaps"):
        reachable_street_lines(network, access, snaps.iloc[:1], "k", 300.0)
    with pytest.raises(ProfileError, match="threshold"):
        service_areas(network, access, {"k": snaps}, {})
    lines = reachable_street_lines(network, access, snaps, "k", 300.0)
    with pytest.raises(LifecircleError, match="positive"):
        service_area(lines, 0.0)
    with pytest.raises(LifecircleError, match="not in metres"):
        service_area(lines.to_crs("EPSG:4326"))


def _band_area(length: float, buffer: float) -> float:
    """Area of a straight segment's buffer: a rectangle with two half-disc ends."""
    return length * 2 * buffer + math.pi * buffer**2


def _band_perimeter(length: float, buffer: float) -> float:
    return 2 * length + 2 * math.pi * buffer


def _cross(arm: float) -> nx.MultiDiGraph:
    nodes = {0: (0, 0), 1: (arm, 0), 2: (0, arm), 3: (-arm, 0), 4: (0, -arm)}
    return _graph(nodes, [(0, 1), (0, 2), (0, 3), (0, 4)])


def test_service_area_is_a_street_band_not_a_convex_hull():
    arm, buffer = 500.0, 40.0
    network, lines = _lines(_cross(arm), {"k": _points((0, 0))}, "k", arm)
    assert lines.length.sum() == pytest.approx(4 * arm, abs=TOL)
    area = service_area(lines, buffer)
    # Two crossing 1,000 m bands with round ends, minus their shared square.
    expected = 2 * _band_area(2 * arm, buffer) - (2 * buffer) ** 2
    perimeter = 2 * _band_perimeter(2 * arm, buffer) - 4 * (2 * buffer)
    assert expected - perimeter <= area.area <= expected
    assert area.area < 0.3 * area.convex_hull.area
    reached_nodes = shapely.multipoints(network.edges.geometry.get_coordinates().to_numpy())
    assert area.area < 0.4 * reached_nodes.convex_hull.area


def test_service_areas_table():
    network = walking_network(_graph(LINE_NODES, LINE_EDGES), CRS)
    snaps = {
        "a": snap_layer(network, _points((50, 0)), 250.0),
        "b": snap_layer(network, _points((250, 0)), 250.0),
    }
    access = build_access_graph(network, snaps["a"].iloc[:0], snaps)
    table = service_areas(network, access, snaps, {"a": 120.0, "b": 30.0}, buffer_m=40.0)
    assert table.crs == "EPSG:4326"
    assert table["category"].tolist() == ["a", "b"]
    assert table["threshold_m"].tolist() == [120.0, 30.0]
    assert table["street_km"].to_numpy() == pytest.approx([0.170, 0.060], abs=1e-9)
    # Straight pieces of 170 m and 60 m, each a 80 m band with round ends.
    # The 1 m simplification may shave up to 1 m off the rim, so allow a 1 m × perimeter loss.
    for length, got in zip((170.0, 60.0), table["area_km2"].to_numpy() * 1e6, strict=True):
        assert _band_area(length, 40.0) - _band_perimeter(length, 40.0) <= got
        assert got <= _band_area(length, 40.0)
    back = table.to_crs(CRS).area.to_numpy() / 1e6
    assert back == pytest.approx(table["area_km2"].to_numpy(), rel=1e-3)
    lon, lat = table.geometry.iloc[0].centroid.coords[0]
    assert 120.5 < lon < 122.5 and 30.5 < lat < 32.0


# --- consistency with the access engine on the real network --------------------------------

CENTRE_LON, CENTRE_LAT = 121.475, 31.232


@pytest.fixture(scope="module")
def real_area(shared_data):
    graph = ox.graph_from_xml(
        shared_data / "shanghai_center.osm.bz2", bidirectional=True, retain_all=True
    )
    half_lat = 1000.0 / 111_320.0
    half_lon = half_lat / math.cos(math.radians(CENTRE_LAT))
    bbox = (
        CENTRE_LON - half_lon,
        CENTRE_LAT - half_lat,
        CENTRE_LON + half_lon,
        CENTRE_LAT + half_lat,
    )
    graph = ox.truncate.truncate_graph_bbox(graph, bbox)
    network = walking_network(graph, CRS)
    table = pd.read_csv(shared_data / "shanghai_kindergartens_amap_wgs84.csv")
    kindergartens = gpd.GeoDataFrame(
        table, geometry=gpd.points_from_xy(table["lon"], table["lat"]), crs="EPSG:4326"
    ).cx[bbox[0] : bbox[2], bbox[1] : bbox[3]]
    return network, kindergartens


@pytest.fixture(scope="module")
def real_samples(real_area):
    """500 points on the real streets, snapped, with the engine's kindergarten distances."""
    network, kindergartens = real_area
    facility_snaps = snap_layer(network, kindergartens, 250.0)
    facility_edges = facility_snaps["edge"].dropna().to_numpy(dtype=np.int64)
    rng = np.random.default_rng(15)
    # Half on any street, half on streets carrying a kindergarten, where the facility's own
    # reach along its edge (snap leg included) decides.
    rows = np.concatenate(
        [rng.integers(0, len(network.edges), 250), rng.choice(facility_edges, 250)]
    )
    samples = gpd.GeoDataFrame(
        geometry=shapely.line_interpolate_point(
            network.edges.geometry.to_numpy()[rows], rng.random(len(rows)), normalized=True
        ),
        crs=network.crs,
    )
    sample_snaps = snap_layer(network, samples, 250.0)
    access = build_access_graph(network, sample_snaps, {"nursery": facility_snaps})
    distance, _ = nearest_facility_distance(access, "nursery")
    return network, access, facility_snaps, samples, sample_snaps, distance


@pytest.mark.realdata
@pytest.mark.parametrize("threshold", [100.0, 300.0])
def test_lines_agree_with_engine_distances(real_samples, threshold):
    network, access, facility_snaps, samples, sample_snaps, distance = real_samples
    lines = reachable_street_lines(network, access, facility_snaps, "nursery", threshold)

    near = distance <= threshold
    far = distance > threshold + 20.0
    assert near.sum() >= 40 and far.sum() >= 40, (near.sum(), far.sum())

    # Interval check: the sample's offset on its own edge is inside a reachable stretch.
    merged = (
        sample_snaps[["edge", "offset_m"]]
        .reset_index(drop=True)
        .rename_axis("sample")
        .reset_index()
        .merge(lines[["edge", "start_m", "end_m"]], on="edge", how="left")
    )
    inside = (merged["offset_m"] >= merged["start_m"] - TOL) & (
        merged["offset_m"] <= merged["end_m"] + TOL
    )
    in_interval = inside.groupby(merged["sample"]).any().to_numpy()
    assert in_interval[near].all()
    assert not in_interval[far].any()

    # Geometric check: near samples lie on the lines; far ones lie off their own edge's lines.
    all_lines = shapely.union_all(lines.geometry.to_numpy())
    points = samples.geometry.to_numpy()
    assert shapely.distance(points[near], all_lines).max() < 1.0
    own = lines.dissolve("edge").geometry
    for i in np.flatnonzero(far):
        edge = sample_snaps["edge"].iloc[i]
        if edge in own.index:
            assert shapely.distance(points[i], own[edge]) > 1.0

    # The polygon holds every near sample (each lies on a reachable street).
    area = service_area(lines)
    assert shapely.contains(area, points[near]).all()
