"""cityseer on the same graph: its network structure is built from the peer graph, every edge
with its real geometry (cityseer measures lengths from geometry), facilities as data points on
their door nodes, and only the compounds' home nodes live (computed).

cityseer keeps lengths in float32 and refuses zero-length edges: points snapped to the same
place are joined by a 1 mm edge instead, so its walks may differ from the others by millimetres.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import shapely

from lifecircle.analysis.isochrones import _substrings
from lifecircle.analysis.network import split_edge_arrays

from ._inputs import COUNT_THRESHOLDS, Inputs

_TINY_M = 1e-3


def edge_geometries(inputs: Inputs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(from, to, geometry) of every undirected edge of the peer graph, as the CSR keeps it."""
    network, access, peer = inputs.network, inputs.access, inputs.peer
    snaps = pd.concat(
        [inputs.compound_snaps[["edge", "offset_m"]]]
        + [s[["edge", "offset_m"]] for s in inputs.facility_snaps.values()],
        ignore_index=True,
    )
    rows, cols, weights, _, _ = split_edge_arrays(network, snaps)
    geoms = _piece_geometries(network, snaps, len(rows))
    extra_rows, extra_cols = [], []
    for doors in access.facility_door.values():
        street = _door_street(access, doors)
        extra_rows.append(street)
        extra_cols.append(doors[doors >= 0])
    on = peer.on_network
    extra_rows.append(access.compound_node[on])
    extra_cols.append(peer.homes)
    a, b = np.concatenate(extra_rows), np.concatenate(extra_cols)
    straight = shapely.linestrings(
        np.stack([np.c_[peer.x[a], peer.y[a]], np.c_[peer.x[b], peer.y[b]]], axis=1)
    )
    rows, cols = np.r_[rows, a], np.r_[cols, b]
    geoms = np.r_[geoms, straight]
    lengths = shapely.length(geoms)
    # As symmetric_csr: one edge per pair, the shortest.
    low, high = np.minimum(rows, cols), np.maximum(rows, cols)
    order = np.lexsort((lengths, high, low))
    first = np.r_[True, (low[order][1:] != low[order][:-1]) | (high[order][1:] != high[order][:-1])]
    keep = order[first]
    keep = keep[low[keep] != high[keep]]
    return rows[keep], cols[keep], geoms[keep]


def _door_street(access, doors: np.ndarray) -> np.ndarray:  # noqa: ANN001
    """The street point each door hangs from (its only neighbour in the CSR)."""
    csr = access.csr
    placed = doors[doors >= 0]
    return np.array([csr.indices[csr.indptr[d]] for d in placed], dtype=np.int64)


def _piece_geometries(network, snaps: pd.DataFrame, n_rows: int) -> np.ndarray:  # noqa: ANN001
    """Geometries in the order of split_edge_arrays: whole edges, then the pieces."""
    edges = network.edges
    geoms = edges.geometry.to_numpy()
    lengths = edges["length"].to_numpy()
    valid = snaps["edge"].notna().to_numpy()
    edge = snaps["edge"].to_numpy()[valid].astype(np.int64)
    offset = snaps["offset_m"].to_numpy()[valid].astype(float)
    nodes = np.arange(valid.sum())
    order = np.lexsort((nodes, offset, edge))
    edge, offset = edge[order], offset[order]
    if len(edge) == 0:
        return geoms
    first = np.r_[True, edge[1:] != edge[:-1]]
    last = np.r_[edge[1:] != edge[:-1], True]
    start = np.where(first, 0.0, np.r_[0.0, offset[:-1]])
    piece_edge = np.r_[edge, edge[last]]
    piece_start = np.r_[start, offset[last]]
    piece_end = np.r_[offset, lengths[edge[last]]]
    length = lengths[piece_edge]
    pieces = _substrings(geoms[piece_edge], piece_start / length, piece_end / length)
    out = np.r_[geoms, pieces]
    assert len(out) == n_rows
    return out


def _wkt(geometry: shapely.Geometry) -> str:
    if geometry.length > 0:
        return shapely.to_wkt(geometry, rounding_precision=-1)
    x, y = shapely.get_coordinates(geometry)[0]
    return f"LINESTRING ({x} {y}, {x + _TINY_M / 2} {y}, {x} {y})"


def setup(inputs: Inputs) -> Any:
    """The cityseer network structure and data map."""
    from cityseer import rustalgos

    peer = inputs.peer
    rows, cols, geoms = edge_geometries(inputs)
    network = rustalgos.graph.NetworkStructure()
    homes = np.zeros(peer.n_nodes, dtype=bool)
    homes[peer.homes] = True
    for i in range(peer.n_nodes):
        network.add_street_node(i, float(peer.x[i]), float(peer.y[i]), bool(homes[i]), 1.0)
    reverse = shapely.reverse(geoms)
    for k, (a, b) in enumerate(zip(rows.tolist(), cols.tolist(), strict=True)):
        network.add_street_edge(a, b, 2 * k, a, b, _wkt(geoms[k]))
        network.add_street_edge(b, a, 2 * k + 1, b, a, _wkt(reverse[k]))
    network.build_edge_rtree()
    data = rustalgos.data.DataMap()
    landuse = {}
    for category, doors in peer.doors.items():
        for door in doors.tolist():
            key = f"{category}:{door}"
            data.insert(key, f"POINT ({peer.x[door]} {peer.y[door]})")
            landuse[key] = category
    data.assign_data_to_network(network, 1.0, 4)
    return network, data, landuse


def run(state: Any, categories: list[str], homes: np.ndarray) -> dict:
    """Counts within 300/500/1000 m at every home, every category."""
    network, data, landuse = state
    result = data.accessibility(
        network, landuse, categories, distances=[int(t) for t in COUNT_THRESHOLDS],
        pbar_disabled=True,
    ).result
    return {
        c: np.stack([result[c].count[int(t)][homes] for t in COUNT_THRESHOLDS], axis=1)
        .round().astype(np.int64)
        for c in categories
    }
