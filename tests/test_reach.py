"""Bounded searches (analysis/reach.py) and the facility counts built on them, against networkx
on random graphs, hand-built graphs and a generated city."""

from __future__ import annotations

import networkx as nx
import numba
import numpy as np
import pytest
from scipy import sparse

import lifecircle as lc
from lifecircle.analysis.access import (
    build_access_graph,
    facilities_within,
    facility_counts,
    snap_layer,
)
from lifecircle.analysis.network import walking_network
from lifecircle.analysis.reach import bounded_distances, count_within, walks_within
from lifecircle.sources.tables import read_layer

from ._graphs import CRS, points, street_graph


def random_graph(seed: int, n: int = 400, m: int = 1600, directed: bool = True):
    """A random weighted graph with zero-length and parallel edges, as CSR and networkx."""
    rng = np.random.default_rng(seed)
    rows, cols = rng.integers(0, n, m), rng.integers(0, n, m)
    weights = rng.uniform(0, 100, m).round(1)  # rounded: many ties
    weights[: m // 20] = 0.0
    keep = rows != cols
    rows, cols, weights = rows[keep], cols[keep], weights[keep]
    if not directed:
        rows, cols, weights = np.r_[rows, cols], np.r_[cols, rows], np.r_[weights, weights]
    graph = nx.DiGraph()
    graph.add_nodes_from(range(n))
    for r, c, w in zip(rows, cols, weights, strict=True):
        # Parallel edges: the shortest counts (csr_array sums duplicates, so take the min here).
        if not graph.has_edge(r, c) or graph[r][c]["weight"] > w:
            graph.add_edge(int(r), int(c), weight=float(w))
    edges = list(graph.edges(data="weight"))
    csr = sparse.csr_array(
        ([w for *_, w in edges], ([u for u, *_ in edges], [v for _, v, _ in edges])),
        shape=(n, n),
    )
    return csr, graph


@pytest.mark.parametrize("directed", [True, False])
@pytest.mark.parametrize("seed", [0, 1])
def test_bounded_distances_agree_with_networkx_cutoff(seed, directed):
    csr, graph = random_graph(seed, directed=directed)
    sources = np.array([0, 5, 5, 17, 399])  # a repeated source gets its own row
    reach = bounded_distances(csr, sources, 120.0)
    assert reach.shape == (5, csr.shape[0])
    for row, source in enumerate(sources):
        expected = nx.single_source_dijkstra_path_length(graph, int(source), cutoff=120.0)
        got = dict(
            zip(reach[[row]].indices.tolist(), reach[[row]].data.tolist(), strict=True)
        )
        assert got.keys() == expected.keys()
        assert np.allclose([got[k] for k in expected], list(expected.values()), atol=1e-9)
        assert got[int(source)] == 0.0  # stored although zero


@pytest.mark.parametrize("seed", [2, 3])
def test_counts_for_several_thresholds_agree_with_networkx(seed):
    csr, graph = random_graph(seed)
    rng = np.random.default_rng(seed)
    sources = rng.choice(csr.shape[0], 40, replace=False)
    targets = rng.integers(0, csr.shape[0], 150)  # some targets share a node
    extra = rng.uniform(0, 30, len(targets))
    thresholds = [150.0, 0.0, 60.0, 100.0]  # any order
    counts = count_within(csr, sources, targets, thresholds, target_extra=extra)
    expected = np.zeros((len(targets), len(thresholds)), dtype=int)
    for source in sources:
        reach = nx.single_source_dijkstra_path_length(graph, int(source), cutoff=150.0)
        walk = np.array([reach.get(int(t), np.inf) for t in targets]) + extra
        expected += np.stack([walk <= t for t in thresholds], axis=1)
    assert np.array_equal(counts, expected)
    assert counts[:, 0].sum() > counts[:, 3].sum() > 0  # the thresholds matter


def test_results_do_not_depend_on_the_thread_count():
    csr, _ = random_graph(4, n=2000, m=8000)
    sources = np.arange(0, 2000, 7)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = count_within(csr, sources, np.arange(2000), [80.0, 200.0])
        reach_one = bounded_distances(csr, sources, 150.0)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = count_within(csr, sources, np.arange(2000), [80.0, 200.0])
        reach_many = bounded_distances(csr, sources, 150.0)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one, many)
    assert (reach_one != reach_many).nnz == 0
    assert np.array_equal(reach_one.indptr, reach_many.indptr)


