"""Pairs within a walking distance — which compounds a site would cover: bounded Dijkstra on
local subgraphs.

SciPy's Dijkstra returns a dense row of distances for every source, so bounded searches from
many sources over a large graph spend their time filling and scanning rows of ``inf``. A walk
is never shorter than the straight line between its ends (every edge of the access graph is at
least as long as the straight line between its end points), so every node within ``limit`` of a
set of sources lies in their bounding box grown by ``limit`` — and so does every path of
length ≤ ``limit`` from them. Sources are taken in blocks of nearby ones (a snake order over
``limit``-sized cells), and each block searches only the subgraph inside its grown box: the
result is exact, and rows are as long as the neighbourhood, not the city.

A node without a place of its own (a compound reached through several gates) is given the
bounding rectangle of its neighbours: it is in a box when its rectangle meets it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse.csgraph import dijkstra

from .. import settings
from .access import AccessGraph, build_access_graph
from .entrances import AccessPoints
from .network import WalkNetwork

#: Sources per block before the memory budget splits it further.
_BLOCK = 256
#: The category name under which sites are inserted into the access graph.
_SITES = "__sites__"


def node_rectangles(csr: sparse.csr_array, coords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper corners per node: its point, or its neighbours' bounding rectangle.

    Parameters
    ----------
    csr : scipy.sparse.csr_array
        The graph.
    coords : numpy.ndarray
        ``(n_nodes, 2)``; ``NaN`` rows for nodes without a place of their own.
    """
    low, high = coords.copy(), coords.copy()
    missing = np.flatnonzero(np.isnan(coords[:, 0]))
    if len(missing):
        # Structure only: zero-length edges (a site right on the street) must count too.
        linked = sparse.csr_array((np.ones(len(csr.data)), csr.indices, csr.indptr), shape=csr.shape)
        both = (linked + linked.T).tocsr()
        for node in missing:
            neighbours = both.indices[both.indptr[node] : both.indptr[node + 1]]
            placed = neighbours[~np.isnan(coords[neighbours, 0])]
            if len(placed):
                low[node] = coords[placed].min(axis=0)
                high[node] = coords[placed].max(axis=0)
    return low, high


def spatial_order(xy: np.ndarray, cell_m: float) -> np.ndarray:
    """Order of points along a snake path over square cells of ``cell_m``: neighbours stay close."""
    if len(xy) == 0:
        return np.zeros(0, dtype=np.int64)
    cells = np.floor((xy - xy.min(axis=0)) / max(cell_m, 1.0)).astype(np.int64)
    row = cells[:, 1]
    column = np.where(row % 2 == 0, cells[:, 0], -cells[:, 0])
    return np.lexsort((xy[:, 0], column, row))


