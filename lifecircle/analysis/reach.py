"""Bounded shortest-path searches: what lies within a walking distance of many sources.

:func:`scipy.sparse.csgraph.dijkstra` with ``limit=`` answers "what is within reach" too, but it
allocates and fills a full row (every node of the graph) per source, so its cost grows with the
whole city, not with the streets within reach: at a million nodes that is about 3 ms per source
whatever the limit. The searches here keep one distance array per thread and reset only the
nodes a search touched, so a search costs in proportion to the part of the network within its
limit. Several thresholds are answered by one search to the largest of them.

The kernels are compiled with numba (a maintained, widely used JIT compiler for NumPy code)
without the GIL, and chunks of sources run on ``numba.get_num_threads()`` threads (all cores
by default; ``NUMBA_NUM_THREADS`` or ``numba.set_num_threads`` limits that).

Public functions take a graph as a ``scipy.sparse`` CSR matrix whose entry ``[i, j]`` is the
length of the edge from ``i`` to ``j`` (e.g. :attr:`lifecircle.analysis.access.AccessGraph.csr`)
and follow edges in that direction, as ``dijkstra(..., directed=True)`` does. Explicit zero
entries are edges of length zero.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numba
import numpy as np
from scipy import sparse

from ..errors import LifecircleError

#: Chunks of sources per thread (load balance).
_CHUNKS_PER_THREAD = 4
_T = TypeVar("_T")


def bounded_distances(
    csr: sparse.csr_array | sparse.csr_matrix, sources: Sequence[int] | np.ndarray, limit: float
) -> sparse.csr_array:
    """Shortest walks from each source to every node within ``limit``.

    Parameters
    ----------
    csr : scipy.sparse.csr_array
        Edge lengths (``[i, j]`` = length of the edge i → j), non-negative.
    sources : sequence of int
        Source nodes.
    limit : float
        Largest distance returned (inclusive).

    Returns
    -------
    scipy.sparse.csr_array
        Shape ``(len(sources), n_nodes)``: row ``k`` holds the distance from ``sources[k]`` to
        every node within ``limit``, as explicit entries (a source reaches itself at 0, which
        is stored: use ``.indices``/``.data`` or ``.tocoo()``, not ``!= 0``, to list them).

    Examples
    --------
    >>> reach = bounded_distances(access_graph.csr, doors, 500.0)
    >>> nodes, metres = reach[[0]].indices, reach[[0]].data   # within 500 m of doors[0]
    """
    indptr, indices, weights, sources = _checked(csr, sources, limit)
    parts = _in_threads(
        lambda chunk: _reach_chunk(indptr, indices, weights, chunk, float(limit)), sources
    )
    per_source = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
    nodes = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
    dists = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0)
    row_ptr = np.zeros(len(sources) + 1, dtype=np.int64)
    np.cumsum(per_source, out=row_ptr[1:])
    out = sparse.csr_array((dists, nodes, row_ptr), shape=(len(sources), csr.shape[1]))
    out.sort_indices()
    return out


def count_within(
    csr: sparse.csr_array | sparse.csr_matrix,
    sources: Sequence[int] | np.ndarray,
    targets: Sequence[int] | np.ndarray,
    thresholds: Sequence[float] | np.ndarray,
    target_extra: Sequence[float] | np.ndarray | None = None,
) -> np.ndarray:
    """How many sources lie within each threshold of each target.

    A source counts for a target and a threshold when the shortest walk from the source to
    the target node, plus ``target_extra`` of the target (e.g. its snap leg), is at most the
    threshold. One bounded search per source, to the largest threshold, answers all
    thresholds.

    Parameters
    ----------
    csr : scipy.sparse.csr_array
        Edge lengths (``[i, j]`` = length of the edge i → j), non-negative.
    sources : sequence of int
        Source nodes (each counts once per target, even if listed twice).
    targets : sequence of int
        Target nodes; several targets may share a node.
    thresholds : sequence of float
        Distances (inclusive), any order.
    target_extra : sequence of float, optional
        Added to the walk of each target (default 0).

    Returns
    -------
    numpy.ndarray
        Shape ``(len(targets), len(thresholds))``, int64.
    """
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if thresholds.ndim != 1 or len(thresholds) == 0:
        raise LifecircleError("count_within needs at least one threshold")
    indptr, indices, weights, sources = _checked(csr, sources, float(thresholds.max()))
    target_ptr, target_of, extra = _targets_by_node(csr.shape[0], targets, target_extra)
    if len(sources) == 0 or len(target_of) == 0:
        return np.zeros((len(target_of), len(thresholds)), dtype=np.int64)
    parts = _in_threads(
        lambda chunk: _count_chunk(
            indptr, indices, weights, chunk, target_ptr, target_of, extra, thresholds
        ),
        sources,
    )
    return np.sum(parts, axis=0)


def walks_within(
    csr: sparse.csr_array | sparse.csr_matrix,
    sources: Sequence[int] | np.ndarray,
    targets: Sequence[int] | np.ndarray,
    limit: float,
    target_extra: Sequence[float] | np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every source → target walk within ``limit``, as three aligned arrays.

    Like :func:`count_within`, but listing the pairs with their distances (e.g. for
    two-step floating catchments, or candidate sites and the homes they would serve).

    Parameters
    ----------
    csr : scipy.sparse.csr_array
        Edge lengths (``[i, j]`` = length of the edge i → j), non-negative.
    sources : sequence of int
        Source nodes.
    targets : sequence of int
        Target nodes; several targets may share a node.
    limit : float
        Largest walk (inclusive), ``target_extra`` included.
    target_extra : sequence of float, optional
        Added to the walk of each target (default 0).

    Returns
    -------
    source, target, distance : numpy.ndarray
        Positions in ``sources`` and ``targets`` (int64) and the walks (m), sorted by
        source then target.
    """
    indptr, indices, weights, sources = _checked(csr, sources, limit)
    target_ptr, target_of, extra = _targets_by_node(csr.shape[0], targets, target_extra)
    starts = np.cumsum([0] + [len(c) for c in np.array_split(sources, _n_chunks(sources))])
    parts = _in_threads(
        lambda chunk: _pairs_chunk(
            indptr, indices, weights, chunk, target_ptr, target_of, extra, float(limit)
        ),
        sources,
    )
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    source = np.concatenate([p[0] + start for p, start in zip(parts, starts, strict=False)])
    target = np.concatenate([p[1] for p in parts])
    distance = np.concatenate([p[2] for p in parts])
    order = np.lexsort((target, source))
    return source[order], target[order], distance[order]


