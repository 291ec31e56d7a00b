"""Where each compound's walks start: its gates, the nearest point of its polygon, or its point.

A walk from a gated compound (封闭小区) starts at a gate, not at the street nearest to the
compound's centre. Each compound gets one or more *access points*, and the rule used is recorded
(``access_rule``):

* ``gates`` — every gate linked to the compound (:func:`lifecircle.sources.gates.link_gates`);
  the compound's walk is the shortest over its gates, each gate snapped like any point (its snap
  leg counted). With ``interior_leg`` the straight line from the compound's point to the gate
  is added: the walk inside the compound.
* ``boundary`` — a polygon without gates starts at the point of the polygon nearest to the
  street network (a street crossing the compound counts as touching it);
* ``point`` — a point compound (or a polygon when ``boundary`` is off) starts at its point.

:func:`lifecircle.analysis.access.build_access_graph` then joins a compound with several access
points by one-way edges from each point's street position, so no walk passes *through* a
compound as a shortcut.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..profile import Profile
from ..schema import (
    RULE_BOUNDARY,
    RULE_GATES,
    RULE_POINT,
    STATUS_BEYOND_SNAP_LIMIT,
    STATUS_ISLAND,
    STATUS_OK,
)
from .access import representative_points, snap_layer
from .network import WalkNetwork

#: How far (m) beyond the polygon's distance to its nearest street a boundary point may lie when
#: it is centred on the compound (see :func:`boundary_points`).
BOUNDARY_TOLERANCE_M = 0.5


@dataclass(frozen=True)
class AccessPoints:
    """The access points of every compound, snapped.

    Attributes
    ----------
    snaps : pandas.DataFrame
        One row per access point: the columns of :func:`lifecircle.analysis.access.snap_layer`
        plus ``leg_m`` (snap distance, plus the walk inside the compound when modelled).
    compound : numpy.ndarray
        The compound (position) of each access point.
    rule : numpy.ndarray
        Per compound, ``gates``, ``boundary`` or ``point``.
    n_gates : numpy.ndarray
        Per compound, the number of gates linked to it.
    """

    snaps: pd.DataFrame
    compound: np.ndarray
    rule: np.ndarray
    n_gates: np.ndarray


def boundary_points(network: WalkNetwork, polygons: gpd.GeoSeries) -> gpd.GeoSeries:
    """The point of each polygon nearest to the walking network, centred on the compound.

    For each of the polygon's nearest streets ``E`` (all of them when several are equally
    near), the candidate is the point of the polygon nearest to the foot of the polygon's
    centre on ``E``, kept when it lies within :data:`BOUNDARY_TOLERANCE_M` of the polygon's least
    distance to ``E``; the candidate nearest to the centre wins. A wall running along a street
    thus opens opposite the compound's middle, not at a corner; without a valid candidate the
    polygon's nearest point to ``E`` is used.

    Parameters
    ----------
    network : WalkNetwork
        The projected walking network.
    polygons : geopandas.GeoSeries
        Polygons in ``network.crs``.

    Returns
    -------
    geopandas.GeoSeries
        Points on (or inside, where a street enters) each polygon; same index.
    """
    shapes = polygons.to_numpy()
    polygon_pos, edge_pos = network.edges.sindex.nearest(shapes, return_all=True)
    order = np.lexsort((edge_pos, polygon_pos))
    polygon_pos, edge_pos = polygon_pos[order], edge_pos[order]
    lines = network.edges.geometry.to_numpy()[edge_pos]
    owners = shapes[polygon_pos]
    centre = shapely.point_on_surface(owners)
    foot = shapely.line_interpolate_point(lines, shapely.line_locate_point(lines, centre))
    centred = shapely.get_point(shapely.shortest_line(owners, foot), 0)
    nearest = shapely.get_point(shapely.shortest_line(owners, lines), 0)
    valid = shapely.distance(centred, lines) <= shapely.distance(owners, lines) + BOUNDARY_TOLERANCE_M
    candidate = np.where(valid, centred, nearest)
    score = shapely.distance(candidate, centre) + np.where(valid, 0.0, np.inf)
    best = np.lexsort((score, polygon_pos))
    first = best[np.r_[True, polygon_pos[best][1:] != polygon_pos[best][:-1]]]
    return gpd.GeoSeries(candidate[first], index=polygons.index, crs=polygons.crs)


def compound_access_points(
    network: WalkNetwork,
    compounds: gpd.GeoDataFrame,
    snap_limit_m: float,
    *,
    gates: gpd.GeoSeries | None = None,
    links: pd.DataFrame | None = None,
    boundary: bool = True,
    interior_leg: bool = False,
) -> AccessPoints:
    """Snap every compound's access points: its gates, its polygon's nearest point, or its point.

    Parameters
    ----------
    network : WalkNetwork
        The projected walking network.
    compounds : geopandas.GeoDataFrame
        Points or polygons (any CRS).
    snap_limit_m : float
        As in :func:`lifecircle.analysis.access.snap_layer`.
    gates : geopandas.GeoSeries, optional
        Gate points (any CRS), indexed by position as in ``links``.
    links : pandas.DataFrame, optional
        ``compound`` and ``gate`` positions (:func:`lifecircle.sources.gates.link_gates`).
    boundary : bool
        Polygons without gates start at their point nearest to the network.
    interior_leg : bool
        Add the straight line from the compound's representative point to each gate.

    Returns
    -------
    AccessPoints
    """
    shapes = compounds.geometry.to_crs(network.crs).reset_index(drop=True)
    n = len(shapes)
    centres = representative_points(gpd.GeoDataFrame(geometry=shapes)).to_numpy()
    starts = gpd.GeoSeries(centres, crs=network.crs)
    rule = np.full(n, RULE_POINT, dtype=object)
    is_polygon = ~shapes.geom_type.isin(["Point", "MultiPoint"]).to_numpy()
    if boundary and is_polygon.any():
        starts[is_polygon] = boundary_points(network, shapes[is_polygon]).to_numpy()
        rule[is_polygon] = RULE_BOUNDARY
    n_gates = np.zeros(n, dtype=np.int64)
    owner = np.arange(n)
    extra = np.zeros(n)
    points = starts.to_numpy()
    if links is not None and len(links) and gates is not None:
        gate_points = gates.to_crs(network.crs).to_numpy()[links["gate"].to_numpy(dtype=np.int64)]
        gated = links["compound"].to_numpy(dtype=np.int64)
        n_gates = np.bincount(gated, minlength=n)
        keep = n_gates[owner] == 0
        gate_extra = (
            shapely.distance(centres[gated], gate_points) if interior_leg else np.zeros(len(gated))
        )
        points = np.concatenate([points[keep], gate_points])
        owner = np.concatenate([owner[keep], gated])
        extra = np.concatenate([extra[keep], gate_extra])
        rule[n_gates > 0] = RULE_GATES
    order = np.argsort(owner, kind="stable")
    snaps = snap_layer(network, gpd.GeoDataFrame(geometry=points[order], crs=network.crs), snap_limit_m)
    snaps = snaps.reset_index(drop=True)
    snaps["leg_m"] = snaps["snap_m"].to_numpy(dtype=float) + extra[order]
    return AccessPoints(snaps=snaps, compound=owner[order], rule=rule, n_gates=n_gates)


def profile_access_points(
    network: WalkNetwork,
    profile: Profile,
    compounds: gpd.GeoDataFrame,
    gates: tuple[gpd.GeoSeries, pd.DataFrame] | None,
) -> AccessPoints:
    """:func:`compound_access_points` with the profile's settings (snap limit, boundary, legs).

    Parameters
    ----------
    network : WalkNetwork
        The projected walking network.
    profile : Profile
        Its ``snap_limit_m`` and ``compounds`` settings (``boundary_access``, ``gates``).
    compounds : geopandas.GeoDataFrame
        The compounds as loaded.
    gates : tuple of (geopandas.GeoSeries, pandas.DataFrame) or None
        The gates and their links to compounds, as loaded.

    Returns
    -------
    AccessPoints
    """
    spec = profile.compounds
    return compound_access_points(
        network,
        compounds,
        profile.snap_limit_m,
        gates=gates[0] if gates else None,
        links=gates[1] if gates else None,
        boundary=spec.boundary_access,
        interior_leg=spec.gates.interior_leg if spec.gates else False,
    )


def compound_snaps(points: AccessPoints, n_compounds: int) -> pd.DataFrame:
    """One snap per compound: its best access point, for the compound table and the checks.

    The best point is on the main network if any is (then the shortest snap), else on an island,
    else beyond the snap limit. ``access_status`` is that point's.

    Parameters
    ----------
    points : AccessPoints
        From :func:`compound_access_points`.
    n_compounds : int
        Number of compounds.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`lifecircle.analysis.access.snap_layer`, one row per compound.
    """
    rank = pd.Series(points.snaps["access_status"]).map(
        {STATUS_OK: 0, STATUS_ISLAND: 1, STATUS_BEYOND_SNAP_LIMIT: 2}
    ).to_numpy()
    order = np.lexsort((points.snaps["snap_m"].to_numpy(dtype=float), rank, points.compound))
    first = order[np.r_[True, points.compound[order][1:] != points.compound[order][:-1]]]
    best = points.snaps.iloc[first].reset_index(drop=True)
    if len(best) != n_compounds:
        raise ValueError("every compound needs at least one access point")
    return best
