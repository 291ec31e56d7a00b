"""Pairs of graph nodes within a walking distance: bounded Dijkstra on local subgraphs.

SciPy's Dijkstra returns a dense row of distances for every source, so bounded searches from
many sources over a large graph spend their time filling and scanning rows of ``inf``. A walk
is never shorter than the straight line between its ends (every edge of the access graph is at
least as long as the straight line between its end points), so every node within ``limit`` of a
set of sources lies in their bounding box grown by ``limit`` — and so does every path of
length ≤ ``limit`` between them. Sources are taken in blocks of nearby ones (a snake order over
``limit``-sized cells), and each block searches only the subgraph inside its grown box: the
result is exact, and rows are as long as the neighbourhood, not the city.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import dijkstra

from .. import settings

#: Sources per block before the memory budget splits it further.
_BLOCK = 256


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
    coords: np.ndarray,
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
        Symmetric edge lengths; every edge at least as long as the straight line between the
        coordinates of its end points.
    coords : numpy.ndarray
        ``(n_nodes, 2)`` projected coordinates of every node.
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
    target_of_node = np.full(csr.shape[0], -1, dtype=np.int64)
    target_of_node[targets] = np.arange(len(targets))
    order = spatial_order(coords[sources], limit)
    budget = max(1, int(settings.distance_block_bytes // 8))
    found_s, found_t = [], []
    start = 0
    while start < len(order):
        size = min(_BLOCK, len(order) - start)
        while True:
            block = order[start : start + size]
            inside = _inside_box(coords, coords[sources[block]], limit)
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


def _inside_box(coords: np.ndarray, points: np.ndarray, limit: float) -> np.ndarray:
    low = points.min(axis=0) - limit
    high = points.max(axis=0) + limit
    return np.flatnonzero(np.all((coords >= low) & (coords <= high), axis=1))


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
