"""The walking network: projection, edge snapping, and the compact array form for shortest paths.

The network is built once per run and reused by every facility category. Points (compounds and
facilities) are snapped to the nearest *edge*, not node: each snap records the edge, the offset
along it and the snap distance. :func:`split_edges_at_points` then inserts every snapped point
into a sparse (CSR) graph, so that network distances between points are exact, including two
points on the same edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from ..errors import NetworkError


@dataclass(frozen=True)
class WalkNetwork:
    """An undirected, projected walking network with its arrays.

    Attributes
    ----------
    graph : networkx.MultiGraph
        The undirected osmnx graph in a projected CRS (metres).
    edges : geopandas.GeoDataFrame
        One row per edge with integer node positions ``u_pos``/``v_pos`` (into ``node_ids``),
        osmnx ``u``, ``v``, ``key``, ``length`` (m, measured in the projected CRS and also
        written to the graph's edges) and ``geometry`` oriented from u to v.
    node_ids : numpy.ndarray
        OSM node ids; position ``i`` is node ``i`` of the sparse graph.
    node_component : numpy.ndarray
        Connected-component label of every node.
    main_component : int
        Label of the largest component (by total street length).
    crs : str
        The projected CRS.
    """

    graph: nx.MultiGraph
    edges: gpd.GeoDataFrame
    node_ids: np.ndarray
    node_component: np.ndarray
    main_component: int
    crs: str

    @property
    def n_nodes(self) -> int:
        """Number of street nodes."""
        return len(self.node_ids)


def walking_network(graph: nx.MultiDiGraph, projected_crs: str) -> WalkNetwork:
    """Project an osmnx graph, make it undirected and build its array form.

    Parameters
    ----------
    graph : networkx.MultiDiGraph
        An osmnx street graph (any CRS), e.g. from :mod:`lifecircle.osm`.
    projected_crs : str
        A metric CRS for distance work, e.g. ``"EPSG:32651"`` (UTM 51N, Shanghai).

    Returns
    -------
    WalkNetwork

    Raises
    ------
    NetworkError
        If the graph has no edges.
    """
    if graph.number_of_edges() == 0:
        raise NetworkError("the walking network has no edges: check the OSM extract and area")
    projected = ox.project_graph(graph, to_crs=projected_crs)
    undirected = ox.convert.to_undirected(projected)
    node_ids = np.array(sorted(undirected.nodes), dtype=np.int64)
    edges = _edge_frame(undirected, node_ids, projected_crs)
    n_comp, labels = _components(edges, len(node_ids))
    street_length = np.bincount(labels[edges["u_pos"].to_numpy()], edges["length"], n_comp)
    return WalkNetwork(
        graph=undirected,
        edges=edges,
        node_ids=node_ids,
        node_component=labels,
        main_component=int(np.argmax(street_length)),
        crs=projected_crs,
    )


def _edge_frame(graph: nx.MultiGraph, node_ids: np.ndarray, crs: str) -> gpd.GeoDataFrame:
    nodes, edges = ox.graph_to_gdfs(graph, fill_edge_geometry=True)
    edges = edges.reset_index()[["u", "v", "key", "length", "geometry"]]
    # Deterministic row order whatever the graph's insertion order.
    edges = edges.sort_values(["u", "v", "key"], kind="stable").reset_index(drop=True)
    edges["u_pos"] = np.searchsorted(node_ids, edges["u"].to_numpy())
    edges["v_pos"] = np.searchsorted(node_ids, edges["v"].to_numpy())
    edges["geometry"] = _orient_from_u(edges, nodes)
    # Lengths measured in the projected CRS: osmnx's great-circle lengths use a sphere, which
    # is ~0.2% short for east-west streets at Shanghai's latitude; UTM is within 0.04%.
    edges["length"] = shapely.length(edges["geometry"].to_numpy())
    nx.set_edge_attributes(
        graph,
        dict(zip(zip(edges["u"], edges["v"], edges["key"], strict=True), edges["length"], strict=True)),
        "length",
    )
    return gpd.GeoDataFrame(edges, geometry="geometry", crs=crs)


def _orient_from_u(edges: pd.DataFrame, nodes: gpd.GeoDataFrame) -> np.ndarray:
    """Reverse geometries that run v→u, so that offsets along a line are measured from u."""
    geoms = edges["geometry"].to_numpy()
    start = shapely.get_point(geoms, 0)
    u_pts = shapely.points(nodes.loc[edges["u"], ["x", "y"]].to_numpy())
    v_pts = shapely.points(nodes.loc[edges["v"], ["x", "y"]].to_numpy())
    flip = shapely.distance(start, v_pts) < shapely.distance(start, u_pts)
    geoms = geoms.copy()
    geoms[flip] = shapely.reverse(geoms[flip])
    return geoms


def _components(edges: pd.DataFrame, n_nodes: int) -> tuple[int, np.ndarray]:
    u = edges["u_pos"].to_numpy()
    v = edges["v_pos"].to_numpy()
    adjacency = sparse.coo_array((np.ones(len(u)), (u, v)), shape=(n_nodes, n_nodes))
    return connected_components(adjacency, directed=False)


def snap_to_edges(network: WalkNetwork, points: gpd.GeoSeries) -> pd.DataFrame:
    """Snap points to their nearest network edge.

    Parameters
    ----------
    network : WalkNetwork
        The projected walking network.
    points : geopandas.GeoSeries
        Points in ``network.crs`` (polygons should be reduced to representative points first).

    Returns
    -------
    pandas.DataFrame
        Indexed like ``points``, with ``edge`` (row of ``network.edges``), ``offset_m``
        (distance along the edge from its ``u`` node), ``snap_m`` (straight-line distance from
        the point to the edge), ``snap_x``/``snap_y`` (the snapped location) and ``component``
        (the network component of that edge).
    """
    if points.crs is not None and not points.crs.equals(network.edges.crs):
        raise NetworkError(f"points are in {points.crs}, the network in {network.crs}")
    geoms = points.to_numpy()
    if len(geoms) == 0:
        return pd.DataFrame(
            columns=["edge", "offset_m", "snap_m", "snap_x", "snap_y", "component"],
            index=points.index,
        )
    point_pos, edge_pos = network.edges.sindex.nearest(geoms, return_all=True)
    # Ties (equidistant edges): keep the lowest edge row, so results are deterministic.
    order = np.lexsort((edge_pos, point_pos))
    point_pos, edge_pos = point_pos[order], edge_pos[order]
    first = np.unique(point_pos, return_index=True)[1]
    edge_pos = edge_pos[first]
    lines = network.edges.geometry.to_numpy()[edge_pos]
    along = shapely.line_locate_point(lines, geoms)
    line_length = shapely.length(lines)
    fraction = np.divide(along, line_length, out=np.zeros_like(along), where=line_length > 0)
    snapped = shapely.line_interpolate_point(lines, along)
    lengths = network.edges["length"].to_numpy()[edge_pos]
    u_pos = network.edges["u_pos"].to_numpy()[edge_pos]
    return pd.DataFrame(
        {
            "edge": edge_pos,
            "offset_m": np.clip(fraction, 0.0, 1.0) * lengths,
            "snap_m": shapely.distance(geoms, snapped),
            "snap_x": shapely.get_x(snapped),
            "snap_y": shapely.get_y(snapped),
            "component": network.node_component[u_pos],
        },
        index=points.index,
    )


def split_edges_at_points(
    network: WalkNetwork, snaps: pd.DataFrame
) -> tuple[sparse.csr_array, np.ndarray]:
    """Build the sparse walking graph with every snapped point inserted into its edge.

    Each edge that carries points becomes a chain ``u – p1 – p2 … – v`` ordered by offset, so
    that distances between points on the same edge are exact. The original edge is kept (the
    chain has the same total length, so it is never a shortcut).

    Parameters
    ----------
    network : WalkNetwork
        The projected walking network.
    snaps : pandas.DataFrame
        Output of :func:`snap_to_edges` (rows with a missing ``edge`` are skipped).

    Returns
    -------
    csr : scipy.sparse.csr_array
        Symmetric matrix of edge lengths (m); nodes ``0 … n_nodes-1`` are street nodes, then one
        node per row of ``snaps``.
    point_node : numpy.ndarray
        The CSR node of each row of ``snaps`` (``-1`` where it has no edge).
    """
    n = network.n_nodes
    edges = network.edges
    valid = snaps["edge"].notna().to_numpy()
    point_node = np.full(len(snaps), -1, dtype=np.int64)
    point_node[valid] = n + np.arange(valid.sum())

    edge = snaps["edge"].to_numpy()[valid].astype(np.int64)
    offset = snaps["offset_m"].to_numpy()[valid].astype(float)
    nodes = point_node[valid]
    order = np.lexsort((nodes, offset, edge))
    edge, offset, nodes = edge[order], offset[order], nodes[order]

    lengths = edges["length"].to_numpy()
    if len(edge) == 0:
        csr = symmetric_csr(edges["u_pos"].to_numpy(), edges["v_pos"].to_numpy(), lengths, n)
        return csr, point_node
    first_on_edge = np.r_[True, edge[1:] != edge[:-1]]
    last_on_edge = np.r_[edge[1:] != edge[:-1], True]
    prev_node = np.where(first_on_edge, edges["u_pos"].to_numpy()[edge], np.r_[-1, nodes[:-1]])
    prev_offset = np.where(first_on_edge, 0.0, np.r_[0.0, offset[:-1]])

    rows = [edges["u_pos"].to_numpy(), prev_node, nodes[last_on_edge]]
    cols = [edges["v_pos"].to_numpy(), nodes, edges["v_pos"].to_numpy()[edge[last_on_edge]]]
    weights = [
        lengths,
        offset - prev_offset,
        lengths[edge[last_on_edge]] - offset[last_on_edge],
    ]
    csr = symmetric_csr(
        np.concatenate(rows), np.concatenate(cols), np.concatenate(weights), n + len(nodes)
    )
    return csr, point_node


def symmetric_csr(
    rows: np.ndarray, cols: np.ndarray, weights: np.ndarray, n: int
) -> sparse.csr_array:
    """Symmetric CSR matrix keeping the *shortest* of parallel edges.

    scipy sums duplicate entries, which would turn two parallel streets into one longer one;
    this keeps the minimum instead. Zero lengths are kept as explicit entries (scipy's csgraph
    treats explicit zeros in sparse input as edges).
    """
    r = np.concatenate([rows, cols])
    c = np.concatenate([cols, rows])
    w = np.maximum(np.concatenate([weights, weights]), 0.0)
    keep = r != c
    r, c, w = r[keep], c[keep], w[keep]
    order = np.lexsort((w, c, r))
    r, c, w = r[order], c[order], w[order]
    first = np.r_[True, (r[1:] != r[:-1]) | (c[1:] != c[:-1])]
    return sparse.csr_array((w[first], (r[first], c[first])), shape=(n, n))
