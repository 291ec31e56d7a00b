"""Compound gates: linking, boundary access points, and walks that start at a gate.

Walks are checked against an independent networkx computation on the same street graph, in which
each snapped point is inserted into its edge and a compound's walk is the least over its gates of
(gate → facility walk): no compound node, so no walk can pass through a compound.
"""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from lifecircle.analysis.access import build_access_graph, category_access, snap_layer
from lifecircle.analysis.entrances import boundary_points, compound_access_points, compound_snaps
from lifecircle.analysis.network import walking_network
from lifecircle.errors import DataError, LifecircleWarning
from lifecircle.schema import RULE_BOUNDARY, RULE_GATES, RULE_POINT
from lifecircle.sources.gates import link_gates

from ._graphs import CRS, X0, Y0, points, street_graph


def _boxes(boxes, **columns):
    geoms = [box(X0 + a, Y0 + b, X0 + c, Y0 + d) for a, b, c, d in boxes]
    return gpd.GeoDataFrame(columns, geometry=geoms, crs=CRS)


@pytest.fixture(scope="module")
def block():
    """A 600 × 300 m block: south street y=0, north street y=300, west x=0, east x=600 (nodes
    every 100 m). Compound 墙内 (x 200–400, y 60–280): its north wall is 20 m from the north
    street, but its gates open to the south: G1 (300, 60), 60 m from the south street, and G2
    (400, 100) in its east wall, 100 m from it."""
    nodes, edges = {}, []

    def street(points_):
        ids = []
        for xy in points_:
            ids.append(nodes.setdefault(xy, len(nodes)))
        edges.extend(zip(ids[:-1], ids[1:], strict=True))

    street([(float(x), 0.0) for x in range(0, 601, 100)])
    street([(float(x), 300.0) for x in range(0, 601, 100)])
    street([(0.0, float(y)) for y in range(0, 301, 100)])
    street([(600.0, float(y)) for y in range(0, 301, 100)])
    graph = street_graph({i: xy for xy, i in nodes.items()}, edges)
    return walking_network(graph, CRS)


def _networkx_walks(network, facility_snaps, gate_snaps, owner, n_compounds):
    """Least walk facility → compound over the compound's points, by networkx on the street
    graph with every snapped point inserted into its edge (edge-offset arithmetic)."""
    graph = nx.Graph()
    edges = network.edges
    placed = {}
    for kind, snaps in (("f", facility_snaps), ("g", gate_snaps)):
        for i, row in snaps.reset_index(drop=True).iterrows():
            placed.setdefault(int(row["edge"]), []).append((row["offset_m"], (kind, i)))
    for e, edge in edges.iterrows():
        chain = [(0.0, ("n", edge["u_pos"]))] + sorted(placed.get(e, [])) + [(edge["length"], ("n", edge["v_pos"]))]
        for (a, na), (b, nb) in zip(chain[:-1], chain[1:], strict=True):
            if graph.has_edge(na, nb):
                graph[na][nb]["length"] = min(graph[na][nb]["length"], b - a)
            else:
                graph.add_edge(na, nb, length=b - a)
    walks = np.full((len(facility_snaps), n_compounds), np.inf)
    for f in range(len(facility_snaps)):
        reach = nx.single_source_dijkstra_path_length(graph, ("f", f), weight="length")
        for g, compound in enumerate(owner):
            walk = reach.get(("g", g), np.inf) + facility_snaps["snap_m"].iloc[f] + gate_snaps["snap_m"].iloc[g]
            walks[f, compound] = min(walks[f, compound], walk)
    return walks


def _engine(network, compounds, facilities, gates=None, links=None, boundary=True):
    access = compound_access_points(network, compounds, 250, gates=gates, links=links, boundary=boundary)
    facility_snaps = {"cat": snap_layer(network, facilities, 250)}
    graph = build_access_graph(network, access.snaps, facility_snaps, compound_of=access.compound)
    return access, facility_snaps["cat"], graph


def test_a_compound_behind_its_wall_is_measured_through_its_gates(block):
    compounds = _boxes([(200, 60, 400, 280)], name=["墙内"])
    facilities = points([(300, 305), (100, -5)], name=["北街设施", "南街设施"])
    gates = points([(300, 60), (400, 100)]).geometry
    links = link_gates(gates.to_frame(), compounds, max_distance_m=1)
    assert links[["compound", "gate"]].values.tolist() == [[0, 0], [0, 1]]

    access, facility_snaps, graph = _engine(block, compounds, facilities, gates, links)
    assert access.rule.tolist() == [RULE_GATES] and access.n_gates.tolist() == [2]
    out = category_access(graph, "cat", 1000, 75.0, facilities["name"].to_numpy())
    # Behind the wall, 25 m away, the north facility is reached only round the block: through
    # G2 (100 m to the south street, 200 east, 300 north, 300 west, 5) rather than G1 (965 m).
    north = 100 + 200 + 300 + 300 + 5
    expected = _networkx_walks(block, facility_snaps, access.snaps, access.compound, 1)
    assert expected[0, 0] == pytest.approx(north, abs=1e-6)
    assert expected[1, 0] == pytest.approx(60 + 200 + 5, abs=1e-6)  # through G1
    assert out.loc[0, "cat_dist_m"] == pytest.approx(expected[:, 0].min(), abs=1e-6)
    assert out.loc[0, "cat_nearest"] == "南街设施"
    assert out.loc[0, "cat_count"] == 2  # both within 1,000 m

    # Only the north facility: the walk is the least over the gates, as networkx says.
    only_north = facilities.iloc[[0]]
    _, _, graph_north = _engine(block, compounds, only_north, gates, links)
    walk = category_access(graph_north, "cat", 1000, 75.0)["cat_dist_m"].iloc[0]
    assert walk == pytest.approx(north, abs=1e-6)

    # Without gates the same compound starts at its north wall: 20 m + 5 m.
    boundary, _, graph_wall = _engine(block, compounds, only_north)
    assert boundary.rule.tolist() == [RULE_BOUNDARY]
    assert category_access(graph_wall, "cat", 1000, 75.0)["cat_dist_m"].iloc[0] == pytest.approx(25.0, abs=1e-6)


