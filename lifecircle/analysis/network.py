"""The walking network: projection, edge snapping, and the compact array form for shortest paths.

The network is built once per run and reused by every facility category. Points (compounds and
facilities) are snapped to the nearest *edge*, not node: each snap records the edge, the offset
along it and the snap distance. :func:`split_edges_at_points` then inserts every snapped point
into a sparse (CSR) graph, so that network distances between points are exact, including two
points on the same edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pandas as pd
import shapely
from pyproj import Transformer
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from ..errors import NetworkError
from ..settings import exchange_crs
from ._topology import simplify_segments

if TYPE_CHECKING:  # the analysis only reads the arrays; sources produce them
    from ..sources.osm_arrays import StreetSegments


@dataclass(frozen=True)
class WalkNetwork:
    """An undirected, projected walking network with its arrays.

    Attributes
    ----------
    edges : geopandas.GeoDataFrame
        One row per edge with integer node positions ``u_pos``/``v_pos`` (into ``node_ids``),
        OSM node ids ``u`` ≤ ``v``, ``key`` (tells parallel edges apart), ``highway`` (the
        OSM class, or a list of them when the edge merges ways of several classes, as in
        osmnx), ``name`` (the same for the ways' names; None when unnamed), ``length`` (m,
        measured in the projected CRS) and ``geometry`` oriented from u to v. Rows are sorted by ``u``, ``v`` and ``length``, whichever way the network was
        built.
    node_ids : numpy.ndarray
        OSM node ids; position ``i`` is node ``i`` of the sparse graph.
    node_component : numpy.ndarray
        Connected-component label of every node.
    main_component : int
        Label of the largest component (by total street length).
    crs : str
        The projected CRS.
    source_graph : networkx.MultiGraph, optional
        The osmnx graph the network was built from (None when built from arrays).
    """

    edges: gpd.GeoDataFrame
    node_ids: np.ndarray
    node_component: np.ndarray
    main_component: int
    crs: str
    source_graph: nx.MultiGraph | None = field(default=None, repr=False, compare=False)

    @property
    def n_nodes(self) -> int:
        """Number of street nodes."""
        return len(self.node_ids)

    @cached_property
    def graph(self) -> nx.MultiGraph:
        """The network as an undirected osmnx-style networkx graph, built on first use.

        The osmnx graph the network came from, or one built from :attr:`edges` (nodes with
        ``x``/``y``, edges keyed ``(u, v, key)`` with ``length`` and ``geometry``). The engine
        never needs it; it is for users and for independent checks with networkx.
        """
        if self.source_graph is not None:
            return self.source_graph
        return graph_from_edges(self.edges, self.node_ids, self.crs)


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
        raise NetworkError(
            "the walking network has no edges: the OpenStreetMap extract has no walkable "
            "streets in the study area (check that the extract covers it)"
        )
    projected = ox.project_graph(graph, to_crs=projected_crs)
    undirected = ox.convert.to_undirected(projected)
    node_ids = np.array(sorted(undirected.nodes), dtype=np.int64)
    edges = _edge_frame(undirected, node_ids, projected_crs)
    return _network(edges, node_ids, projected_crs, source_graph=undirected)


def walking_network_from_segments(segments: StreetSegments, projected_crs: str) -> WalkNetwork:
    """Build the walking network from street-segment arrays, without networkx.

    Projects the nodes, simplifies the topology with osmnx's rules (see
    :mod:`lifecircle.analysis._topology`) and builds edge geometries and lengths in NumPy and
    shapely. The result has the same edges and lengths as :func:`walking_network` on the osmnx
    graph of the same ways (tested on real and generated extracts), in a fraction of the time
    and memory.

    Parameters
    ----------
    segments : lifecircle.sources.osm_arrays.StreetSegments
        Walkable segments, e.g. from :func:`lifecircle.sources.osm_arrays.read_street_segments`.
    projected_crs : str
        A metric CRS for distance work, e.g. ``"EPSG:32651"``.

    Returns
    -------
    WalkNetwork

    Raises
    ------
    NetworkError
        If there are no segments, or simplification leaves no edge (only closed rings).
    """
    if segments.n_segments == 0:
        raise NetworkError(
            "the walking network has no edges: the OpenStreetMap extract has no walkable "
            "streets in the study area (check that the extract covers it)"
        )
    # Street segments are WGS84 longitude/latitude, the exchange CRS.
    x, y = Transformer.from_crs(exchange_crs, projected_crs, always_xy=True).transform(
        segments.lon, segments.lat
    )
    edge_u, edge_v, path_ptr, path_nodes, edge_of_segment = simplify_segments(
        len(segments.node_id), segments.u, segments.v
    )
    if len(edge_u) == 0:
        raise NetworkError("the walking network has no edges: its ways are closed rings only")
    path_nodes = _canonical_paths(edge_u, edge_v, path_ptr, path_nodes, segments.node_id, x, y)
    flip = segments.node_id[edge_u] > segments.node_id[edge_v]
    edge_u, edge_v = np.where(flip, edge_v, edge_u), np.where(flip, edge_u, edge_v)
    geoms = shapely.linestrings(
        np.c_[x[path_nodes], y[path_nodes]],
        indices=np.repeat(np.arange(len(edge_u)), np.diff(path_ptr)),
    )
    is_endpoint = np.zeros(len(segments.node_id), dtype=bool)
    is_endpoint[edge_u] = True
    is_endpoint[edge_v] = True
    node_ids = segments.node_id[is_endpoint]
    edges = pd.DataFrame(
        {
            "u": segments.node_id[edge_u],
            "v": segments.node_id[edge_v],
            "key": 0,
            "highway": _edge_values(
                edge_of_segment, segments.highway, segments.highway_values, len(edge_u)
            ),
            "name": _edge_values(edge_of_segment, segments.name, segments.name_values, len(edge_u)),
        }
    )
    edges = _canonical_edges(edges, geoms, node_ids, projected_crs)
    edges["key"] = edges.groupby(["u", "v"], sort=False).cumcount()
    return _network(edges, node_ids, projected_crs)


def _edge_values(
    edge_of_segment: np.ndarray, codes: np.ndarray, values: tuple, n_edges: int
) -> list:
    """Each edge's value of a way tag, the sorted list of them when its ways differ, None when
    none of its ways has one (osmnx's convention for merged edges)."""
    kept = (edge_of_segment >= 0) & np.array([v is not None for v in values], dtype=bool)[codes]
    pairs = np.unique(np.c_[edge_of_segment[kept], codes[kept]], axis=0)
    out: list = [None] * n_edges
    if len(pairs) == 0:
        return out
    first = np.r_[True, pairs[1:, 0] != pairs[:-1, 0]]
    for edge, code, is_first in zip(pairs[:, 0].tolist(), pairs[:, 1].tolist(), first.tolist(),
                                    strict=True):
        if is_first:
            out[edge] = values[code]
        else:
            previous = out[edge]
            out[edge] = sorted({*(previous if isinstance(previous, list) else [previous]),
                                values[code]})
    return out


def _canonical_paths(
    edge_u: np.ndarray,
    edge_v: np.ndarray,
    path_ptr: np.ndarray,
    path_nodes: np.ndarray,
    node_id: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
) -> np.ndarray:
    """Reverse the node paths that :func:`_canonical_edges` would reverse (cheaper here)."""
    second, before_last = path_nodes[path_ptr[:-1] + 1], path_nodes[path_ptr[1:] - 2]
    flip = (node_id[edge_u] > node_id[edge_v]) | (
        (edge_u == edge_v) & _after(x[second], y[second], x[before_last], y[before_last])
    )
    sizes = np.diff(path_ptr)
    edge_of = np.repeat(np.arange(len(edge_u)), sizes)
    position = np.arange(len(path_nodes))
    mirrored = path_ptr[edge_of] + path_ptr[edge_of + 1] - 1 - position
    return path_nodes[np.where(flip[edge_of], mirrored, position)]


def _after(x1: np.ndarray, y1: np.ndarray, x2: np.ndarray, y2: np.ndarray) -> np.ndarray:
    """(x1, y1) comes after (x2, y2) in (x, y) order."""
    return (x1 > x2) | ((x1 == x2) & (y1 > y2))


def _network(
    edges: gpd.GeoDataFrame,
    node_ids: np.ndarray,
    crs: str,
    source_graph: nx.MultiGraph | None = None,
) -> WalkNetwork:
    n_comp, labels = _components(edges, len(node_ids))
    street_length = np.bincount(labels[edges["u_pos"].to_numpy()], edges["length"], n_comp)
    return WalkNetwork(
        edges=edges,
        node_ids=node_ids,
        node_component=labels,
        main_component=int(np.argmax(street_length)),
        crs=crs,
        source_graph=source_graph,
    )


def _edge_frame(graph: nx.MultiGraph, node_ids: np.ndarray, crs: str) -> gpd.GeoDataFrame:
    nodes, edges = ox.graph_to_gdfs(graph, fill_edge_geometry=True)
    edges = edges.reset_index()
    # osmnx lists the classes of merged ways in set order: sorted here, as the arrays builder.
    for tag in ("highway", "name"):
        edges[tag] = [
            sorted(h) if isinstance(h, list) else (None if pd.isna(h) else h)
            for h in edges.get(tag, [None] * len(edges))
        ]
    geoms = _orient_from_u(edges, nodes)
    edges = _canonical_edges(edges[["u", "v", "key", "highway", "name"]], geoms, node_ids, crs)
    nx.set_edge_attributes(
        graph,
        dict(zip(zip(edges["u"], edges["v"], edges["key"], strict=True), edges["length"], strict=True)),
        "length",
    )
    return edges


def _canonical_edges(
    edges: pd.DataFrame, geoms: np.ndarray, node_ids: np.ndarray, crs: str
) -> gpd.GeoDataFrame:
    """The edge table in one form whatever built it: u ≤ v, sorted, lengths in metres.

    Geometries run from u; a loop (u = v) runs towards the lower of its second and
    second-to-last vertex. Rows are sorted by u, v and length, so that two builders of the
    same network give the same table.
    """
    u, v = edges["u"].to_numpy(), edges["v"].to_numpy()
    flip = u > v
    loops = np.flatnonzero(u == v)
    if len(loops):
        second = shapely.get_coordinates(shapely.get_point(geoms[loops], 1))
        before_last = shapely.get_coordinates(shapely.get_point(geoms[loops], -2))
        flip[loops] = _after(second[:, 0], second[:, 1], before_last[:, 0], before_last[:, 1])
    if flip.any():
        geoms = geoms.copy()
        geoms[flip] = shapely.reverse(geoms[flip])
    out = pd.DataFrame(
        {"u": np.where(flip, v, u), "v": np.where(flip, u, v), "key": edges["key"].to_numpy()}
    )
    for tag in ("highway", "name"):
        out[tag] = edges[tag].to_numpy() if tag in edges else None
    # Lengths measured in the projected CRS: osmnx's great-circle lengths use a sphere, which
    # is ~0.2% short for east-west streets at Shanghai's latitude; UTM is within 0.04%.
    out["length"] = shapely.length(geoms)
    out["geometry"] = geoms
    order = np.lexsort((out["length"].to_numpy(), out["v"].to_numpy(), out["u"].to_numpy()))
    out = out.iloc[order].reset_index(drop=True)
    out["u_pos"] = np.searchsorted(node_ids, out["u"].to_numpy())
    out["v_pos"] = np.searchsorted(node_ids, out["v"].to_numpy())
    columns = ["u", "v", "key", "highway", "name", "length", "geometry", "u_pos", "v_pos"]
    return gpd.GeoDataFrame(out[columns], geometry="geometry", crs=crs)


def graph_from_edges(edges: gpd.GeoDataFrame, node_ids: np.ndarray, crs: str) -> nx.MultiGraph:
    """An undirected osmnx-style networkx graph of a network's edge table.

    Parameters
    ----------
    edges : geopandas.GeoDataFrame
        :attr:`WalkNetwork.edges`.
    node_ids : numpy.ndarray
        :attr:`WalkNetwork.node_ids`.
    crs : str
        The edges' projected CRS.

    Returns
    -------
    networkx.MultiGraph
        Nodes (OSM ids) with ``x``/``y``; edges ``(u, v, key)`` with ``highway``, ``name``,
        ``length`` and ``geometry``.
    """
    geoms = edges.geometry.to_numpy()
    first = shapely.get_coordinates(shapely.get_point(geoms, 0))
    x = np.zeros(len(node_ids))
    y = np.zeros(len(node_ids))
    x[edges["u_pos"].to_numpy()], y[edges["u_pos"].to_numpy()] = first[:, 0], first[:, 1]
    last = shapely.get_coordinates(shapely.get_point(geoms, -1))
    x[edges["v_pos"].to_numpy()], y[edges["v_pos"].to_numpy()] = last[:, 0], last[:, 1]
    graph = nx.MultiGraph(crs=crs)
    graph.add_nodes_from(
        (int(n), {"x": float(a), "y": float(b)}) for n, a, b in zip(node_ids, x, y, strict=True)
    )
    graph.add_edges_from(
        (int(a), int(b), int(k),
         {"highway": h, "name": name, "length": float(length), "geometry": geom})
        for a, b, k, h, name, length, geom in zip(
            edges["u"], edges["v"], edges["key"], edges["highway"], edges["name"],
            edges["length"], geoms, strict=True,
        )
    )
    return graph


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
    rows, cols, weights, n_total, point_node = split_edge_arrays(network, snaps)
    return symmetric_csr(rows, cols, weights, n_total), point_node


def split_edge_arrays(
    network: WalkNetwork, snaps: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, np.ndarray]:
    """The edges of :func:`split_edges_at_points` as arrays, before the CSR is built.

    Returns
    -------
    rows, cols, weights : numpy.ndarray
        One undirected edge each (street edges, then the pieces of split edges).
    n_total : int
        Street nodes plus inserted points.
    point_node : numpy.ndarray
        The node of each row of ``snaps`` (``-1`` where it has no edge).
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
    u_pos, v_pos = edges["u_pos"].to_numpy(), edges["v_pos"].to_numpy()
    if len(edge) == 0:
        return u_pos, v_pos, lengths, n, point_node
    first_on_edge = np.r_[True, edge[1:] != edge[:-1]]
    last_on_edge = np.r_[edge[1:] != edge[:-1], True]
    prev_node = np.where(first_on_edge, u_pos[edge], np.r_[-1, nodes[:-1]])
    prev_offset = np.where(first_on_edge, 0.0, np.r_[0.0, offset[:-1]])
    rows = np.concatenate([u_pos, prev_node, nodes[last_on_edge]])
    cols = np.concatenate([v_pos, nodes, v_pos[edge[last_on_edge]]])
    weights = np.concatenate(
        [lengths, offset - prev_offset, lengths[edge[last_on_edge]] - offset[last_on_edge]]
    )
    return rows, cols, weights, n + len(nodes), point_node


def symmetric_csr(
    rows: np.ndarray, cols: np.ndarray, weights: np.ndarray, n: int
) -> sparse.csr_array:
    """Symmetric CSR matrix keeping the *shortest* of parallel edges.

    scipy sums duplicate entries, which would turn two parallel streets into one longer one;
    this keeps the minimum instead. Zero lengths are kept as explicit entries (scipy's csgraph
    treats explicit zeros in sparse input as edges).
    """
    r = np.concatenate([rows, cols]).astype(np.int64)
    c = np.concatenate([cols, rows]).astype(np.int64)
    w = np.maximum(np.concatenate([weights, weights]), 0.0)
    keep = r != c
    # One integer key per (row, column): a single sort instead of a three-key lexsort.
    key = r[keep] * n + c[keep]
    w = w[keep]
    order = np.argsort(key)
    key, w = key[order], w[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else key
    shortest = np.minimum.reduceat(w, starts) if len(key) else w
    key = key[starts]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(key // n, minlength=n), out=indptr[1:])
    return sparse.csr_array((shortest, key % n, indptr), shape=(n, n))