def _targets_by_node(
    n_nodes: int,
    targets: Sequence[int] | np.ndarray,
    target_extra: Sequence[float] | np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Targets grouped by node (node i has ``target_of[ptr[i]:ptr[i + 1]]``) and extras."""
    targets = np.asarray(targets, dtype=np.int64)
    extra = (
        np.zeros(len(targets))
        if target_extra is None
        else np.asarray(target_extra, dtype=np.float64)
    )
    if len(extra) != len(targets):
        raise LifecircleError("target_extra must give one value per target")
    if len(targets) and (targets.min() < 0 or targets.max() >= n_nodes):
        raise LifecircleError("target nodes must be nodes of the graph")
    target_ptr = np.zeros(n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(targets, minlength=n_nodes), out=target_ptr[1:])
    return target_ptr, np.argsort(targets, kind="stable").astype(np.int64), extra


def _checked(
    csr: sparse.csr_array | sparse.csr_matrix, sources: Sequence[int] | np.ndarray, limit: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if not sparse.issparse(csr) or csr.format != "csr" or csr.shape[0] != csr.shape[1]:
        raise LifecircleError("the graph must be a square scipy.sparse CSR matrix")
    if not np.isfinite(limit) or limit < 0:
        raise LifecircleError(f"the search limit must be a non-negative distance, got {limit}")
    weights = np.asarray(csr.data, dtype=np.float64)
    if len(weights) and weights.min() < 0:
        raise LifecircleError("edge lengths must not be negative")
    sources = np.asarray(sources, dtype=np.int64)
    if len(sources) and (sources.min() < 0 or sources.max() >= csr.shape[0]):
        raise LifecircleError("source nodes must be nodes of the graph")
    # Index arrays go to the kernels as they are (int32 or int64): no copy of a city's graph.
    return csr.indptr, csr.indices, weights, sources


def _in_threads(kernel: Callable[[np.ndarray], _T], sources: np.ndarray) -> list[_T]:
    """Run a kernel (compiled without the GIL) over chunks of the sources on all threads.

    Several chunks per thread balance the load (searches near the city centre cost more).
    Results come back in chunk order, so the outcome does not depend on the thread count.
    """
    threads = numba.get_num_threads()
    n_chunks = _n_chunks(sources)
    chunks = np.array_split(sources, n_chunks)
    if threads == 1 or n_chunks == 1:
        return [kernel(chunk) for chunk in chunks]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(kernel, chunks))


def _n_chunks(sources: np.ndarray) -> int:
    return max(1, min(len(sources), numba.get_num_threads() * _CHUNKS_PER_THREAD))


@numba.njit(cache=True)
def _search_state(n_nodes):  # noqa: ANN001, ANN202
    """A search's work arrays: distances (all inf), settled nodes, and the heap."""
    dist = np.full(n_nodes, np.inf)
    settled = np.empty(1024, dtype=np.int64)
    heap_d = np.empty(1024, dtype=np.float64)
    heap_n = np.empty(1024, dtype=np.int64)
    return dist, settled, heap_d, heap_n


@numba.njit(cache=True)
def _search(indptr, indices, weights, source, limit, dist, settled, heap_d, heap_n):  # noqa: ANN001, ANN202
    """Dijkstra from one source up to ``limit``; return the settled nodes (in order) and count.

    ``dist`` must be all ``inf`` on entry; it holds the distances of the settled nodes on
    return (the caller resets them). The heap uses lazy deletion: a node may be pushed
    several times and is settled once.
    """
    n_settled = 0
    size = 0
    dist[source] = 0.0
    heap_d, heap_n, size = _push(heap_d, heap_n, size, 0.0, source)
    while size > 0:
        d = heap_d[0]
        node = heap_n[0]
        size = _pop(heap_d, heap_n, size)
        if d > dist[node]:
            continue  # a stale entry
        if n_settled == len(settled):
            settled = _grown_int(settled)
        settled[n_settled] = node
        n_settled += 1
        for k in range(indptr[node], indptr[node + 1]):
            nd = d + weights[k]
            neighbour = indices[k]
            if nd < dist[neighbour] and nd <= limit:
                dist[neighbour] = nd
                heap_d, heap_n, size = _push(heap_d, heap_n, size, nd, neighbour)
    return settled, n_settled, heap_d, heap_n


@numba.njit(cache=True)
def _push(heap_d, heap_n, size, d, node):  # noqa: ANN001, ANN202
    if size == len(heap_d):
        heap_d = _grown_float(heap_d)
        heap_n = _grown_int(heap_n)
    i = size
    size += 1
    while i > 0:
        parent = (i - 1) // 2
        if heap_d[parent] <= d:
            break
        heap_d[i] = heap_d[parent]
        heap_n[i] = heap_n[parent]
        i = parent
    heap_d[i] = d
    heap_n[i] = node
    return heap_d, heap_n, size


@numba.njit(cache=True)
def _pop(heap_d, heap_n, size):  # noqa: ANN001, ANN202
    size -= 1
    last_d = heap_d[size]
    last_n = heap_n[size]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and heap_d[child + 1] < heap_d[child]:
            child += 1
        if heap_d[child] >= last_d:
            break
        heap_d[i] = heap_d[child]
        heap_n[i] = heap_n[child]
        i = child
    if size > 0:
        heap_d[i] = last_d
        heap_n[i] = last_n
    return size


@numba.njit(cache=True)
def _grown_float(array):  # noqa: ANN001, ANN202
    out = np.empty(2 * len(array), dtype=array.dtype)
    out[: len(array)] = array
    return out


@numba.njit(cache=True)
def _grown_int(array):  # noqa: ANN001, ANN202
    out = np.empty(2 * len(array), dtype=array.dtype)
    out[: len(array)] = array
    return out


@numba.njit(nogil=True, cache=True)
def _count_chunk(indptr, indices, weights, sources, target_ptr, target_of, extra, thresholds):  # noqa: ANN001, ANN202, E501
    n_targets = len(target_of)
    n_thresholds = len(thresholds)
    limit = thresholds.max()
    counts = np.zeros((n_targets, n_thresholds), dtype=np.int64)
    dist, settled, heap_d, heap_n = _search_state(len(indptr) - 1)
    for source in sources:
        settled, n_settled, heap_d, heap_n = _search(
            indptr, indices, weights, source, limit, dist, settled, heap_d, heap_n
        )
        for i in range(n_settled):
            node = settled[i]
            for j in range(target_ptr[node], target_ptr[node + 1]):
                target = target_of[j]
                walk = dist[node] + extra[target]
                for k in range(n_thresholds):
                    if walk <= thresholds[k]:
                        counts[target, k] += 1
            # Every node given a distance was settled (the heap runs empty): reset them all.
            dist[node] = np.inf
    return counts


@numba.njit(nogil=True, cache=True)
def _pairs_chunk(indptr, indices, weights, sources, target_ptr, target_of, extra, limit):  # noqa: ANN001, ANN202, E501
    dist, settled, heap_d, heap_n = _search_state(len(indptr) - 1)
    out_source = np.empty(1024, dtype=np.int64)
    out_target = np.empty(1024, dtype=np.int64)
    out_walk = np.empty(1024, dtype=np.float64)
    n_out = 0
    for s in range(len(sources)):
        settled, n_settled, heap_d, heap_n = _search(
            indptr, indices, weights, sources[s], limit, dist, settled, heap_d, heap_n
        )
        for i in range(n_settled):
            node = settled[i]
            for j in range(target_ptr[node], target_ptr[node + 1]):
                walk = dist[node] + extra[target_of[j]]
                if walk <= limit:
                    if n_out == len(out_source):
                        out_source = _grown_int(out_source)
                        out_target = _grown_int(out_target)
                        out_walk = _grown_float(out_walk)
                    out_source[n_out] = s
                    out_target[n_out] = target_of[j]
                    out_walk[n_out] = walk
                    n_out += 1
            dist[node] = np.inf
    return out_source[:n_out], out_target[:n_out], out_walk[:n_out]


@numba.njit(nogil=True, cache=True)
def _reach_chunk(indptr, indices, weights, sources, limit):  # noqa: ANN001, ANN202
    per_source = np.zeros(len(sources), dtype=np.int64)
    dist, settled, heap_d, heap_n = _search_state(len(indptr) - 1)
    out_nodes = np.empty(1024, dtype=np.int64)
    out_dists = np.empty(1024, dtype=np.float64)
    n_out = 0
    for s in range(len(sources)):
        settled, n_settled, heap_d, heap_n = _search(
            indptr, indices, weights, sources[s], limit, dist, settled, heap_d, heap_n
        )
        while n_out + n_settled > len(out_nodes):
            out_nodes = _grown_int(out_nodes)
            out_dists = _grown_float(out_dists)
        for i in range(n_settled):
            out_nodes[n_out + i] = settled[i]
            out_dists[n_out + i] = dist[settled[i]]
            dist[settled[i]] = np.inf
        n_out += n_settled
        per_source[s] = n_settled
    return per_source, out_nodes[:n_out], out_dists[:n_out]
