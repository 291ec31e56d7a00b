"""Candidate sites for new facilities: points along the walking network, or given layers.

A candidate is a point where a new facility could go. It is snapped to the walking network like
any facility (:func:`lifecircle.analysis.access.snap_layer`), and that snap is used both to
measure what it would cover and to recompute the run with it added, so the two always agree.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse

from .. import schema, settings
from ..schema import STATUS_BEYOND_SNAP_LIMIT
from . import coverage
from .access import build_access_graph, representative_points, snap_layer
from .entrances import AccessPoints
from .network import WalkNetwork
from .reach import walks_within
from .result import RunResult

#: Columns of a prepared candidate table (besides the snap columns and ``geometry``).
CANDIDATE_ID = "candidate_id"
SOURCE = "source"
STREET = "street"
#: ``source`` of generated candidates.
SOURCE_NETWORK = "network"
SOURCE_STREET_NODE = "street_node"
#: The category name under which sites are inserted into the access graph.
_SITES = "__sites__"


def street_node_candidates(network: WalkNetwork) -> gpd.GeoDataFrame:
    """One candidate at every street node.

    Returns
    -------
    geopandas.GeoDataFrame
        Points in ``network.crs`` with ``name`` (empty) and ``source`` (``street_node``), in
        node order.
    """
    edges = network.edges
    geoms = edges.geometry.to_numpy()
    ends = np.r_[edges["u_pos"].to_numpy(), edges["v_pos"].to_numpy()]
    points = np.r_[shapely.get_point(geoms, 0), shapely.get_point(geoms, -1)]
    nodes, first = np.unique(ends, return_index=True)
    return gpd.GeoDataFrame(
        {"name": "", SOURCE: SOURCE_STREET_NODE},
        geometry=points[first],
        index=pd.RangeIndex(len(nodes)),
        crs=network.crs,
    )


def network_candidates(network: WalkNetwork, spacing_m: float) -> gpd.GeoDataFrame:
    """Candidates at every street node and along every street, at most ``spacing_m`` apart.

    Each edge of length ``L`` is cut into ``ceil(L / spacing_m)`` equal pieces; the cuts and
    the street nodes are the candidates.

    Parameters
    ----------
    network : WalkNetwork
        The projected walking network.
    spacing_m : float
        Largest distance between neighbouring candidates along a street (metres, > 0).

    Returns
    -------
    geopandas.GeoDataFrame
        Points in ``network.crs`` with ``name`` (empty) and ``source`` (``network``).
    """
    if spacing_m <= 0:
        raise ValueError(f"spacing_m must be positive, got {spacing_m}")
    edges = network.edges
    lengths = edges["length"].to_numpy()
    pieces = np.maximum(1, np.ceil(lengths / spacing_m - 1e-9).astype(np.int64))
    cuts = pieces - 1
    edge_of_cut = np.repeat(np.arange(len(edges)), cuts)
    # Position of each cut along its edge: 1/pieces, 2/pieces, … (as a fraction of the length).
    step = np.arange(cuts.sum()) - np.repeat(np.cumsum(cuts) - cuts, cuts) + 1
    fraction = step / pieces[edge_of_cut]
    along = shapely.line_interpolate_point(
        edges.geometry.to_numpy()[edge_of_cut], fraction, normalized=True
    )
    nodes = street_node_candidates(network)
    points = np.r_[nodes.geometry.to_numpy(), along]
    return gpd.GeoDataFrame(
        {"name": "", SOURCE: SOURCE_NETWORK},
        geometry=points,
        index=pd.RangeIndex(len(points)),
        crs=network.crs,
    )


def prepare_candidates(
    result: RunResult,
    layer: gpd.GeoDataFrame,
    *,
    within_study_area: bool = True,
) -> tuple[gpd.GeoDataFrame, dict[str, int]]:
    """Snap candidate sites, keep the usable ones and describe them.

    Parameters
    ----------
    result : RunResult
        The run whose network, study area and sub-districts are used.
    layer : geopandas.GeoDataFrame
        Candidate points or polygons (any CRS) with ``name`` and ``source``.
    within_study_area : bool
        Keep only candidates inside the study area (the district plans within its boundary).

    Returns
    -------
    candidates : geopandas.GeoDataFrame
        In the network's CRS, numbered ``candidate_id`` from 0, with ``name``, ``source``,
        ``street`` (the name of the street it is snapped to), ``sub_district``, the snap
        columns of :func:`lifecircle.analysis.access.snap_layer` and ``geometry`` (the
        candidate's own point). Candidates beyond the snap limit are left out.
    dropped : dict
        How many were left out: ``outside_study_area``, ``beyond_snap_limit``.
    """
    network = result.network
    points = gpd.GeoDataFrame(
        layer[["name", SOURCE]].reset_index(drop=True),
        geometry=representative_points(layer.to_crs(network.crs)).to_numpy(),
        crs=network.crs,
    )
    dropped = {"outside_study_area": 0, "beyond_snap_limit": 0}
    if within_study_area and not points.empty:
        area = result.study_area.to_crs(network.crs).geometry.union_all()
        inside = points.geometry.intersects(area).to_numpy()
        dropped["outside_study_area"] = int((~inside).sum())
        points = points[inside].reset_index(drop=True)
    snaps = snap_layer(network, points, result.profile.snap_limit_m)
    usable = (snaps[schema.ACCESS_STATUS] != STATUS_BEYOND_SNAP_LIMIT).to_numpy()
    dropped["beyond_snap_limit"] = int((~usable).sum())
    points, snaps = points[usable].reset_index(drop=True), snaps[usable].reset_index(drop=True)
    points.insert(0, CANDIDATE_ID, np.arange(len(points)))
    points[STREET] = street_names(network, snaps["edge"].to_numpy(dtype=np.int64))
    points[schema.SUB_DISTRICT] = coverage.assign_sub_districts(points, result.sub_districts)
    for column in snaps.columns:
        points[column] = snaps[column].to_numpy()
    return points, dropped


def candidate_snaps(candidates: gpd.GeoDataFrame) -> pd.DataFrame:
    """The snap columns of a prepared candidate table, as :func:`snap_layer` returns them."""
    columns = ["edge", "offset_m", "snap_m", "snap_x", "snap_y", "component", "access_status"]
    snaps = pd.DataFrame({c: candidates[c].to_numpy() for c in columns})
    snaps["edge"] = snaps["edge"].astype("Int64")
    return snaps


def street_names(network: WalkNetwork, edge_rows: np.ndarray) -> np.ndarray:
    """Names of the streets (edges of ``network.edges``), ``""`` where none is known.

    Names come from the edge table's ``name`` column (OpenStreetMap ``name`` of the ways; a
    merged edge of several names lists them, joined by " / ").
    """
    if len(edge_rows) == 0 or "name" not in network.edges:
        return np.full(len(edge_rows), "", dtype=object)
    names = network.edges["name"].to_numpy()[np.asarray(edge_rows, dtype=np.int64)]
    return np.array(
        [" / ".join(map(str, n)) if isinstance(n, list) else (n if isinstance(n, str) else "")
         for n in names],
        dtype=object,
    )


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
    one way, as in the run), and threshold-bounded searches
    (:func:`lifecircle.analysis.reach.walks_within`) run from whichever side is smaller:
    forwards from the sites, or backwards (on the reversed graph) from the compounds. A walk
    includes both legs, as in the run.

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
    nodes, leg = graph.compound_node, graph.compound_snap_m
    shape = (len(nodes), len(doors))
    rows = np.flatnonzero(np.asarray(demand, dtype=bool) & (nodes >= 0))
    cols = np.flatnonzero(doors >= 0)
    if len(rows) == 0 or len(cols) == 0:
        return sparse.csr_array(shape, dtype=bool)
    limit = threshold_m + settings.threshold_tolerance_m
    if len(rows) <= len(cols):
        # Walks run from the sites to the compounds: search backwards from the compounds, and
        # add each compound's own leg afterwards (every leg is ≥ 0, so none is missed).
        r, c, walk = walks_within(sparse.csr_array(graph.csr.T), nodes[rows], doors[cols], limit)
        keep = walk + leg[rows][r] <= limit
        r, c = r[keep], c[keep]
    else:
        c, r, _ = walks_within(graph.csr, doors[cols], nodes[rows], limit, leg[rows])
    return sparse.csr_array((np.ones(len(r), dtype=bool), (rows[r], cols[c])), shape=shape)
