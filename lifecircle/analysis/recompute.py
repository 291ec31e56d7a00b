"""Assembling a run's tables, and recomputing a run with changes on its loaded network.

The pipeline builds the compound and facility tables with :func:`compound_table`,
:func:`facility_table` and :func:`summarise`; :func:`recompute` does the same again for a run
whose facilities, compounds or thresholds changed (new sites, what-if scenarios), reusing the
run's :class:`~lifecircle.analysis.network.WalkNetwork`: nothing is read or downloaded again.
Unchanged inputs give the same tables as the run, value for value.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace

import geopandas as gpd
import numpy as np
import pandas as pd

from .. import schema, settings
from ..profile import Profile
from . import coverage
from .access import build_access_graph, category_access, representative_points, snap_layer
from .network import WalkNetwork
from .result import RunResult


def snapped_lonlat(snaps: pd.DataFrame, network: WalkNetwork) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 longitude and latitude of snapped street points."""
    if snaps.empty:
        return np.array([]), np.array([])
    points = gpd.GeoSeries.from_xy(snaps["snap_x"], snaps["snap_y"], crs=network.crs)
    points = points.to_crs(settings.exchange_crs)
    return points.x.to_numpy(), points.y.to_numpy()


def compound_table(
    compounds: gpd.GeoDataFrame,
    snaps: pd.DataFrame,
    columns: list[pd.DataFrame],
    network: WalkNetwork,
    profile: Profile,
) -> gpd.GeoDataFrame:
    """The compound table: inputs, snap, per-category access columns, complete, near misses.

    Parameters
    ----------
    compounds : geopandas.GeoDataFrame
        The compounds as read (with ``compound_id``, ``households``, ``population``).
    snaps : pandas.DataFrame
        Their snaps (:func:`lifecircle.analysis.access.snap_layer`).
    columns : list of pandas.DataFrame
        :func:`lifecircle.analysis.access.category_access` of every category.
    network : WalkNetwork
        The projected walking network.
    profile : Profile
        Gives the required categories, thresholds and the near-miss margin.

    Returns
    -------
    geopandas.GeoDataFrame
        A new frame (``compounds`` is not changed).
    """
    snapped = snapped_lonlat(snaps, network)
    out = compounds.copy()
    out[schema.SNAP_M] = snaps["snap_m"].to_numpy(dtype=float)
    out[schema.ACCESS_STATUS] = snaps["access_status"].to_numpy()
    out[schema.SNAP_LON], out[schema.SNAP_LAT] = snapped
    for frame in columns:
        for name in frame.columns:
            out[name] = frame[name].to_numpy()
    required = coverage.required_categories(profile)
    out[schema.COMPLETE] = coverage.complete_life_circle(out, required)
    thresholds = {key: category.threshold_m for key, category in profile.categories.items()}
    near = coverage.near_misses(out, thresholds, profile.near_miss_share, required)
    for column in near.columns:
        out[column] = near[column].to_numpy()
    return out


def facility_table(
    layers: Mapping[str, gpd.GeoDataFrame],
    snaps: Mapping[str, pd.DataFrame],
    network: WalkNetwork,
) -> gpd.GeoDataFrame:
    """All facilities (EPSG:4326) with category, name, snap distance, status and snapped point."""
    frames = []
    for key, layer in layers.items():
        points = gpd.GeoDataFrame(
            {"category": key, "name": layer.get("name", "")},
            geometry=representative_points(layer),
            crs=layer.crs,
        )
        snap = snaps[key]
        points["snap_m"] = snap["snap_m"].to_numpy(dtype=float)
        points["access_status"] = snap["access_status"].to_numpy()
        points["snap_lon"], points["snap_lat"] = snapped_lonlat(snap, network)
        frames.append(points.to_crs(settings.exchange_crs))
    if not frames:
        return gpd.GeoDataFrame(columns=["category", "name", "geometry"], crs=settings.exchange_crs)
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=settings.exchange_crs)