def test_no_walk_passes_through_a_compound(block):
    """A compound with a north gate (20 m from the north street) and a south gate (60 m from
    the south street) must not serve as a 80 m passage between the two streets."""
    compounds = pd.concat([
        _boxes([(200, 60, 400, 280)], name=["穿行"]),
        _boxes([(295, -25, 305, -15)], name=["南邻"]),
    ], ignore_index=True)
    compounds = gpd.GeoDataFrame(compounds, geometry="geometry", crs=CRS)
    facilities = points([(300, 305)], name=["北街设施"])
    gates = points([(300, 280), (300, 60)]).geometry
    links = link_gates(gates.to_frame(), compounds, max_distance_m=1)
    access, facility_snaps, graph = _engine(block, compounds, facilities, gates, links)
    assert access.rule.tolist() == [RULE_GATES, RULE_BOUNDARY]
    out = category_access(graph, "cat", 5000, 75.0)
    # 穿行 leaves by its north gate: 20 + 5 m.
    assert out.loc[0, "cat_dist_m"] == pytest.approx(25.0, abs=1e-6)
    # 南邻 (its wall 15 m south of the street) walks round the block: 15 + 300 + 300 + 300 + 5,
    # not 15 + 60 + 220 + 20 + 5 through 穿行.
    expected = _networkx_walks(block, facility_snaps, access.snaps, access.compound, 2)
    assert expected[0, 1] == pytest.approx(15 + 300 + 300 + 300 + 5, abs=1e-6)
    assert out["cat_dist_m"].to_numpy() == pytest.approx(expected[0], abs=1e-6)


def test_gates_beyond_the_snap_limit_leave_the_compound_off_the_network(block):
    compounds = _boxes([(200, 60, 400, 280)], name=["远门"])
    gates = points([(300, 150)]).geometry  # 150 m from every street
    links = link_gates(gates.to_frame(), compounds, max_distance_m=1)
    access = compound_access_points(block, compounds, 100, gates=gates, links=links)
    best = compound_snaps(access, 1)
    assert best["access_status"].tolist() == ["beyond_snap_limit"]
    assert best["snap_m"].iloc[0] == pytest.approx(150, abs=1e-6)


def test_boundary_point_faces_the_middle_of_a_parallel_wall(block):
    polygons = _boxes([(250, 40, 330, 80), (520, 100, 580, 200)]).geometry
    found = boundary_points(block, polygons)
    # A wall parallel to the south street opens opposite the compound's middle, 40 m from it.
    assert (found.iloc[0].x - X0, found.iloc[0].y - Y0) == pytest.approx((290, 40))
    # The second compound is nearest to the east street (20 m): its east wall, middle.
    assert (found.iloc[1].x - X0, found.iloc[1].y - Y0) == pytest.approx((580, 150))


def test_point_compounds_keep_their_point_and_polygons_can_too(block):
    compounds = pd.concat([points([(300, 40)]), _boxes([(250, 40, 330, 80)])], ignore_index=True)
    compounds = gpd.GeoDataFrame(compounds, geometry="geometry", crs=CRS)
    access = compound_access_points(block, compounds, 250, boundary=False)
    assert access.rule.tolist() == [RULE_POINT, RULE_POINT]
    assert access.snaps["snap_m"].tolist() == pytest.approx([40, 60])


