"""Gaps in the life circle: who is not covered, where, and which residential land lies outside.

For every facility category (and the complete life circle, 完整生活圈) this module lists the
residential compounds (小区) beyond the walking threshold, with the reason (too far, no facility
reachable, not on the walking network), and, where compounds are polygons, the residential land
outside the category's walking service area. Coverage flags come from the walking distances of
:mod:`lifecircle.access`; the service-area polygons (:mod:`lifecircle.isochrones`) only draw the
land gaps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .. import settings
from ..schema import ALL_AREAS, COMPLETE, STATUS_OK, category_columns, covered_column
from . import isochrones
from .coverage import required_categories

if TYPE_CHECKING:
    from .result import RunResult

#: Bilingual label of the complete life circle.
COMPLETE_LABEL = ("完整生活圈", "Complete life circle")
#: Why a compound is not covered (``gap_reason``), besides its ``access_status`` when it is not
#: on the main walking network.
REASON_BEYOND_THRESHOLD = "beyond_threshold"
REASON_NO_FACILITY = "no_facility_reachable"
#: Pieces of residential land smaller than this (m²) outside a service area are slivers left by
#: the polygons' simplification, not gaps.
MIN_GAP_M2 = 1.0

_COMPOUND_COLUMNS = ["compound_id", "name", "households", "population", "sub_district"]


def result_service_areas(result: RunResult, buffer_m: float = 40.0) -> gpd.GeoDataFrame:
    """Walking service areas of every category of a run.

    Parameters
    ----------
    result : RunResult
        From :func:`lifecircle.run`.
    buffer_m : float, default 40.0
        Walk-access band on each side of a reachable street (see
        :func:`lifecircle.isochrones.service_area`).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per category in profile order, EPSG:4326: ``category``, ``threshold_m``,
        ``street_km``, ``area_km2``, ``geometry``.
    """
    thresholds = {key: c.threshold_m for key, c in result.profile.categories.items()}
    snaps = {key: result.facility_snaps[key] for key in result.profile.categories}
    return isochrones.service_areas(
        result.network,
        result.access_graph,
        snaps,
        thresholds,
        buffer_m=buffer_m,
        to_crs=settings.exchange_crs,
    )


def category_label(result: RunResult, category: str) -> tuple[str, str]:
    """(中文, English) label of a category key or of ``complete``."""
    if category == COMPLETE:
        return COMPLETE_LABEL
    label = result.profile.categories[category].label
    return label.zh, label.en


def uncovered_compounds(result: RunResult, category: str) -> gpd.GeoDataFrame:
    """Compounds not covered for one category (or without a complete life circle).

    Parameters
    ----------
    result : RunResult
        From :func:`lifecircle.run`.
    category : str
        A category key of the profile, or ``"complete"``.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326, largest population first: ``compound_id``, ``name``, ``households``,
        ``population``, ``sub_district``, ``category``, ``access_status``, ``gap_reason`` and
        the compound's geometry. For a category also ``dist_m``, ``minutes`` (``NaN`` when no
        facility is reachable), ``threshold_m`` and ``nearest``; for ``complete`` a ``missing``
        column lists the categories not covered.
    """
    compounds = result.compounds.to_crs(settings.exchange_crs)
    if category == COMPLETE:
        required = required_categories(result.profile)
        mask = ~compounds[COMPLETE].astype(bool)
        frame = compounds.loc[mask, [*_compound_columns(compounds), "access_status"]].copy()
        covered = compounds.loc[mask, [category_columns(c).covered for c in required]].astype(bool)
        frame["missing"] = [
            ", ".join(c for c, ok in zip(required, row, strict=True) if not ok)
            for row in covered.to_numpy()
        ]
        reason = np.where(frame["access_status"] == STATUS_OK, "missing_categories", "")
    else:
        columns = category_columns(category)
        mask = ~compounds[columns.covered].astype(bool)
        frame = compounds.loc[mask, [*_compound_columns(compounds), "access_status"]].copy()
        frame["dist_m"] = compounds.loc[mask, columns.dist_m].astype(float)
        frame["minutes"] = compounds.loc[mask, columns.minutes].astype(float)
        frame["threshold_m"] = result.profile.categories[category].threshold_m
        frame["nearest"] = compounds.loc[mask, columns.nearest]
        reason = np.where(
            frame["dist_m"].notna(), REASON_BEYOND_THRESHOLD, REASON_NO_FACILITY
        )
    on_network = frame["access_status"] == STATUS_OK
    frame.insert(len(_compound_columns(compounds)), "category", category)
    frame["gap_reason"] = np.where(on_network, reason, frame["access_status"])
    frame["geometry"] = compounds.geometry[mask]
    out = gpd.GeoDataFrame(frame, geometry="geometry", crs=settings.exchange_crs)
    out = out.sort_values(["population", "compound_id"], ascending=[False, True], kind="stable")
    return out.reset_index(drop=True)


def _compound_columns(compounds: pd.DataFrame) -> list[str]:
    return [c for c in _COMPOUND_COLUMNS if c in compounds.columns]


def gap_land(
    result: RunResult, category: str, service_areas: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """Residential land of polygon compounds that lies outside a category's service area.

    Parameters
    ----------
    result : RunResult
        From :func:`lifecircle.run`; only its polygon compounds are used.
    category : str
        A category key, or ``"complete"`` (land outside the intersection of the required
        categories' service areas).
    service_areas : geopandas.GeoDataFrame
        From :func:`result_service_areas` (any CRS), with ``category``.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326, one row per polygon compound with land outside the service area (pieces
        under 1 m² are slivers and are ignored): ``compound_id``, ``name``, ``population``,
        ``sub_district``, ``category``, ``covered`` (the compound's coverage flag, from walking
        distance), ``land_m2``, ``outside_m2``, ``outside_share`` and the outside part as
        ``geometry``. Areas are measured in the profile's projected CRS. Empty when compounds
        are points.
    """
    crs = result.profile.projected_crs
    compounds = result.compounds
    polygonal = compounds.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    columns = [*_compound_columns(compounds), "category", "covered", "land_m2", "outside_m2",
               "outside_share"]
    if not polygonal.any():
        return gpd.GeoDataFrame(columns=[*columns, "geometry"], geometry="geometry",
                                crs=settings.exchange_crs)
    land = compounds.loc[polygonal].to_crs(crs)
    # OpenStreetMap polygons can be self-intersecting; repaired, their area is unchanged.
    parcels = shapely.make_valid(land.geometry.to_numpy())
    served = shapely.make_valid(_served_area(service_areas, category, result, crs))
    outside = shapely.difference(parcels, served)
    frame = land[_compound_columns(land)].copy()
    frame["category"] = category
    frame["covered"] = land[covered_column(category)].astype(bool).to_numpy()
    frame["land_m2"] = shapely.area(parcels)
    frame["outside_m2"] = shapely.area(outside)
    frame["outside_share"] = frame["outside_m2"] / frame["land_m2"]
    out = gpd.GeoDataFrame(frame, geometry=outside, crs=crs)
    out = out[out["outside_m2"] >= MIN_GAP_M2]
    return out.to_crs(settings.exchange_crs).reset_index(drop=True)


def _served_area(
    service_areas: gpd.GeoDataFrame, category: str, result: RunResult, crs: str
) -> shapely.Geometry:
    areas = service_areas.to_crs(crs).set_index("category").geometry
    keys = required_categories(result.profile) if category == COMPLETE else [category]
    # No service area (or no required category): no land is served.
    if not keys or any(k not in areas.index or areas[k] is None for k in keys):
        return shapely.Polygon()
    return shapely.intersection_all([areas[k] for k in keys])


def gap_layers(
    result: RunResult, service_areas: gpd.GeoDataFrame | None = None
) -> dict[str, gpd.GeoDataFrame]:
    """All gap layers of a run, ready for a GeoPackage or a map.

    Parameters
    ----------
    result : RunResult
        From :func:`lifecircle.run`.
    service_areas : geopandas.GeoDataFrame, optional
        From :func:`result_service_areas` (computed when not given; it is only needed when
        compounds are polygons).

    Returns
    -------
    dict of str to geopandas.GeoDataFrame
        In profile order, then the complete life circle: ``uncovered_<category>`` (from
        :func:`uncovered_compounds`) and, when compounds are polygons, ``gap_land_<category>``
        (from :func:`gap_land`). All in EPSG:4326; a layer may be empty.
    """
    keys = [*result.profile.categories, COMPLETE]
    polygonal = result.compounds.geom_type.isin(["Polygon", "MultiPolygon"]).any()
    if polygonal and service_areas is None:
        service_areas = result_service_areas(result)
    layers: dict[str, gpd.GeoDataFrame] = {}
    for key in keys:
        layers[f"uncovered_{key}"] = uncovered_compounds(result, key)
        if polygonal and service_areas is not None:
            layers[f"gap_land_{key}"] = gap_land(result, key, service_areas)
    return layers


def uncovered_population(result: RunResult) -> pd.DataFrame:
    """Uncovered compounds and residents per sub-district and category.

    Parameters
    ----------
    result : RunResult
        From :func:`lifecircle.run`.

    Returns
    -------
    pandas.DataFrame
        One row per (area, category): the whole study area first (``area`` = ``"(all)"``), then
        each sub-district; categories in profile order, then ``complete``. Columns ``area``,
        ``category``, ``label_zh``, ``label_en``, ``n_compounds``, ``n_uncovered``,
        ``n_uncovered_off_network`` (uncovered compounds not on the main walking network: check
        their data), ``population``, ``uncovered_population`` and ``uncovered_share`` (of the
        residents; ``NaN`` when population is unknown).
    """
    compounds = result.compounds
    groups: list[tuple[str, pd.DataFrame]] = [(ALL_AREAS, compounds)]
    if "sub_district" in compounds:
        groups += [(str(k), g) for k, g in compounds.groupby("sub_district", sort=True) if str(k)]
    rows = []
    for area, frame in groups:
        population = frame["population"].astype(float)
        known = population.notna().any()
        off_network = (frame["access_status"] != STATUS_OK).to_numpy()
        for key in [*result.profile.categories, COMPLETE]:
            column = covered_column(key)
            uncovered = ~frame[column].astype(bool).to_numpy()
            total = float(population.sum()) if known else np.nan
            missing = float(population[uncovered].sum()) if known else np.nan
            zh, en = category_label(result, key)
            rows.append(
                {
                    "area": area,
                    "category": key,
                    "label_zh": zh,
                    "label_en": en,
                    "n_compounds": len(frame),
                    "n_uncovered": int(uncovered.sum()),
                    "n_uncovered_off_network": int((uncovered & off_network).sum()),
                    "population": total,
                    "uncovered_population": missing,
                    "uncovered_share": missing / total if total else np.nan,
                }
            )
    return pd.DataFrame(rows)
