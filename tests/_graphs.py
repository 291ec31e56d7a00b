"""Hand-built street graphs in projected metres, with known answers."""

from __future__ import annotations

from collections.abc import Iterable

import geopandas as gpd
import networkx as nx
from shapely.geometry import LineString, Point

CRS = "EPSG:32651"
# A point in central Shanghai in UTM 51N, so that hand-built graphs sit where real data does.
X0, Y0 = 350_000.0, 3_456_000.0


def street_graph(
    nodes: dict[int, tuple[float, float]],
    edges: Iterable[tuple[int, int]],
) -> nx.MultiDiGraph:
    """An osmnx-style graph from node coordinates (metres, relative to X0/Y0) and edges.

    Edges are straight, two-way, with ``length`` equal to their Euclidean length.
    """
    graph = nx.MultiDiGraph(crs=CRS)
    for node, (x, y) in nodes.items():
        graph.add_node(node, x=X0 + x, y=Y0 + y)
    for way_id, (u, v) in enumerate(edges, start=1):
        (xu, yu), (xv, yv) = nodes[u], nodes[v]
        line = LineString([(X0 + xu, Y0 + yu), (X0 + xv, Y0 + yv)])
        for a, b, geom in ((u, v, line), (v, u, line.reverse())):
            graph.add_edge(
                a, b, osmid=way_id, length=line.length, geometry=geom, highway="residential"
            )
    return graph


def points(coords: Iterable[tuple[float, float]], **columns) -> gpd.GeoDataFrame:
    """Points at coordinates relative to X0/Y0, in the test CRS."""
    geoms = [Point(X0 + x, Y0 + y) for x, y in coords]
    return gpd.GeoDataFrame(columns, geometry=geoms, crs=CRS)
