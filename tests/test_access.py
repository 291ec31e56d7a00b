"""The access engine on hand-built networks with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from lifecircle import settings
from lifecircle.analysis.access import (
    STATUS_BEYOND_SNAP_LIMIT,
    STATUS_ISLAND,
    STATUS_OK,
    build_access_graph,
    category_access,
    snap_layer,
)
from lifecircle.analysis.network import snap_to_edges, walking_network

from ._graphs import CRS, X0, Y0, points, street_graph

SPEED = 75.0  # m/min


@pytest.fixture
def line_network():
    """0 —100— 1 —100— 2 —100— 3 along y=0, plus a separate island 10—11 far away."""
    nodes = {0: (0, 0), 1: (100, 0), 2: (200, 0), 3: (300, 0), 10: (0, 500), 11: (50, 500)}
    return walking_network(street_graph(nodes, [(0, 1), (1, 2), (2, 3), (10, 11)]), CRS)


def _access(network, compounds, facilities, threshold, snap_limit=100.0):
    c_snaps = snap_layer(network, compounds, snap_limit)
    f_snaps = {"cat": snap_layer(network, facilities, snap_limit)}
    graph = build_access_graph(network, c_snaps, f_snaps)
    names = facilities["name"].to_numpy() if "name" in facilities else None
    return c_snaps, category_access(graph, "cat", threshold, SPEED, names)


def test_snap_onto_edge_midpoint(line_network):
    snaps = snap_to_edges(line_network, points([(150, 10)]).geometry)
    edge = line_network.edges.iloc[int(snaps["edge"].iloc[0])]
    assert {edge["u"], edge["v"]} == {1, 2}
    # Offset is measured from the edge's u node, whichever way the edge is stored.
    expected_offset = 50.0
    assert snaps["offset_m"].iloc[0] == pytest.approx(expected_offset, abs=1e-9)
    assert snaps["snap_m"].iloc[0] == pytest.approx(10.0, abs=1e-9)
    assert snaps["snap_x"].iloc[0] == pytest.approx(X0 + 150, abs=1e-9)
    assert snaps["snap_y"].iloc[0] == pytest.approx(Y0, abs=1e-9)


def test_distance_along_same_edge_and_across_nodes(line_network):
    compounds = points([(120, 5), (290, -5)])
    facilities = points([(170, 3)], name=["幼儿园A"])
    _, out = _access(line_network, compounds, facilities, threshold=300)
    # Same edge: 5 (snap) + 50 along + 3 (facility snap). Other: 5 + (290-170) + 3.
    assert out["cat_dist_m"].tolist() == pytest.approx([58.0, 128.0], abs=1e-6)
    assert out["cat_min"].tolist() == pytest.approx([58.0 / SPEED, 128.0 / SPEED])
    assert out["cat_nearest"].tolist() == ["幼儿园A", "幼儿园A"]
    assert out["cat_count"].tolist() == [1, 1]


def test_threshold_is_inclusive_and_ties_count_both(line_network):
    # Compound in the middle of 1–2; facilities 100 m either side along the street.
    compounds = points([(150, 0)])
    facilities = points([(50, 0), (250, 0)], name=["west", "east"])
    _, out = _access(line_network, compounds, facilities, threshold=100)
    assert out["cat_dist_m"].iloc[0] == pytest.approx(100.0, abs=1e-9)
    assert bool(out["cat_covered"].iloc[0])
    assert out["cat_count"].iloc[0] == 2
    # Deterministic choice between equals, repeated runs agree.
    again = _access(line_network, compounds, facilities, threshold=100)[1]
    assert again["cat_nearest"].iloc[0] == out["cat_nearest"].iloc[0]
    _, short = _access(line_network, compounds, facilities, threshold=99.9)
    assert not bool(short["cat_covered"].iloc[0])
    assert short["cat_count"].iloc[0] == 0


def test_island_compound_is_flagged_and_not_covered(line_network):
    compounds = points([(25, 505), (100, 5)])
    facilities = points([(100, 0)])
    snaps, out = _access(line_network, compounds, facilities, threshold=1000)
    assert snaps["access_status"].tolist() == [STATUS_ISLAND, STATUS_OK]
    assert np.isnan(out["cat_dist_m"].iloc[0])
    assert not bool(out["cat_covered"].iloc[0])
    assert out["cat_count"].iloc[0] == 0
    assert bool(out["cat_covered"].iloc[1])


def test_compound_beyond_snap_limit_is_flagged(line_network):
    compounds = points([(150, 180), (150, 20)])
    facilities = points([(150, 0)])
    snaps, out = _access(line_network, compounds, facilities, threshold=1000, snap_limit=100)
    assert snaps["access_status"].tolist() == [STATUS_BEYOND_SNAP_LIMIT, STATUS_OK]
    assert snaps["snap_m"].iloc[0] == pytest.approx(180.0)
    assert np.isnan(out["cat_dist_m"].iloc[0])
    assert not bool(out["cat_covered"].iloc[0])
    assert out["cat_dist_m"].iloc[1] == pytest.approx(20.0)


def test_no_facilities_means_unreachable_not_covered(line_network):
    compounds = points([(150, 0)])
    _, out = _access(line_network, compounds, points([]), threshold=1000)
    assert np.isnan(out["cat_dist_m"].iloc[0])
    assert not bool(out["cat_covered"].iloc[0])
    assert out["cat_count"].iloc[0] == 0


def test_parallel_edges_use_the_shorter_one():
    # Two ways join 0 and 1: a straight 100 m one and a 300 m detour.
    graph = street_graph({0: (0, 0), 1: (100, 0)}, [(0, 1)])
    from shapely.geometry import LineString

    detour = LineString([(X0, Y0), (X0, Y0 + 100), (X0 + 100, Y0 + 100), (X0 + 100, Y0)])
    graph.add_edge(0, 1, osmid=99, length=detour.length, geometry=detour, highway="footway")
    graph.add_edge(1, 0, osmid=99, length=detour.length, geometry=detour.reverse(),
        highway="footway")
    network = walking_network(graph, CRS)
    _, out = _access(network, points([(-10, 0)]), points([(110, 0)]), threshold=500)
    assert out["cat_dist_m"].iloc[0] == pytest.approx(120.0, abs=1e-6)


def test_counts_grow_with_threshold_on_a_grid():
    # 5x5 grid of 100 m blocks; facilities at every node; a compound at the centre node.
    nodes = {i * 5 + j: (i * 100.0, j * 100.0) for i in range(5) for j in range(5)}
    edges = [(a, a + 1) for a in nodes if a % 5 != 4] + [(a, a + 5) for a in nodes if a < 20]
    network = walking_network(street_graph(nodes, edges), CRS)
    facilities = points(list(nodes.values()))
    compounds = points([(200, 200)])
    counts = [
        _access(network, compounds, facilities, threshold=t)[1]["cat_count"].iloc[0]
        for t in (0, 100, 200, 300, 400)
    ]
    # Lattice points within Manhattan distance r of the centre, inside a 5x5 grid.
    expected = [
        sum(1 for i in range(5) for j in range(5) if (abs(i - 2) + abs(j - 2)) * 100 <= t)
        for t in (0, 100, 200, 300, 400)
    ]
    assert counts == expected


def test_tolerance_setting_is_small():
    assert 0 < settings.threshold_tolerance_m < 1e-3
