"""Plausibility checks: mistaken coordinate systems, flagged features, partial networks, overlaps.

Chinese map data is often GCJ-02 (AMap, Tencent) or BD-09 (Baidu). Declared as WGS84, such a
layer sits 100–700 m (GCJ-02) or ~1 km (BD-09) off; in a dense street grid it still lands near
*some* street, so the typical snap distance grows only a little and a test on medians misses it
on a small dense area. The test here tries the other reading point by point: undoing the offset
of a wrongly declared layer brings most of its points markedly closer to the streets (they go
back where they belong), while for a rightly declared layer as many move away as closer, or
more. A one-sided sign test on the points that move markedly decides, so the test holds at any
extent. Boundaries are tested the same way against the known district boundaries.

Significance alone is not enough: a shift of 0.5–1 km puts a rightly declared layer at effectively
random places among the streets, and on a regular grid random places can sit slightly nearer the
streets than compounds set back from them (generated city, 80 m blocks: median 15 m as
declared, 13 m re-read, 55% of 1,500 decisive points closer, p < 0.001). So the re-read median
must also be at most 75% of the declared one. Over 48 boxes of central Shanghai
(benchmarks/crs_check_boxes.py) every wrongly declared layer that was caught had a ratio of 0.67
or less; the grids' false alarms had 0.83–0.86. (A null of shifts of the same length in other
directions was measured too and not kept: streets are not uniform at that scale, so on real data
it varied as much as the signal.) On such a grid a truly shifted layer of set-back compounds
stays unflagged: it sits no farther from the streets than where it belongs, so distances to
streets cannot tell; points at the street side are caught.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import ConvexHull, QhullError
from scipy.stats import binomtest

from .. import crs, settings
from ..errors import LifecircleWarning
from ..schema import STATUS_BEYOND_SNAP_LIMIT, STATUS_ISLAND
from .access import representative_points
from .network import WalkNetwork, snap_to_edges

#: Largest number of features (or boundary vertices) used to test another coordinate reading.
_CRS_SAMPLE = 2000
#: A point moves "markedly" when its distance changes by this factor and by the margin below.
_MARKED_RATIO = 0.7
_POINT_MARGIN_M = 5.0
_BOUNDARY_MARGIN_M = 30.0
#: Boundary vertices farther than this from every known boundary are left out.
_BOUNDARY_REACH_M = 3000.0
#: Among the points that move markedly, at least this share must move closer...
_CLOSER_SHARE = 0.55
#: ...and a fair coin must be this unlikely to give as many (one-sided sign test).
_P_VALUE = 1e-3
#: The effect must be real, not merely significant: the re-read median distance must be at most
#: this share of the declared one (see the module docstring).
_MEDIAN_RATIO = 0.75


#: Why a point is off the walking network, by its access status.
_OFF_NETWORK = {
    STATUS_BEYOND_SNAP_LIMIT: "lie farther than the snap limit from any walkable street "
    "(距路网过远 / too far from the network)",
    STATUS_ISLAND: "snap to a street piece that is not joined to the main walking network "
    "(孤立路网 / an isolated piece of network)",
}


class CrsSuspicion(NamedTuple):
    """Another reading of a layer's coordinates fits markedly better."""

    crs: str
    median_as_declared_m: float
    median_if_other_m: float
    closer_share: float
    n_decisive: int


def likely_chinese_crs(
    network: WalkNetwork,
    layer: gpd.GeoDataFrame,
    declared: str,
    reach_m: float | None = None,
) -> CrsSuspicion | None:
    """Test whether a layer declared as WGS84 really is GCJ-02 or BD-09.

    Parameters
    ----------
    network : WalkNetwork
        The projected walking network.
    layer : geopandas.GeoDataFrame
        The layer as read (EPSG:4326, coordinates as declared).
    declared : str
        Its declared coordinate system; only WGS84-like declarations are tested.
    reach_m : float, optional
        Points farther than this from every street in either reading (beyond the network's
        edge, across a river) tell nothing and are left out; default
        ``settings.snap_limit_m``.

    Returns
    -------
    CrsSuspicion or None
        ``(crs, median_as_declared_m, median_if_other_m, closer_share, n_decisive)`` when, read
        as ``crs``, the layer's points come markedly closer to the streets (see the module
        docstring), else None.
    """
    points = _chinese_points(layer, declared)
    if points is None:
        return None
    as_declared = _snap_distances(network, points)
    readings = {
        candidate: _snap_distances(network, _reread(points, candidate))
        for candidate in (crs.GCJ02, crs.BD09)
    }
    reach = settings.snap_limit_m if reach_m is None else reach_m
    return _better_reading(as_declared, readings, _POINT_MARGIN_M, reach)


