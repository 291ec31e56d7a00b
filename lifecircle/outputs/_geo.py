"""Private helpers of the outputs: layers to WGS84, JSON-safe values, compact GeoJSON."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .. import schema, settings
from ..crs import wgs84_to_gcj02
from ..errors import CRSError, DataError
from ..profile import Profile

COORD_DECIMALS = 6  # about 0.1 m: finer than any input and keeps the HTML small


def to_wgs84_layer(gdf: gpd.GeoDataFrame, what: str) -> gpd.GeoDataFrame:
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise DataError(f"{what} must be a GeoDataFrame, got {type(gdf).__name__}")
    if gdf.crs is None:
        raise CRSError(
            f"{what} has no coordinate system: set it (e.g. gdf.set_crs('EPSG:4326')) "
            "before drawing a map"
        )
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    return gdf.to_crs(settings.exchange_crs)


def check_compound_columns(compounds: pd.DataFrame, profile: Profile) -> None:
    needed = [
        schema.COMPOUND_ID, schema.NAME, schema.POPULATION, schema.ACCESS_STATUS, schema.COMPLETE,
        schema.COMPLETE_NEAR_MISS,
    ]
    for key in profile.categories:
        columns = schema.category_columns(key)
        needed += [columns.dist_m, columns.minutes, columns.count, columns.covered,
                   columns.nearest, columns.near_miss]
    missing = [c for c in needed if c not in compounds.columns]
    if missing:
        raise DataError(
            f"the compounds layer lacks the column(s) {missing} that the coverage map needs; "
            "draw the map from the output of lifecircle.pipeline.run (it adds them)"
        )


def round_coordinates(geometry: gpd.GeoSeries) -> gpd.GeoSeries:
    rounded = shapely.transform(geometry.values, lambda xy: np.round(xy, COORD_DECIMALS))
    return gpd.GeoSeries(rounded, index=geometry.index, crs=geometry.crs)


def clean_value(value: Any, digits: int | None = None) -> Any:
    """A JSON-safe scalar: NaN/None -> None, numpy scalars -> Python, floats rounded."""
    if value is None:
        return None
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return None
        if digits == 0:
            return round(float(value))
        return round(float(value), digits) if digits is not None else float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if pd.isna(value):
        return None
    return value


def is_true(value: Any) -> bool:
    """True for a set flag; False for False, None and missing values (NaN, pd.NA)."""
    return value is not None and not bool(pd.isna(value)) and bool(value)


def marker_radius(population: float) -> float:
    """Circle radius in pixels, growing with the square root of population, within 3-10 px."""
    if population is None or not math.isfinite(population) or population <= 0:
        return 4.0
    return round(min(10.0, max(3.0, 3.0 + math.sqrt(population) / 10.0)), 1)


def feature_collection(geometries: gpd.GeoSeries, properties: Sequence[dict]) -> dict:
    features = [
        {"type": "Feature", "geometry": shapely.geometry.mapping(geom), "properties": props}
        for geom, props in zip(geometries, properties, strict=True)
    ]
    return {"type": "FeatureCollection", "features": features}


def shifted_layer(gdf: gpd.GeoDataFrame, what: str, *, gcj02: bool) -> gpd.GeoDataFrame:
    """A layer in map coordinates: WGS84, or shifted to GCJ-02 for a GCJ-02 basemap."""
    gdf = to_wgs84_layer(gdf, what)
    if not gcj02 or gdf.empty:
        return gdf
    return gdf.set_geometry(
        gpd.GeoSeries(wgs84_to_gcj02(gdf.geometry.to_numpy()), index=gdf.index, crs=gdf.crs)
    )


def service_area_geometry(
    service_areas: gpd.GeoDataFrame | None, profile: Profile, category: str | None, crs: str
) -> shapely.Geometry | None:
    """One category's walking service area, or (``category=None``) where every required
    category's areas overlap: the complete life circle's service area. In ``crs``."""
    if service_areas is None or service_areas.empty:
        return None
    areas = to_wgs84_layer(service_areas, "service_areas").to_crs(crs)
    if category is not None:
        rows = areas[areas["category"] == category]
        return _union(rows.geometry.values) if not rows.empty else None
    required = [k for k, c in profile.categories.items() if c.required]
    result = None
    for key in required:
        rows = areas[areas["category"] == key]
        if rows.empty:
            return None  # a required category without an area: no complete area to show
        union = _union(rows.geometry.values)
        result = union if result is None else shapely.intersection(result, union)
    return result


def _union(geometries: np.ndarray) -> shapely.Geometry:
    # One row per category is already a union: unioning it again re-nodes every vertex
    # (tens of seconds for a whole city's service area).
    return geometries[0] if len(geometries) == 1 else shapely.union_all(geometries)