def test_gates_link_by_name_by_polygon_and_by_nearest_point():
    compounds = pd.concat([
        _boxes([(0, 0, 100, 100), (100, 0, 200, 100)], name=["甲", "乙"]),
        points([(500, 0), (520, 0)], name=["丙", "丁"]),
    ], ignore_index=True)
    compounds = gpd.GeoDataFrame(compounds, geometry="geometry", crs=CRS)
    gates = points(
        [(100, 50), (50, -5), (505, 3), (900, 900), (150, 50)],
        compound=["", "", "", "", "甲"],
    )
    by_place = link_gates(gates, compounds, max_distance_m=10)
    # The gate in the shared wall serves both polygons; the one 5 m south of 甲 serves 甲; the
    # one inside 乙 serves 乙; the gate 5.8 m from 丙 goes to 丙 only (the nearest point
    # compound; 丁 is 15.3 m away), the far one to none.
    assert by_place[["compound", "gate"]].values.tolist() == [[0, 0], [0, 1], [1, 0], [1, 4], [2, 2]]
    assert by_place["gap_m"].tolist() == pytest.approx([0, 5, 0, 0, np.hypot(5, 3)])
    # By name, the gate inside 乙 that names 甲 belongs to 甲, 50 m away.
    with pytest.warns(LifecircleWarning, match="2 of 5 gates among the compounds name no compound"):
        by_name = link_gates(gates, compounds, link_field="compound")
    assert by_name[["compound", "gate"]].values.tolist() == [[0, 4]]
    assert by_name["gap_m"].iloc[0] == pytest.approx(Point(150, 50).distance(box(0, 0, 100, 100)))
    with pytest.raises(DataError, match="no column 'xiaoqu'"):
        link_gates(gates, compounds, link_field="xiaoqu")


def test_gates_naming_no_compound_are_reported():
    compounds = _boxes([(0, 0, 100, 100)], name=["甲"])
    gates = points([(50, 0), (60, 0)], compound=["甲", "乙"])
    with pytest.warns(LifecircleWarning, match="1 of 2 gates among the compounds name no compound"):
        links = link_gates(gates, compounds, link_field="compound")
    assert links["gate"].tolist() == [0]


# --- through the whole pipeline -----------------------------------------------------------------


@pytest.fixture(scope="module")
def gated_study(tmp_path_factory):
    """Streets y=0 (x 0–1100) and y=300 (x 0–1000), joined at x=0 and x=1000 (not a bare ring,
    which osmnx's simplification would drop). Compound A at (500, 140), nearer the south street, has one gate, at
    (500, 290), 10 m from the north street; a nursery stands on the south street."""
    import yaml

    from ._handbuilt import write_boxes, write_osm, write_points_csv

    folder = tmp_path_factory.mktemp("gated")
    write_osm(folder / "streets.osm", [
        [(float(x), 0.0) for x in range(0, 1101, 100)],
        [(float(x), 300.0) for x in range(0, 1001, 100)],
        [(0.0, 0.0), (0.0, 300.0)],
        [(1000.0, 0.0), (1000.0, 300.0)],
    ])
    write_points_csv(folder / "nursery.csv", [{"name": "南街托育", "x": 500, "y": -5}])
    write_points_csv(folder / "compounds.csv", [
        {"name": "A", "households": 100, "x": 500, "y": 140},
        {"name": "B", "households": 100, "x": 200, "y": 40},
    ])
    write_points_csv(folder / "gates.csv", [{"xiaoqu": "A", "x": 500, "y": 290}])
    write_boxes(folder / "area.geojson", {"area": (-50, -100, 1050, 400)})

    def profile(**gates):
        data = {
            "name": "gated",
            "title": {"zh": "门禁测试", "en": "Gate test"},
            "study_area": {"file": "area.geojson"},
            "network": {"source": "osm_file", "osm_file": "streets.osm"},
            "categories": {"nursery": {
                "label": {"zh": "托育", "en": "Nursery"}, "threshold_m": 300,
                "threshold_source": "test", "source": {"file": "nursery.csv"},
            }},
            "compounds": {"source": {"file": "compounds.csv"}, "households_field": "households"},
        }
        if gates:
            data["compounds"]["gates"] = {"source": {"file": "gates.csv"}, **gates}
        path = folder / "gated.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        return path

    return profile


def test_a_run_measures_gated_compounds_from_their_gates(gated_study):
    import lifecircle as lc

    plain = lc.run(gated_study(), progress=False).compounds.set_index("name")
    assert plain.loc["A", ["access_rule", "nursery_dist_m", "nursery_covered"]].tolist() == [
        "point", pytest.approx(145.0, abs=0.2), True
    ]
    gated = lc.run(gated_study(link_field="xiaoqu"), progress=False).compounds.set_index("name")
    # Out of the north gate (10 m), west 500 m, south 300 m, east 500 m, 5 m to the nursery.
    a = gated.loc["A"]
    assert [a["access_rule"], a["n_gates"], a["snap_m"]] == ["gates", 1, pytest.approx(10, abs=0.05)]
    assert a["nursery_dist_m"] == pytest.approx(10 + 500 + 300 + 500 + 5, abs=0.5)
    assert not a["nursery_covered"]
    # B has no gate: unchanged.
    assert gated.loc["B", ["access_rule", "n_gates"]].tolist() == ["point", 0]
    assert gated.loc["B", "nursery_dist_m"] == pytest.approx(plain.loc["B", "nursery_dist_m"])
    # The walk inside the compound, from its point to the gate (150 m), when modelled.
    inside = lc.run(gated_study(link_field="xiaoqu", interior_leg=True), progress=False)
    assert inside.compounds.set_index("name").loc["A", "nursery_dist_m"] == pytest.approx(
        a["nursery_dist_m"] + 150, abs=0.5
    )