def likely_chinese_crs_of_boundaries(
    layer: gpd.GeoDataFrame, declared: str, reference: gpd.GeoSeries, projected_crs: str
) -> CrsSuspicion | None:
    """Test whether polygons declared as WGS84 really are GCJ-02 or BD-09.

    Parameters
    ----------
    layer : geopandas.GeoDataFrame
        Polygons as read (EPSG:4326, coordinates as declared): a study area, sub-districts.
    declared : str
        Their declared coordinate system; only WGS84-like declarations are tested.
    reference : geopandas.GeoSeries
        Known boundaries nearby (EPSG:4326), e.g. the districts around the layer.
    projected_crs : str
        Metric CRS for the distances.

    Returns
    -------
    CrsSuspicion or None
        When the layer's boundary vertices come markedly closer to the known boundaries read as
        ``crs``; distances are vertex to the nearest known boundary line.
    """
    if reference.empty or layer.empty:
        return None
    vertices = gpd.GeoSeries(
        shapely.points(shapely.get_coordinates(layer.geometry.boundary.values)), crs=layer.crs
    )
    vertices = vertices.iloc[:: max(1, len(vertices) // _CRS_SAMPLE)]
    points = _chinese_points(gpd.GeoDataFrame(geometry=vertices), declared)
    if points is None:
        return None
    lines = reference.to_crs(projected_crs).boundary.union_all()

    def distances(series: gpd.GeoSeries) -> np.ndarray:
        return shapely.distance(series.to_crs(projected_crs).values, lines)

    readings = {c: distances(_reread(points, c)) for c in (crs.GCJ02, crs.BD09)}
    return _better_reading(distances(points), readings, _BOUNDARY_MARGIN_M, _BOUNDARY_REACH_M)


def _chinese_points(layer: gpd.GeoDataFrame | None, declared: str) -> gpd.GeoSeries | None:
    """Sampled points of a WGS84-declared layer that lies mostly in China, else None."""
    if layer is None or layer.empty:
        return None
    if crs.canonical_crs(declared) not in {"EPSG:4326", "EPSG:4490"}:
        return None
    sample = layer.iloc[:: max(1, len(layer) // _CRS_SAMPLE)]
    points = representative_points(sample)
    if not crs.looks_like_china(points.x.to_numpy(), points.y.to_numpy()).mean() > 0.5:
        return None
    return points


def _reread(points: gpd.GeoSeries, candidate: str) -> gpd.GeoSeries:
    shifted = crs.to_wgs84(gpd.GeoDataFrame(geometry=points.values), candidate).geometry
    return shifted.set_crs(settings.exchange_crs, allow_override=True)


def _snap_distances(network: WalkNetwork, points: gpd.GeoSeries) -> np.ndarray:
    return snap_to_edges(network, points.to_crs(network.crs))["snap_m"].to_numpy(dtype=float)


def _better_reading(
    as_declared: np.ndarray, readings: dict[str, np.ndarray], margin_m: float, reach_m: float
) -> CrsSuspicion | None:
    """The reading that brings markedly more points closer than away (sign test) and cuts the
    median distance by a quarter or more, if any."""
    best, best_p = None, 1.0
    for candidate, other_all in readings.items():
        near = (as_declared <= reach_m) & (other_all <= reach_m)
        declared, other = as_declared[near], other_all[near]
        if not near.any():
            continue
        closer = int(((other < declared * _MARKED_RATIO) & (other < declared - margin_m)).sum())
        away = int(((declared < other * _MARKED_RATIO) & (declared < other - margin_m)).sum())
        decisive = closer + away
        if decisive == 0:
            continue
        share = closer / decisive
        p_value = binomtest(closer, decisive, 0.5, alternative="greater").pvalue
        median_other, median_declared = float(np.median(other)), float(np.median(declared))
        if (
            share < _CLOSER_SHARE
            or p_value >= _P_VALUE
            or median_other > _MEDIAN_RATIO * median_declared
        ):
            continue
        if best is None or p_value < best_p:
            best, best_p = (
                CrsSuspicion(candidate, median_declared, median_other, share, decisive),
                p_value,
            )
    return best


def warn_about_snaps(
    snaps: pd.DataFrame,
    what: str,
    declared_crs: str,
    network: WalkNetwork | None = None,
    layer: gpd.GeoDataFrame | None = None,
    reach_m: float | None = None,
    crs_sample: gpd.GeoDataFrame | None = None,
) -> None:
    """Warn about implausible snap distances, flagged features and a likely wrong CRS.

    Parameters
    ----------
    snaps : pandas.DataFrame
        From :func:`lifecircle.access.snap_layer`.
    what : str
        What the layer is, for the messages (e.g. ``"compounds"``).
    declared_crs : str
        The layer's declared coordinate system.
    network : WalkNetwork, optional
        With ``layer``, enables the test of other coordinate readings.
    layer : geopandas.GeoDataFrame, optional
        The layer as read (EPSG:4326).
    reach_m : float, optional
        The snap limit: points farther from every street are left out of the CRS test.
    crs_sample : geopandas.GeoDataFrame, optional
        More of the same file for the CRS test (e.g. its compounds around the study area, not
        only inside it): the more points, the surer the test. Default ``layer``.
    """
    if snaps.empty:
        return
    median = float(snaps["snap_m"].median())
    sample = crs_sample if crs_sample is not None else layer
    suggestion = (
        likely_chinese_crs(network, sample, declared_crs, reach_m) if network is not None else None
    )
    if suggestion is not None:
        warn_crs_suspicion(what, declared_crs, suggestion, "the nearest street")
    elif median > settings.implausible_median_snap_m:
        warnings.warn(
            f"{what}: the median distance to the nearest street is {median:,.0f} m, which is "
            f"implausible for an urban layer (expected well under "
            f"{settings.implausible_median_snap_m:.0f} m). Check the layer's coordinate system "
            f"(declared: '{declared_crs}') and that the network covers it.",
            LifecircleWarning,
            stacklevel=2,
        )
    for status, where in _OFF_NETWORK.items():
        n_off = int((snaps["access_status"] == status).sum())
        if n_off:
            warnings.warn(
                f"{what}: {n_off:,} of {len(snaps):,} {where} and count as not covered (未覆盖); "
                f"access_status = '{status}' in the tables.",
                LifecircleWarning,
                stacklevel=2,
            )


def warn_crs_suspicion(what: str, declared: str, suspicion: CrsSuspicion, target: str) -> None:
    """Warn that a layer's coordinates look like another system than declared."""
    other = suspicion.crs
    warnings.warn(
        f"{what}: the coordinates look like {other.upper()} declared as '{declared}': read as "
        f"{other}, {suspicion.closer_share:.0%} of the {suspicion.n_decisive:,} points that move "
        f"markedly come closer to {target} (median distance {suspicion.median_as_declared_m:.0f} m "
        f"as declared, {suspicion.median_if_other_m:.0f} m if read as {other}). Set "
        f"'crs: {other}' for this layer in the profile (AMap/Tencent data is GCJ-02, Baidu data "
        "is BD-09).",
        LifecircleWarning,
        stacklevel=3,
    )


# --- partial networks and overlapping sub-districts ---------------------------------------------

#: Warn when the walking network's extent covers less than this share of the study area.
MIN_NETWORK_AREA_SHARE = 0.9
#: Overlaps of sub-districts smaller than this (m², and share of the smaller one) are slivers.
_SLIVER_M2 = 1000.0
_SLIVER_SHARE = 0.005


class NetworkCoverage(NamedTuple):
    """How much of the study area and of the compounds the walking network's extent covers."""

    area_share: float
    compounds_outside: int
    compounds: int


def network_coverage(
    network: WalkNetwork, study_area: gpd.GeoSeries, compounds: gpd.GeoSeries, reach_m: float
) -> NetworkCoverage:
    """Share of the study area within the network's extent, and the compounds outside it.

    The extent is the convex hull of the street geometry grown by ``reach_m`` (the snap limit):
    places farther out cannot reach any street of this network.

    Parameters
    ----------
    network : WalkNetwork
        The projected walking network.
    study_area : geopandas.GeoSeries
        The study-area polygon(s), any CRS.
    compounds : geopandas.GeoSeries
        The compounds' points or polygons, any CRS.
    reach_m : float
        How far from a street a place still counts as reached.

    Returns
    -------
    NetworkCoverage
    """
    coordinates = shapely.get_coordinates(network.edges.geometry.values)
    extent = shapely.buffer(_convex_hull(coordinates), reach_m)
    area = study_area.to_crs(network.crs).union_all()
    share = shapely.area(shapely.intersection(area, extent)) / area.area if area.area else 1.0
    points = representative_points(gpd.GeoDataFrame(geometry=compounds)).to_crs(network.crs)
    outside = int((~shapely.contains_xy(extent, points.x.to_numpy(), points.y.to_numpy())).sum())
    return NetworkCoverage(float(share), outside, len(points))


def _convex_hull(coordinates: np.ndarray) -> shapely.Geometry:
    """Convex hull of many points: qhull on the array (a GEOS multipoint of a city's millions
    of vertices would take a gigabyte); GEOS for the degenerate few-point cases."""
    try:
        hull = ConvexHull(coordinates)
    except (QhullError, ValueError):
        return shapely.convex_hull(shapely.multipoints(coordinates))
    return shapely.Polygon(coordinates[hull.vertices])


def warn_partial_network(found: NetworkCoverage, network_source: str) -> None:
    """Warn plainly when the network covers only part of the study area."""
    if found.area_share >= MIN_NETWORK_AREA_SHARE:
        return
    warnings.warn(
        f"the walking network ({network_source}) covers only {found.area_share:.0%} of the study "
        f"area: {found.compounds_outside:,} of {found.compounds:,} compounds "
        f"({found.compounds_outside / max(found.compounds, 1):.0%}) lie outside its extent and "
        "count as not covered, so every coverage figure below understates the real coverage. "
        "Use an OpenStreetMap extract that covers the whole study area.",
        LifecircleWarning,
        stacklevel=2,
    )


def sub_district_overlaps(sub_districts: gpd.GeoDataFrame, projected_crs: str) -> pd.DataFrame:
    """Pairs of sub-districts that overlap by more than a sliver.

    Parameters
    ----------
    sub_districts : geopandas.GeoDataFrame
        With ``name`` and polygons.
    projected_crs : str
        Metric CRS for the areas.

    Returns
    -------
    pandas.DataFrame
        ``first``, ``second`` (names, sorted), ``area_m2``, ``share`` (of the smaller of the
        two) and ``geometry`` (the overlap, in ``projected_crs``).
    """
    columns = ["first", "second", "area_m2", "share", "geometry"]
    if sub_districts is None or len(sub_districts) < 2:
        return pd.DataFrame(columns=columns)
    projected = sub_districts.to_crs(projected_crs).reset_index(drop=True)
    left, right = projected.sindex.query(projected.geometry, predicate="intersects")
    rows = []
    for i, j in zip(left, right, strict=True):
        if i >= j:
            continue
        a, b = projected.geometry.iloc[i], projected.geometry.iloc[j]
        overlap = shapely.intersection(a, b)
        share = overlap.area / min(a.area, b.area) if min(a.area, b.area) else 0.0
        if overlap.area > _SLIVER_M2 and share > _SLIVER_SHARE:
            first, second = sorted((str(projected["name"].iloc[i]), str(projected["name"].iloc[j])))
            rows.append((first, second, overlap.area, share, overlap))
    return pd.DataFrame(rows, columns=columns)
