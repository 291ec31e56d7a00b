"""Topological simplification of a street-segment graph in arrays (the osmnx rules, no networkx).

osmnx's :func:`osmnx.simplify_graph` keeps a node when it is an "endpoint" (a dead end, a
junction of three or more streets, a node with a self-loop or with parallel edges) and merges
every path of other nodes between two endpoints into one edge; components that are a single ring
with no endpoint are dropped. On an undirected segment list these rules read: a node is
*interstitial* when exactly two segments touch it and they lead to two different neighbours;
every other node is an endpoint. The chains are walked by a small numba kernel (one pass over the
segments), the rest is NumPy.
"""

from __future__ import annotations

import numba
import numpy as np


def simplify_segments(
    n_nodes: int, u: np.ndarray, v: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Merge chains of interstitial nodes into edges between endpoints.

    Parameters
    ----------
    n_nodes : int
        Number of nodes; ``u`` and ``v`` index them.
    u, v : numpy.ndarray
        The two nodes of each undirected segment. Self-loop segments are ignored; parallel
        segments are kept (they make both their nodes endpoints, as in osmnx).

    Returns
    -------
    edge_u, edge_v : numpy.ndarray
        The end nodes of each simplified edge (``edge_u == edge_v`` for a loop).
    path_ptr, path_nodes : numpy.ndarray
        Edge ``i`` runs through nodes ``path_nodes[path_ptr[i]:path_ptr[i + 1]]``, from
        ``edge_u[i]`` to ``edge_v[i]``.
    edge_of_segment : numpy.ndarray
        The simplified edge each input segment belongs to (``-1`` for dropped segments:
        self-loops and rings).
    """
    u = np.asarray(u, dtype=np.int64)
    v = np.asarray(v, dtype=np.int64)
    edge_of_segment = np.full(len(u), -1, dtype=np.int64)
    proper = np.flatnonzero(u != v)
    u, v = u[proper], v[proper]
    incidence_ptr, incidence_segment = _incidence(n_nodes, u, v)
    interstitial = _interstitial(n_nodes, u, v, incidence_ptr, incidence_segment)
    edge_u, edge_v, path_ptr, path_nodes, edge_of = _walk_chains(
        n_nodes, u, v, incidence_ptr, incidence_segment, interstitial
    )
    edge_of_segment[proper] = edge_of
    return edge_u, edge_v, path_ptr, path_nodes, edge_of_segment


@numba.njit(cache=True)
def _interstitial(n_nodes, u, v, incidence_ptr, incidence_segment):  # noqa: ANN001, ANN202
    """Nodes touched by exactly two segments that lead to two different neighbours."""
    out = np.zeros(n_nodes, dtype=np.bool_)
    for node in range(n_nodes):
        if incidence_ptr[node + 1] - incidence_ptr[node] != 2:
            continue
        first = incidence_segment[incidence_ptr[node]]
        second = incidence_segment[incidence_ptr[node] + 1]
        other_first = v[first] if u[first] == node else u[first]
        other_second = v[second] if u[second] == node else u[second]
        out[node] = other_first != other_second
    return out


@numba.njit(cache=True)
def _incidence(n_nodes, u, v):  # noqa: ANN001, ANN202
    """Segments touching each node (a counting sort): node i has
    ``segment[ptr[i]:ptr[i + 1]]``, in segment order."""
    ptr = np.zeros(n_nodes + 1, dtype=np.int64)
    for k in range(len(u)):
        ptr[u[k] + 1] += 1
        ptr[v[k] + 1] += 1
    for i in range(n_nodes):
        ptr[i + 1] += ptr[i]
    fill = ptr[:-1].copy()
    segment = np.empty(2 * len(u), dtype=np.int64)
    for k in range(len(u)):
        segment[fill[u[k]]] = k
        fill[u[k]] += 1
        segment[fill[v[k]]] = k
        fill[v[k]] += 1
    return ptr, segment


@numba.njit(cache=True)
def _walk_chains(n_nodes, u, v, incidence_ptr, incidence_segment, interstitial):  # noqa: ANN001, ANN202
    n_segments = len(u)
    used = np.zeros(n_segments, dtype=np.bool_)
    edge_of = np.full(n_segments, -1, dtype=np.int64)
    edge_u = np.empty(n_segments, dtype=np.int64)
    edge_v = np.empty(n_segments, dtype=np.int64)
    path_ptr = np.zeros(n_segments + 1, dtype=np.int64)
    path_nodes = np.empty(2 * n_segments, dtype=np.int64)
    n_edges = 0
    n_path = 0
    for start in range(n_nodes):
        if interstitial[start]:
            continue
        for k in range(incidence_ptr[start], incidence_ptr[start + 1]):
            segment = incidence_segment[k]
            if used[segment]:
                continue
            used[segment] = True
            edge_of[segment] = n_edges
            path_nodes[n_path] = start
            n_path += 1
            current = v[segment] if u[segment] == start else u[segment]
            while interstitial[current]:
                path_nodes[n_path] = current
                n_path += 1
                first = incidence_segment[incidence_ptr[current]]
                second = incidence_segment[incidence_ptr[current] + 1]
                segment = second if first == segment else first
                used[segment] = True
                edge_of[segment] = n_edges
                current = v[segment] if u[segment] == current else u[segment]
            path_nodes[n_path] = current
            n_path += 1
            edge_u[n_edges] = start
            edge_v[n_edges] = current
            n_edges += 1
            path_ptr[n_edges] = n_path
    # Segments never reached form rings without an endpoint: osmnx drops those components.
    return edge_u[:n_edges], edge_v[:n_edges], path_ptr[: n_edges + 1], path_nodes[:n_path], edge_of
