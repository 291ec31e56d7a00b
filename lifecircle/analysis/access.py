"""Walking access from compounds to facilities: nearest distance, time and counts.

Pure functions over arrays and GeoDataFrames (no file I/O, no printing). All categories share
one sparse graph in which every compound and facility is inserted into its snapped edge
(:func:`lifecircle.network.split_edges_at_points`). Each facility also gets a "door" node
joined to its street point by its snap distance, so one multi-source Dijkstra from the doors of
a category gives, at every street point, the walk to the nearest facility including the
facility's own access leg.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import dijkstra

from .. import schema, settings
from ..schema import STATUS_BEYOND_SNAP_LIMIT, STATUS_ISLAND, STATUS_OK
from .network import WalkNetwork, snap_to_edges, split_edge_arrays, symmetric_csr
from .reach import count_within

#: Facilities per progress step of the count (the searches are cheap; this only paces the bar).
_FACILITIES_PER_PROGRESS_STEP = 2_000


@dataclass(frozen=True)
class AccessGraph:
    """The sparse graph with compounds and facilities inserted.

    Attributes
    ----------
    csr : scipy.sparse.csr_array
        Edge lengths in metres, symmetric except for the one-way edges into compounds with
        several access points (gates): run Dijkstra from facility doors (or on ``csr.T``).
    compound_node : numpy.ndarray
        CSR node of each compound's street point, or of the compound itself when it has
        several access points (``-1`` when none is snapped).
    compound_snap_m : numpy.ndarray
        The walk from each compound to its street point (0 when ``compound_node`` is the
        compound's own node: its legs are on its edges).
    facility_door : dict of str to numpy.ndarray
        Per category, the CSR "door" node of each facility (``-1`` when not snapped).
    """

    csr: sparse.csr_array
    compound_node: np.ndarray
    compound_snap_m: np.ndarray
    facility_door: dict[str, np.ndarray]


def representative_points(gdf: gpd.GeoDataFrame) -> gpd.GeoSeries:
    """Points that stand for each feature: the point itself, or a point inside a polygon.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Points or polygons.

    Returns
    -------
    geopandas.GeoSeries
        Same index and CRS as ``gdf``.
    """
    geoms = gdf.geometry
    is_point = geoms.geom_type == "Point"
    if is_point.all():
        return geoms.copy()
    return geoms.where(is_point, geoms.representative_point())


def snap_layer(
    network: WalkNetwork, gdf: gpd.GeoDataFrame, snap_limit_m: float
) -> pd.DataFrame:
    """Snap a layer to the network and classify each feature's access status.

    Parameters
    ----------
    network : WalkNetwork
        The projected walking network.
    gdf : geopandas.GeoDataFrame
        Points or polygons in any CRS (reprojected to the network's CRS here).
    snap_limit_m : float
        Features farther than this from any walkable edge get status ``beyond_snap_limit``
        and are not inserted into the graph.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`lifecircle.network.snap_to_edges` plus ``access_status``
        (``ok``, ``island`` — on a street piece not joined to the main network — or
        ``beyond_snap_limit``). ``edge`` is missing (``<NA>``) for features beyond the limit.
    """
    points = representative_points(gdf.to_crs(network.crs))
    snaps = snap_to_edges(network, points)
    snaps["edge"] = snaps["edge"].astype("Int64")
    status = np.where(snaps["component"] == network.main_component, STATUS_OK, STATUS_ISLAND)
    beyond = (snaps["snap_m"] > snap_limit_m).to_numpy()
    status = np.where(beyond, STATUS_BEYOND_SNAP_LIMIT, status)
    snaps["access_status"] = status
    snaps.loc[beyond, "edge"] = pd.NA
    return snaps


def build_access_graph(
    network: WalkNetwork,
    compound_snaps: pd.DataFrame,
    facility_snaps: Mapping[str, pd.DataFrame],
    compound_of: np.ndarray | None = None,
) -> AccessGraph:
    """Insert compounds and facilities into the network and add facility doors.

    Parameters
    ----------
    network : WalkNetwork
        The projected walking network.
    compound_snaps : pandas.DataFrame
        From :func:`snap_layer`: one row per compound, or per access point with
        ``compound_of``. An optional ``leg_m`` column is the walk from the compound to the
        street point (default ``snap_m``).
    facility_snaps : mapping of str to pandas.DataFrame
        From :func:`snap_layer`, one per category.
    compound_of : numpy.ndarray, optional
        The compound (position) of each row of ``compound_snaps``, when compounds have several
        access points (:mod:`lifecircle.analysis.entrances`). Such a compound gets a node of
        its own, joined *from* each of its points' street positions by one-way edges of their
        ``leg_m``: its walk is the shortest over its points, and no walk passes through it.

    Returns
    -------
    AccessGraph
    """
    names = list(facility_snaps)
    all_snaps = pd.concat(
        [compound_snaps[["edge", "offset_m"]]]
        + [facility_snaps[c][["edge", "offset_m"]] for c in names],
        ignore_index=True,
    )
    rows, cols, weights, n_street, point_node = split_edge_arrays(network, all_snaps)
    n_points = len(compound_snaps)

    door_rows, door_cols, door_w = [], [], []
    facility_door: dict[str, np.ndarray] = {}
    start, next_door = n_points, n_street
    for cat in names:
        snaps = facility_snaps[cat]
        street = point_node[start : start + len(snaps)]
        start += len(snaps)
        doors = np.full(len(snaps), -1, dtype=np.int64)
        ok = street >= 0
        doors[ok] = next_door + np.arange(ok.sum())
        next_door += int(ok.sum())
        door_rows.append(street[ok])
        door_cols.append(doors[ok])
        door_w.append(snaps["snap_m"].to_numpy(dtype=float)[ok])
        facility_door[cat] = doors

    leg = compound_snaps["leg_m" if "leg_m" in compound_snaps else "snap_m"].to_numpy(dtype=float)
    compound_node, compound_leg, one_way, n_nodes = _compound_nodes(
        point_node[:n_points], leg, compound_of, next_door
    )
    full = symmetric_csr(
        np.concatenate([rows, *door_rows]),
        np.concatenate([cols, *door_cols]),
        np.concatenate([weights, *door_w]),
        n_nodes,
    )
    if len(one_way[0]):
        full = full.tocoo()
        full = sparse.csr_array(
            (np.r_[full.data, one_way[2]], (np.r_[full.row, one_way[0]], np.r_[full.col, one_way[1]])),
            shape=(n_nodes, n_nodes),
        )
    return AccessGraph(
        csr=full,
        compound_node=compound_node,
        compound_snap_m=compound_leg,
        facility_door=facility_door,
    )


def _compound_nodes(
    street: np.ndarray, leg: np.ndarray, compound_of: np.ndarray | None, first_free: int
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray], int]:
    """Each compound's node and leg, the one-way edges into multi-point compounds, node count.

    A compound with one snapped point keeps that street point and its leg; one with several
    gets a new node (from ``first_free``) reached from each point's street node.
    """
    if compound_of is None:
        empty = np.zeros(0, dtype=np.int64)
        return street, leg, (empty, empty, np.zeros(0)), first_free
    n = int(compound_of.max()) + 1 if len(compound_of) else 0
    snapped = np.flatnonzero(street >= 0)
    owner = compound_of[snapped]
    count = np.bincount(owner, minlength=n)
    node = np.full(n, -1, dtype=np.int64)
    compound_leg = np.zeros(n)
    single = count[owner] == 1
    node[owner[single]] = street[snapped[single]]
    compound_leg[owner[single]] = leg[snapped[single]]
    several = np.flatnonzero(count > 1)
    node[several] = first_free + np.arange(len(several))
    multi = ~single
    one_way = (street[snapped[multi]], node[owner[multi]], leg[snapped[multi]])
    return node, compound_leg, one_way, first_free + len(several)


def nearest_facility_distance(
    graph: AccessGraph, category: str
) -> tuple[np.ndarray, np.ndarray]:
    """Walking distance from every compound to the nearest facility of a category.

    Parameters
    ----------
    graph : AccessGraph
        From :func:`build_access_graph`.
    category : str
        Category key.

    Returns
    -------
    distance_m : numpy.ndarray
        Compound → street → nearest facility, snap legs included; ``inf`` when no facility is
        reachable, ``nan`` for compounds that are not on the network.
    nearest : numpy.ndarray
        Position (in the category's facility layer) of the nearest facility, ``-1`` if none.
    """
    doors = graph.facility_door[category]
    n = len(graph.compound_node)
    distance = np.full(n, np.nan)
    nearest = np.full(n, -1, dtype=np.int64)
    on_net = graph.compound_node >= 0
    sources = doors[doors >= 0]
    if len(sources) == 0:
        distance[on_net] = np.inf
        return distance, nearest
    dist, _, source = dijkstra(
        graph.csr, directed=True, indices=sources, min_only=True, return_predecessors=True
    )
    nodes = graph.compound_node[on_net]
    distance[on_net] = dist[nodes] + graph.compound_snap_m[on_net]
    door_to_facility = np.full(graph.csr.shape[0], -1, dtype=np.int64)
    door_to_facility[sources] = np.flatnonzero(doors >= 0)
    found = source[nodes]
    nearest[on_net] = np.where(found >= 0, door_to_facility[np.maximum(found, 0)], -1)
    return distance, nearest


def facilities_within(
    graph: AccessGraph,
    category: str,
    threshold_m: float,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Number of facilities of a category within ``threshold_m`` walk of each compound.

    Parameters
    ----------
    graph : AccessGraph
        From :func:`build_access_graph`.
    category : str
        Category key.
    threshold_m : float
        Inclusive: a facility at exactly the threshold counts.
    progress : callable, optional
        Called with the number of facilities done after each block.

    Returns
    -------
    numpy.ndarray
        Counts (int); 0 for compounds not on the network.
    """
    return facility_counts(graph, category, [threshold_m], progress)[:, 0]


def facility_counts(
    graph: AccessGraph,
    category: str,
    thresholds_m: Sequence[float],
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Number of facilities of a category within each of several walks of each compound.

    One bounded search per facility door, to the largest threshold, answers every threshold
    (:func:`lifecircle.analysis.reach.count_within`): the cost grows with the streets within
    reach of the facilities, not with the size of the city.

    Parameters
    ----------
    graph : AccessGraph
        From :func:`build_access_graph`.
    category : str
        Category key.
    thresholds_m : sequence of float
        Walking distances (inclusive), snap legs of both ends included.
    progress : callable, optional
        Called with the number of facilities done after each block.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_compounds, len(thresholds_m))``, int; 0 for compounds not on the network.
    """
    doors = graph.facility_door[category]
    sources = doors[doors >= 0]
    counts = np.zeros((len(graph.compound_node), len(thresholds_m)), dtype=np.int64)
    on_net = graph.compound_node >= 0
    limits = np.asarray(thresholds_m, dtype=float) + settings.threshold_tolerance_m
    # Blocks only pace the progress bar: each search is independent.
    n_blocks = max(1, len(sources) // _FACILITIES_PER_PROGRESS_STEP)
    for block in np.array_split(sources, n_blocks):
        counts[on_net] += count_within(
            graph.csr,
            block,
            graph.compound_node[on_net],
            limits,
            target_extra=graph.compound_snap_m[on_net],
        )
        if progress is not None:
            progress(len(block))
    return counts


def category_access(
    graph: AccessGraph,
    category: str,
    threshold_m: float,
    walking_speed_m_per_min: float,
    facility_names: np.ndarray | None = None,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Distance, time, count and coverage of one category for every compound.

    Parameters
    ----------
    graph : AccessGraph
        From :func:`build_access_graph`.
    category : str
        Category key.
    threshold_m : float
        Walking distance within which a compound is covered (inclusive).
    walking_speed_m_per_min : float
        Converts distances to minutes.
    facility_names : numpy.ndarray, optional
        Names of the category's facilities, to name the nearest one.
    progress : callable, optional
        Passed to :func:`facilities_within`.

    Returns
    -------
    pandas.DataFrame
        Columns ``{category}_dist_m``, ``{category}_min``, ``{category}_count``,
        ``{category}_covered`` and ``{category}_nearest``, one row per compound.
    """
    distance, nearest = nearest_facility_distance(graph, category)
    counts = facilities_within(graph, category, threshold_m, progress)
    covered = np.nan_to_num(distance, nan=np.inf) <= threshold_m + settings.threshold_tolerance_m
    labels = (
        np.asarray(facility_names, dtype=object)
        if facility_names is not None
        else np.arange(len(graph.facility_door[category])).astype(str).astype(object)
    )
    # Append "" so that index -1 (no facility) reads as an empty name.
    names = np.append(labels, "")[nearest]
    finite = np.where(np.isfinite(distance), distance, np.nan)
    columns = schema.category_columns(category)
    return pd.DataFrame(
        {
            columns.dist_m: finite,
            columns.minutes: finite / walking_speed_m_per_min,
            columns.count: counts,
            columns.covered: covered,
            columns.nearest: names,
        }
    )