def test_bad_inputs_are_clear_errors():
    csr, _ = random_graph(5, n=50, m=100)
    with pytest.raises(lc.LifecircleError, match="non-negative"):
        bounded_distances(csr, [0], -1.0)
    with pytest.raises(lc.LifecircleError, match="source nodes"):
        bounded_distances(csr, [50], 10.0)
    with pytest.raises(lc.LifecircleError, match="CSR"):
        bounded_distances(csr.tocoo(), [0], 10.0)
    negative = csr.copy()
    negative.data[0] = -1.0
    with pytest.raises(lc.LifecircleError, match="negative"):
        count_within(negative, [0], [1], [10.0])
    with pytest.raises(lc.LifecircleError, match="threshold"):
        count_within(csr, [0], [1], [])
    with pytest.raises(lc.LifecircleError, match="target nodes"):
        count_within(csr, [0], [99], [10.0])
    assert count_within(csr, [], [1, 2], [10.0]).tolist() == [[0], [0]]


def _networkx_counts(access, category, thresholds):
    """Counts per compound from networkx Dijkstra (with cutoff) from every facility door."""
    graph = nx.from_scipy_sparse_array(access.csr, create_using=nx.DiGraph)
    nodes = access.compound_node
    counts = np.zeros((len(nodes), len(thresholds)), dtype=int)
    for door in access.facility_door[category]:
        if door < 0:
            continue
        reach = nx.single_source_dijkstra_path_length(graph, int(door), cutoff=max(thresholds))
        walk = np.array([reach.get(int(n), np.inf) if n >= 0 else np.inf for n in nodes])
        walk = walk + access.compound_snap_m
        counts += np.stack([walk <= t + 1e-6 for t in thresholds], axis=1)
    return counts


def test_facility_counts_on_a_generated_city_agree_with_networkx(small_city):
    profile, network = small_city
    compounds = read_layer(profile.parent / "compounds.csv", crs="wgs84", x="lon", y="lat")
    nursery = read_layer(profile.parent / "nursery.csv", crs="wgs84", x="lon", y="lat")
    c_snaps = snap_layer(network, compounds, 250.0)
    f_snaps = {"nursery": snap_layer(network, nursery, 250.0)}
    access = build_access_graph(network, c_snaps, f_snaps)
    thresholds = [300.0, 500.0, 1000.0]
    counts = facility_counts(access, "nursery", thresholds)
    assert np.array_equal(counts, _networkx_counts(access, "nursery", thresholds))
    assert np.array_equal(counts[:, 1], facilities_within(access, "nursery", 500.0))
    assert (counts[:, 2] > counts[:, 0]).mean() > 0.5
    # Compounds off the network count nothing.
    assert (counts[c_snaps["edge"].isna().to_numpy()] == 0).all()


def test_counts_on_a_hand_built_line_count_exactly_the_threshold():
    # 0 —100— 1 —100— 2: facilities at 0, 100, 200 m; compound 10 m off the street at 100 m.
    network = walking_network(
        street_graph({0: (0, 0), 1: (100, 0), 2: (200, 0)}, [(0, 1), (1, 2)]), CRS
    )
    c_snaps = snap_layer(network, points([(100, 10)]), 50.0)
    f_snaps = {"f": snap_layer(network, points([(0, 0), (100, 0), (200, 0)]), 50.0)}
    access = build_access_graph(network, c_snaps, f_snaps)
    counts = facility_counts(access, "f", [9.0, 10.0, 109.9, 110.0])
    assert counts.tolist() == [[0, 1, 1, 3]]


def test_walks_within_list_the_pairs_networkx_finds():
    csr, graph = random_graph(6)
    rng = np.random.default_rng(6)
    sources = rng.choice(csr.shape[0], 30, replace=False)
    targets = rng.integers(0, csr.shape[0], 100)
    extra = rng.uniform(0, 20, len(targets))
    source, target, walk = walks_within(csr, sources, targets, 90.0, target_extra=extra)
    expected = {}
    for i, s in enumerate(sources):
        reach = nx.single_source_dijkstra_path_length(graph, int(s), cutoff=90.0)
        for j, t in enumerate(targets):
            if int(t) in reach and reach[int(t)] + extra[j] <= 90.0:
                expected[(i, j)] = reach[int(t)] + extra[j]
    assert list(zip(source.tolist(), target.tolist(), strict=True)) == sorted(expected)
    assert np.allclose(walk, [expected[k] for k in sorted(expected)], atol=1e-9)