def pairs_within(
    csr: sparse.csr_array,
    rectangles: tuple[np.ndarray, np.ndarray],
    sources: np.ndarray,
    targets: np.ndarray,
    limit: float,
    source_leg: np.ndarray,
    target_leg: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Source/target pairs whose walk (plus both legs) is at most ``limit``.

    Parameters
    ----------
    csr : scipy.sparse.csr_array
        Edge lengths, walked from source to target (transpose it to walk the other way);
        every edge at least as long as the straight line between its end points.
    rectangles : tuple of numpy.ndarray
        From :func:`node_rectangles`.
    sources, targets : numpy.ndarray
        Node numbers; targets must be distinct.
    limit : float
        The largest walk, legs included.
    source_leg, target_leg : numpy.ndarray
        Extra distance added at each source and target (e.g. snap distances).

    Returns
    -------
    source_index, target_index : numpy.ndarray
        Positions into ``sources`` and ``targets`` of every pair within ``limit``.
    """
    csr = sparse.csr_array(csr)
    low, high = rectangles
    target_of_node = np.full(csr.shape[0], -1, dtype=np.int64)
    target_of_node[targets] = np.arange(len(targets))
    order = spatial_order((low[sources] + high[sources]) / 2, limit)
    budget = max(1, int(settings.distance_block_bytes // 8))
    found_s, found_t = [], []
    start = 0
    while start < len(order):
        size = min(_BLOCK, len(order) - start)
        while True:
            block = order[start : start + size]
            box_low = low[sources[block]].min(axis=0) - limit
            box_high = high[sources[block]].max(axis=0) + limit
            inside = np.flatnonzero(np.all((high >= box_low) & (low <= box_high), axis=1))
            if size == 1 or size * len(inside) <= budget:
                break
            size //= 2
        s, t = _block_pairs(csr, inside, sources[block], target_of_node, limit,
                            source_leg[block], target_leg)
        found_s.append(block[s])
        found_t.append(t)
        start += size
    if not found_s:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(found_s), np.concatenate(found_t)


def _block_pairs(
    csr: sparse.csr_array,
    inside: np.ndarray,
    block_sources: np.ndarray,
    target_of_node: np.ndarray,
    limit: float,
    source_leg: np.ndarray,
    target_leg: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    sub = csr[inside][:, inside]
    local_sources = np.searchsorted(inside, block_sources)
    dist = dijkstra(sub, directed=True, indices=local_sources, limit=limit)
    local_targets = np.flatnonzero(target_of_node[inside] >= 0)
    target_index = target_of_node[inside[local_targets]]
    walk = dist[:, local_targets] + target_leg[target_index][None, :] + source_leg[:, None]
    s, t = np.nonzero(walk <= limit)
    return s, target_index[t]


def coverage_matrix(
    network: WalkNetwork,
    access_points: AccessPoints,
    site_snaps: pd.DataFrame,
    threshold_m: float,
    demand: np.ndarray,
) -> sparse.csr_array:
    """Which compounds each site would bring within ``threshold_m`` walk.

    The sites are inserted into the network with the compounds' access points (each site with a
    door at its snap distance, like a facility; a compound with several gates joined to them
    one way, as in the run), and threshold-bounded Dijkstra runs from whichever side is smaller
    — forwards from the sites, or backwards from the compounds — on local subgraphs
    (:func:`lifecircle.analysis._reach.pairs_within`). A walk includes both legs, as in the run.

    Parameters
    ----------
    network : WalkNetwork
        The projected walking network.
    access_points : AccessPoints
        The compounds' access points (:func:`lifecircle.analysis.entrances.profile_access_points`).
    site_snaps : pandas.DataFrame
        From :func:`lifecircle.analysis.access.snap_layer`.
    threshold_m : float
        Inclusive (with :data:`lifecircle.settings.threshold_tolerance_m`, as in the run).
    demand : numpy.ndarray of bool
        The compounds (rows) to measure; the other rows stay empty.

    Returns
    -------
    scipy.sparse.csr_array
        Compounds × sites, boolean.
    """
    graph = build_access_graph(
        network, access_points.snaps, {_SITES: site_snaps}, compound_of=access_points.compound
    )
    doors = graph.facility_door[_SITES]
    nodes, compound_leg = graph.compound_node, graph.compound_snap_m
    shape = (len(nodes), len(doors))
    rows = np.flatnonzero(np.asarray(demand, dtype=bool) & (nodes >= 0))
    cols = np.flatnonzero(doors >= 0)
    if len(rows) == 0 or len(cols) == 0:
        return sparse.csr_array(shape, dtype=bool)
    coords = _node_coordinates(network, graph, [access_points.snaps, site_snaps])
    rectangles = node_rectangles(graph.csr, coords)
    limit = threshold_m + settings.threshold_tolerance_m
    if len(rows) <= len(cols):
        # Walks run from the sites to the compounds: search backwards from the compounds.
        r, c = pairs_within(graph.csr.T, rectangles, nodes[rows], doors[cols], limit,
                            compound_leg[rows], np.zeros(len(cols)))
    else:
        c, r = pairs_within(graph.csr, rectangles, doors[cols], nodes[rows], limit,
                            np.zeros(len(cols)), compound_leg[rows])
    return sparse.csr_array(
        (np.ones(len(r), dtype=bool), (rows[r], cols[c])), shape=shape
    )


def _node_coordinates(
    network: WalkNetwork, graph: AccessGraph, inserted: list[pd.DataFrame]
) -> np.ndarray:
    """Where the nodes of the access graph are; ``NaN`` for doors and multi-gate compounds.

    Street nodes first, then one node per snapped row of ``inserted`` in order (as
    :func:`lifecircle.analysis.network.split_edges_at_points` numbers them).
    """
    coords = np.full((graph.csr.shape[0], 2), np.nan)
    edges = network.edges
    geoms = edges.geometry.to_numpy()
    coords[edges["u_pos"].to_numpy()] = shapely.get_coordinates(shapely.get_point(geoms, 0))
    coords[edges["v_pos"].to_numpy()] = shapely.get_coordinates(shapely.get_point(geoms, -1))
    snaps = pd.concat([frame[["edge", "snap_x", "snap_y"]] for frame in inserted], ignore_index=True)
    placed = snaps[snaps["edge"].notna()][["snap_x", "snap_y"]].to_numpy(float)
    coords[network.n_nodes : network.n_nodes + len(placed)] = placed
    return coords
