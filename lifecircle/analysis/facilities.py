"""Facilities of a run located in the study area and its sub-districts."""

from __future__ import annotations

import geopandas as gpd

from .. import settings
from .result import RunResult


def facilities_inside(result: RunResult, category: str) -> gpd.GeoDataFrame:
    """Facilities of a category inside the study area, with their sub-district.

    Facilities in the network buffer around the study area serve its residents (they count
    for coverage) but do not belong to it: they do not count for per-sub-district or
    per-capita indicators.

    Parameters
    ----------
    result : RunResult
        From :func:`lifecircle.run`.
    category : str
        A category key.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326, the facilities whose location lies within the study area, with
        ``sub_district`` (``""`` when outside every sub-district or when there are none).
    """
    facilities = result.facilities.to_crs(settings.exchange_crs)
    facilities = facilities[facilities["category"] == category]
    area = result.study_area.to_crs(settings.exchange_crs).geometry.union_all()
    inside = facilities[facilities.geometry.within(area).to_numpy()].copy()
    inside["sub_district"] = ""
    if result.sub_districts is not None and not inside.empty:
        districts = result.sub_districts.to_crs(settings.exchange_crs)[["name", "geometry"]]
        joined = gpd.sjoin(inside[["geometry"]], districts, how="left", predicate="within")
        # A point on a shared border matches twice: keep the first sub-district by name.
        first = joined.sort_values("name").groupby(level=0)["name"].first()
        inside["sub_district"] = first.reindex(inside.index).fillna("").astype(object)
    return inside
