"""The methods compared: lifecircle's engine, the bare kernels under it, and the field's tools
(networkx, igraph, pandana, the osmnx-tutorial ego graph), all on the same graph and the same
snapped inputs (:class:`benchmarks._inputs.PeerGraph`), answering the same question.

Answers are dictionaries ``{category: array}``: nearest walk per on-network compound, or counts
per compound and threshold. Methods too slow for the whole task at a size run on a sample of
facilities (counts) or compounds (ego graph); their time is extrapolated and labelled.
"""

from __future__ import annotations

from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
from scipy.sparse.csgraph import dijkstra

from lifecircle import settings
from lifecircle.analysis.access import facility_counts, nearest_facility_distance
from lifecircle.analysis.reach import count_within

from . import _cityseer
from ._inputs import COUNT_THRESHOLDS, Inputs
from ._measure import Method, quiet_stdout

TOL = settings.threshold_tolerance_m
LIMITS = np.asarray(COUNT_THRESHOLDS) + TOL
OWN = {"lifecircle", "bare kernel: scipy dijkstra min_only", "bare kernel: numba count_within"}


def nearest_methods(inputs: Inputs, plan: dict[str, Any]) -> list[Method]:
    """Nearest facility of every category for every compound."""
    access, peer = inputs.access, inputs.peer
    on = peer.on_network
    nodes, legs = access.compound_node[on], access.compound_snap_m[on]
    categories = list(inputs.thresholds)

    def engine(_: Any) -> dict:
        return {c: nearest_facility_distance(access, c)[0][on] for c in categories}

    def bare_scipy(_: Any) -> dict:
        return {
            c: dijkstra(access.csr, directed=True, indices=peer.doors[c], min_only=True)[nodes]
            + legs
            for c in categories
        }

    methods = [
        Method("lifecircle", engine, how="engine API"),
        Method("bare kernel: scipy dijkstra min_only", bare_scipy, how="same CSR, no bookkeeping"),
    ]
    if plan.get("networkx_nearest", True):
        methods.append(
            Method(
                "networkx multi_source_dijkstra",
                lambda g: {
                    c: _from_dict(nx.multi_source_dijkstra_path_length(g, set(peer.doors[c].tolist()),
                                                                       weight="weight"), peer.homes)
                    for c in categories
                },
                setup=lambda: nx.from_scipy_sparse_array(peer.csr, create_using=nx.DiGraph),
                repeat=1 if inputs.size != "huangpu" else None,
            )
        )
    methods.append(Method("igraph (super-source dijkstra)", _igraph_nearest(inputs, categories),
                          setup=lambda: _igraph_graph(inputs, super_sources=True)))
    if plan.get("pandana", True):
        methods.append(Method("pandana nearest_pois", _pandana_nearest(inputs, categories),
                              setup=lambda: _pandana_setup(inputs, pois=True)))
    else:
        methods.append(Method("pandana nearest_pois", None, skipped=plan["pandana_skip"]))
    return methods