def summarise(
    compounds: gpd.GeoDataFrame, sub_districts: gpd.GeoDataFrame | None, profile: Profile
) -> tuple[gpd.GeoDataFrame, pd.DataFrame, pd.DataFrame]:
    """Sub-district of every compound, the coverage table and the targets.

    Returns
    -------
    compounds : geopandas.GeoDataFrame
        With ``sub_district`` (a new frame).
    table : pandas.DataFrame
        :func:`lifecircle.analysis.coverage.coverage_table`, by sub-district when known.
    targets : pandas.DataFrame
        :func:`lifecircle.analysis.coverage.check_targets`.
    """
    compounds = compounds.copy()
    compounds[schema.SUB_DISTRICT] = coverage.assign_sub_districts(compounds, sub_districts)
    by = schema.SUB_DISTRICT if sub_districts is not None else None
    table = coverage.coverage_table(compounds, list(profile.categories), by=by)
    return compounds, table, coverage.check_targets(table, profile.targets)


def input_compounds(result: RunResult) -> gpd.GeoDataFrame:
    """A run's compounds as they were read: without the columns the analysis added."""
    computed = {
        schema.SNAP_M,
        schema.ACCESS_STATUS,
        schema.SNAP_LON,
        schema.SNAP_LAT,
        schema.SUB_DISTRICT,
        schema.COMPLETE,
        schema.COMPLETE_NEAR_MISS,
    }
    for key in result.categories:
        computed |= set(schema.category_columns(key))
    keep = [c for c in result.compounds.columns if c not in computed]
    return result.compounds[keep].copy()


def category_facilities(result: RunResult, category: str) -> gpd.GeoDataFrame:
    """One category's facilities of a run (EPSG:4326, ``name`` and ``geometry``), in run order."""
    rows = result.facilities[result.facilities[schema.CATEGORY] == category]
    return rows[["name", "geometry"]].reset_index(drop=True)


def recompute(
    result: RunResult,
    *,
    facilities: Mapping[str, gpd.GeoDataFrame] | None = None,
    facility_snaps: Mapping[str, pd.DataFrame] | None = None,
    compounds: gpd.GeoDataFrame | None = None,
    profile: Profile | None = None,
) -> RunResult:
    """Recompute a run with other facilities, compounds or thresholds, on its loaded network.

    Parameters
    ----------
    result : RunResult
        The run to start from; its network, study area and sub-districts are reused.
    facilities : mapping of str to geopandas.GeoDataFrame, optional
        Replacement facility layers (``name`` and point or polygon ``geometry``, any CRS) for
        some categories; the other categories keep the run's facilities.
    facility_snaps : mapping of str to pandas.DataFrame, optional
        The snaps of (some of) the replacement layers, row for row, when already known (e.g.
        the run's own snaps followed by those of new sites): reusing them keeps distances
        bit-for-bit equal to the ones they came from. Missing ones are snapped here.
    compounds : geopandas.GeoDataFrame, optional
        Replacement compounds as read (``compound_id``, ``name``, ``households``,
        ``population``, geometry; see :func:`input_compounds`). Default: the run's.
    profile : Profile, optional
        A changed profile (e.g. other thresholds) with the same categories. Default: the run's.

    Returns
    -------
    RunResult
        A new result; ``result`` is not changed.
    """
    start = time.perf_counter()
    profile = profile if profile is not None else result.profile
    network = result.network
    layers = {key: category_facilities(result, key) for key in profile.categories}
    layers |= dict(facilities or {})
    snaps = {key: result.facility_snaps[key] for key in profile.categories}
    given = dict(facility_snaps or {})
    for key in facilities or {}:
        snaps[key] = given[key] if key in given else snap_layer(network, layers[key], profile.snap_limit_m)
    compound_layer = compounds if compounds is not None else input_compounds(result)
    compound_snaps = snap_layer(network, compound_layer, profile.snap_limit_m)
    access_graph = build_access_graph(network, compound_snaps, snaps)
    columns = [
        category_access(
            access_graph,
            key,
            category.threshold_m,
            profile.walking_speed_m_per_min,
            layers[key]["name"].to_numpy(),
        )
        for key, category in profile.categories.items()
    ]
    table_in = compound_table(compound_layer, compound_snaps, columns, network, profile)
    compound_out, table, targets = summarise(table_in, result.sub_districts, profile)
    return replace(
        result,
        profile=profile,
        access_graph=access_graph,
        compounds=compound_out,
        facilities=facility_table(layers, snaps, network),
        facility_snaps=snaps,
        coverage=table,
        targets=targets,
        timings={**result.timings, "recompute": time.perf_counter() - start},
        notes=list(result.notes),
    )