def count_methods(
    inputs: Inputs, plan: dict[str, Any], rng: np.random.Generator
) -> tuple[list[Method], dict[str, np.ndarray]]:
    """Facilities within 300, 500 and 1000 m of every compound, every category; and the
    facilities the sampled methods start from."""
    access, peer = inputs.access, inputs.peer
    on = peer.on_network
    nodes, legs = access.compound_node[on], access.compound_snap_m[on]
    categories = list(inputs.thresholds)
    sample = _door_sample(peer, categories, plan.get("door_sample"), rng)
    scale, how = _sampled(peer, categories, sample)
    igraph_sample = _door_sample(peer, categories, plan.get("igraph_sample"), rng)
    igraph_scale, igraph_how = _sampled(peer, categories, igraph_sample)

    def engine(_: Any) -> dict:
        return {c: facility_counts(access, c, COUNT_THRESHOLDS)[on] for c in categories}

    def bare_numba(_: Any) -> dict:
        return {
            c: count_within(access.csr, peer.doors[c], nodes, LIMITS, target_extra=legs)
            for c in categories
        }

    def scipy_rows(_: Any) -> dict:
        out = {}
        for c in categories:
            counts = np.zeros((len(nodes), len(LIMITS)), dtype=np.int64)
            for block in np.array_split(sample[c], max(1, len(sample[c]) // 200)):
                if len(block) == 0:
                    continue
                walk = dijkstra(access.csr, directed=True, indices=block, limit=LIMITS[-1])
                walk = walk[:, nodes] + legs
                counts += np.stack([(walk <= t).sum(axis=0) for t in LIMITS], axis=1)
            out[c] = counts
        return out

    def networkx_cutoff(graph: nx.DiGraph) -> dict:
        home_of = {int(h): i for i, h in enumerate(peer.homes)}
        out = {}
        for c in categories:
            counts = np.zeros((len(peer.homes), len(LIMITS)), dtype=np.int64)
            for door in sample[c].tolist():
                reach = nx.single_source_dijkstra_path_length(graph, door, cutoff=LIMITS[-1],
                                                              weight="weight")
                for node, walk in reach.items():
                    i = home_of.get(node)
                    if i is not None:
                        counts[i] += walk <= LIMITS
            out[c] = counts
        return out

    methods = [
        Method("lifecircle", engine, how="engine API"),
        Method("bare kernel: numba count_within", bare_numba, how="same CSR, no bookkeeping"),
        Method("scipy dijkstra(limit=) full rows", scipy_rows, how=how, scale=scale,
               note="the engine's former method"),
        Method("networkx cutoff searches", networkx_cutoff, how=how, scale=scale,
               setup=lambda: nx.from_scipy_sparse_array(peer.csr, create_using=nx.DiGraph),
               repeat=1),
        Method("igraph distances (full rows)", _igraph_counts(inputs, categories, igraph_sample),
               setup=lambda: _igraph_graph(inputs, super_sources=False), how=igraph_how,
               scale=igraph_scale, repeat=1),
    ]
    if plan.get("pandana", True):
        methods.append(Method("pandana aggregate (count)", _pandana_counts(inputs, categories),
                              setup=lambda: _pandana_setup(inputs, pois=False), how="all nodes",
                              note="float32 distances: ties at a threshold may flip"))
    if not plan.get("cityseer", True):
        methods.append(Method("cityseer accessibility (counts)", None, skipped=(
            "not run at this size: its set-up adds every node and edge from Python")))
    else:
        methods.append(Method("cityseer accessibility (counts)",
                              lambda state: _cityseer.run(state, categories, peer.homes),
                              setup=lambda: _cityseer.setup(inputs), how="homes live",
                              note="float32 lengths, 1 mm for zero-length edges"))
    if plan.get("ego_sample"):
        methods.append(_ego_method(inputs, categories, rng, plan["ego_sample"]))
    return methods, {"facilities": sample, "igraph": igraph_sample}


def _sampled(peer, categories, sample) -> tuple[float, str]:  # noqa: ANN001
    total = sum(len(peer.doors[c]) for c in categories)
    sampled = sum(len(v) for v in sample.values())
    if sampled == total:
        return 1.0, "all"
    return total / sampled, f"{sampled} of {total} facilities, extrapolated"


def reference_counts(inputs: Inputs, sample: dict[str, np.ndarray]) -> dict:
    """Counts from the sampled facilities only (exact, from the bare kernel)."""
    access, peer = inputs.access, inputs.peer
    on = peer.on_network
    return {
        c: count_within(access.csr, doors, access.compound_node[on], LIMITS,
                        target_extra=access.compound_snap_m[on])
        for c, doors in sample.items()
    }


def _door_sample(peer, categories, size, rng) -> dict[str, np.ndarray]:
    if not size:
        return {c: peer.doors[c] for c in categories}
    total = sum(len(peer.doors[c]) for c in categories)
    share = min(1.0, size / max(total, 1))
    return {
        c: np.sort(rng.choice(peer.doors[c], max(1, round(share * len(peer.doors[c]))),
                              replace=False))
        for c in categories
    }


def _from_dict(walks: dict, nodes: np.ndarray) -> np.ndarray:
    return np.array([walks.get(int(n), np.inf) for n in nodes])


def _igraph_graph(inputs: Inputs, *, super_sources: bool):
    import igraph as ig

    peer = inputs.peer
    coo = peer.csr.tocoo()
    rows, cols, weights = coo.row, coo.col, coo.data
    n = peer.n_nodes
    sources = {}
    if super_sources:  # one extra vertex per category, with 0 m edges to its doors
        extra_rows, extra_cols = [], []
        for k, category in enumerate(inputs.thresholds):
            sources[category] = n + k
            extra_rows.append(np.full(len(peer.doors[category]), n + k))
            extra_cols.append(peer.doors[category])
        rows = np.r_[rows, *extra_rows]
        cols = np.r_[cols, *extra_cols]
        weights = np.r_[weights, np.zeros(sum(len(r) for r in extra_rows))]
        n += len(inputs.thresholds)
    graph = ig.Graph(n=n, edges=np.c_[rows, cols], directed=True)
    graph.es["weight"] = weights
    return graph, sources


def _igraph_nearest(inputs: Inputs, categories: list[str]):
    homes = inputs.peer.homes.tolist()

    def run(state) -> dict:
        graph, sources = state
        return {
            c: np.asarray(graph.distances(source=[sources[c]], target=homes, weights="weight")[0])
            for c in categories
        }

    return run


def _igraph_counts(inputs: Inputs, categories: list[str], sample: dict[str, np.ndarray]):
    homes = inputs.peer.homes.tolist()

    def run(state) -> dict:
        graph, _ = state
        out = {}
        for c in categories:
            counts = np.zeros((len(homes), len(LIMITS)), dtype=np.int64)
            for block in np.array_split(sample[c], max(1, len(sample[c]) // 100)):
                if len(block) == 0:
                    continue
                walk = np.asarray(graph.distances(source=block.tolist(), target=homes,
                                                  weights="weight"))
                counts += np.stack([(walk <= t).sum(axis=0) for t in LIMITS], axis=1)
            out[c] = counts
        return out

    return run


_PANDANA: dict[str, Any] = {}


def _pandana_setup(inputs: Inputs, *, pois: bool):
    import pandana

    with quiet_stdout():  # pandana's C++ prints its progress
        return _pandana_network(pandana, inputs, pois=pois)


def _pandana_network(pandana, inputs: Inputs, *, pois: bool):  # noqa: ANN001
    peer = inputs.peer
    # One contraction hierarchy per size, shared by both tasks (its set-up is counted once).
    network = _PANDANA.get(inputs.size)
    if network is None:
        coo = peer.csr.tocoo()
        nodes = pd.RangeIndex(peer.n_nodes)
        network = pandana.Network(
            pd.Series(peer.x, index=nodes), pd.Series(peer.y, index=nodes),
            pd.Series(coo.row), pd.Series(coo.col), pd.DataFrame({"weight": coo.data}),
            twoway=False,
        )
        _PANDANA.clear()
        _PANDANA[inputs.size] = network
    if pois:
        reach = {}
        for category, doors in peer.doors.items():
            # Search as far as the farthest nearest facility of the engine (plus a margin).
            walk = nearest_facility_distance(inputs.access, category)[0]
            reach[category] = float(np.nanmax(np.where(np.isfinite(walk), walk, np.nan))) + 1.0
            network.set_pois(category, reach[category], 1, pd.Series(peer.x[doors]),
                             pd.Series(peer.y[doors]))
        return network, reach
    network.precompute(LIMITS[-1] + 1)
    for category, doors in peer.doors.items():
        network.set(pd.Series(doors), variable=pd.Series(np.ones(len(doors))), name=category)
    return network, None


def _pandana_nearest(inputs: Inputs, categories: list[str]):
    homes = inputs.peer.homes

    def run(state) -> dict:
        network, reach = state
        out = {}
        for c in categories:
            found = network.nearest_pois(reach[c], c, num_pois=1)
            walk = found.iloc[:, 0].to_numpy(dtype=float)[homes]
            out[c] = np.where(walk >= reach[c], np.inf, walk)
        return out

    return run


def _pandana_counts(inputs: Inputs, categories: list[str]):
    homes = inputs.peer.homes

    def run(state) -> dict:
        network, _ = state
        return {
            c: np.stack(
                [network.aggregate(t, type="count", decay="flat", name=c).to_numpy()[homes]
                 for t in LIMITS],
                axis=1,
            ).round().astype(np.int64)
            for c in categories
        }

    return run


def _ego_method(inputs: Inputs, categories: list[str], rng, origins: int) -> Method:
    """The osmnx isochrone tutorial's way: one ego graph per origin and threshold."""
    peer = inputs.peer
    picks = np.sort(rng.choice(len(peer.homes), min(origins, len(peer.homes)), replace=False))
    door_sets = {c: set(peer.doors[c].tolist()) for c in categories}

    def run(graph: nx.DiGraph) -> dict:
        counts = {c: np.zeros((len(picks), len(LIMITS)), dtype=np.int64) for c in categories}
        for row, home in enumerate(peer.homes[picks].tolist()):
            for k, limit in enumerate(LIMITS):
                reached = nx.ego_graph(graph, home, radius=limit, distance="weight")
                for c in categories:
                    counts[c][row, k] = len(door_sets[c].intersection(reached.nodes))
        return {"_rows": picks, **counts}

    return Method(
        "osmnx tutorial: ego_graph per origin",
        run,
        setup=lambda: nx.from_scipy_sparse_array(peer.csr, create_using=nx.DiGraph),
        how=f"{len(picks)} of {len(peer.homes)} compounds, extrapolated",
        scale=len(peer.homes) / len(picks),
        repeat=1,
        note="different method, same question: counts only",
    )
