"""OpenStreetMap feature layers (facilities, compounds) from a local file or Overpass (cached)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import osmnx as ox
import pandas as pd
import requests
from osmnx._errors import InsufficientResponseError, ResponseStatusCodeError
from shapely.geometry import MultiPolygon, Polygon, box

from .. import settings
from .._atomic import write_atomic
from ..errors import DataError, InputFileError, NetworkError, OfflineError
from ._osm_common import NAME_TAGS, OSM_CRS, check_polygon, file_kind, unreadable
from ._overpass import (
    bounded_overpass_requests,
    osmnx_settings,
    overpass_settings,
    read_cache,
    request_hash,
    require_overpass,
)

#: The OSM tag of a facility's capacity (places, beds, persons), read when its category
#: matches supply with demand (https://wiki.openstreetmap.org/wiki/Key:capacity).
OSM_CAPACITY_TAG = "capacity"
#: Key under which kept tags enter the cache key of an online request (not an OSM tag: no
#: OSM key contains spaces).
_KEPT_TAGS_KEY = "kept tags"


def features_from_osm(
    tags: Mapping[str, bool | str | list[str]],
    polygon_wgs84: Polygon | MultiPolygon | None,
    *,
    osm_file: str | Path | None = None,
    cache_dir: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    keep_tags: Sequence[str] = (),
) -> gpd.GeoDataFrame:
    """Read OpenStreetMap features matching any of ``tags`` inside a polygon.

    From ``osm_file`` when given (``.osm``/``.bz2`` with :func:`osmnx.features_from_xml`,
    ``.pbf`` with pyrosm), otherwise from Overpass with :func:`osmnx.features_from_polygon`,
    cached in ``cache_dir`` (GeoParquet keyed by tags and polygon) and reused offline.

    Parameters
    ----------
    tags : mapping
        osmnx-style query: ``{key: True}`` (any value), ``{key: "value"}`` or
        ``{key: ["v1", "v2"]}``; a feature matching any entry is returned.
    polygon_wgs84 : shapely Polygon or MultiPolygon or None
        Keep features intersecting this area (WGS84); None keeps the whole file (local
        files only).
    osm_file : str or Path, optional
        Local OSM extract to read instead of downloading.
    cache_dir : str or Path, optional
        Folder for the download cache (online only); None downloads without caching.
    progress : callable, optional
        Told (one line of text) about every wait for the Overpass server (online only).
    keep_tags : sequence of str, optional
        Further tags to keep as columns without filtering on them, e.g. ``("capacity",)``
        for the places of a facility. Online, a request keeping tags is cached apart from
        the same request without them (an older cache has no such columns).

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326, one row per OSM element, columns ``osm_id`` (e.g. ``"node/123"``),
        ``name`` (``name:zh``, else ``name``, else ``name:en``, else ``""``), one column per
        key of ``tags`` and of ``keep_tags`` (the element's value as text, or None) and
        ``geometry`` (points stay points, areas stay polygons). Empty (same columns) when
        nothing matches.

    Raises
    ------
    DataError
        When ``osm_file`` is missing or unreadable, or ``tags`` is malformed.
    OfflineError
        When nothing is cached and Overpass does not answer.
    NetworkError
        When Overpass answers with an error.
    """
    tags = _checked_tags(tags)
    kept = [key for key in dict.fromkeys(keep_tags) if key not in tags]
    if osm_file is not None:
        path = Path(osm_file)
        if not path.is_file():
            problem = "is a folder, not a file" if path.is_dir() else "does not exist"
            raise InputFileError(f"OSM file {path} for the layer {tags_text(tags)} {problem}.")
        kind = file_kind(path, DataError)
        check_polygon(polygon_wgs84)
        raw = (
            _raw_features_from_xml(path, tags, polygon_wgs84)
            if kind == "xml"
            else _raw_features_from_pbf(path, tags, polygon_wgs84, kept)
        )
        return _tidy_features(raw, tags, polygon_wgs84, kept)

    check_polygon(polygon_wgs84, required=True)
    assert polygon_wgs84 is not None  # for type checkers: checked just above
    return _features_online(tags, polygon_wgs84, None if cache_dir is None else Path(cache_dir),
                            progress, kept)


def tags_text(tags: dict[str, Any]) -> str:
    """OpenStreetMap tags as a planner reads them: ``amenity=school/clinic; tourism=museum``."""
    return "; ".join(
        f"{key}={'/'.join(map(str, value)) if isinstance(value, list) else value}"
        for key, value in tags.items()
    )


def _features_online(
    tags: dict[str, Any],
    polygon_wgs84: Polygon | MultiPolygon,
    cache_dir: Path | None,
    progress: Callable[[str], None] | None,
    kept: list[str],
) -> gpd.GeoDataFrame:
    """Features from the cache, else from Overpass (bounded, named failures), then cached."""
    cache_path, problem = None, None
    if cache_dir is not None:
        # Kept tags change the columns, not the query: they key a cache of their own, and a
        # request without them keeps its old key (caches written before stay valid).
        key = {**tags, _KEPT_TAGS_KEY: sorted(kept)} if kept else tags
        cache_path = cache_dir / f"features_{request_hash(polygon_wgs84, key)[:24]}.parquet"
        cached, problem = read_cache(cache_path, gpd.read_parquet, "features")
        if cached is not None:
            return cached
    url = settings.overpass_url.rstrip("/")
    require_overpass(url, f"the OpenStreetMap layer {tags_text(tags)}", problem)
    with overpass_settings(url, cache_dir), bounded_overpass_requests(progress):
        try:
            raw = _osmnx_features_frame(ox.features_from_polygon(polygon_wgs84, tags=tags))
        except InsufficientResponseError:
            raw = None  # Overpass found nothing: a valid, empty answer
        except (ResponseStatusCodeError, ValueError) as exc:
            raise NetworkError(f"Overpass at {url} refused the query for {tags_text(tags)}: {exc}") from exc
        except requests.RequestException as exc:
            raise OfflineError(
                f"The connection to Overpass at {url} failed while downloading {tags_text(tags)} ({exc}). "
                "Retry later, or give the layer as a local file (`source: {file: ...}`)."
            ) from exc
    result = _tidy_features(raw, tags, None, kept)
    if cache_path is not None:
        write_atomic(cache_path, lambda temporary: result.to_parquet(temporary))
    return result


def _checked_tags(tags: Any) -> dict[str, bool | str | list[str]]:
    if not isinstance(tags, Mapping) or not tags:
        raise DataError(
            f"OSM tags must be a non-empty mapping like {{'amenity': 'library'}}, not {tags!r}"
        )
    checked: dict[str, bool | str | list[str]] = {}
    for key, value in tags.items():
        ok = isinstance(value, bool | str) or (
            isinstance(value, list) and value and all(isinstance(v, str) for v in value)
        )
        if not isinstance(key, str) or not ok:
            raise DataError(
                f"OSM tag {key!r}: {value!r} is not valid: give true (any value), a value or a "
                "list of values"
            )
        checked[key] = list(value) if isinstance(value, list) else value
    return checked


def _raw_features_from_xml(
    path: Path, tags: dict[str, Any], polygon_wgs84: Polygon | MultiPolygon | None
) -> pd.DataFrame | None:
    try:
        with osmnx_settings(log_console=False, log_file=False):
            raw = ox.features_from_xml(path, polygon=polygon_wgs84, tags=tags)
    except InsufficientResponseError:
        return None  # nothing matches
    except Exception as exc:
        raise unreadable(path, exc, DataError) from exc
    return _osmnx_features_frame(raw)


def _osmnx_features_frame(raw: gpd.GeoDataFrame) -> pd.DataFrame:
    """osmnx features (indexed by element type and id) with an ``osm_id`` column."""
    frame = raw.reset_index()
    frame["osm_id"] = frame["element"].astype(str) + "/" + frame["id"].astype(str)
    return frame


def _raw_features_from_pbf(
    path: Path,
    tags: dict[str, Any],
    polygon_wgs84: Polygon | MultiPolygon | None,
    kept: list[str],
) -> pd.DataFrame | None:
    import pyrosm  # heavy import, only needed for .pbf files

    # pyrosm takes True or a list of values per key; osmnx treats any bool as "has the key".
    custom_filter = {
        key: True if isinstance(value, bool) else ([value] if isinstance(value, str) else value)
        for key, value in tags.items()
    }
    bounding_box = None if polygon_wgs84 is None else box(*polygon_wgs84.bounds)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pyrosm warns when nothing matches
            reader = pyrosm.OSM(str(path), bounding_box=bounding_box, progress=False)
            frame = reader.get_data_by_custom_criteria(
                custom_filter=custom_filter,
                osm_keys_to_keep=list(tags),
                tags_as_columns=[*NAME_TAGS, *tags, *kept],
            )
    except Exception as exc:
        raise unreadable(path, exc, DataError) from exc
    if frame is None or len(frame) == 0:
        return None
    frame = frame.reset_index(drop=True)
    frame["osm_id"] = frame["osm_type"].astype(str) + "/" + frame["id"].astype("int64").astype(str)
    return frame


def _tidy_features(
    raw: pd.DataFrame | None,
    tags: dict[str, Any],
    polygon_wgs84: Polygon | MultiPolygon | None,
    kept: list[str],
) -> gpd.GeoDataFrame:
    """Reduce a raw osmnx/pyrosm frame to the documented columns."""
    columns = ["osm_id", "name", *tags, *kept]
    if raw is None or len(raw) == 0:
        return _empty_features(columns)
    frame = gpd.GeoDataFrame(raw, geometry="geometry", crs=OSM_CRS)
    keep = _matches_tags(frame, tags) & frame.geometry.notna() & ~frame.geometry.is_empty
    if polygon_wgs84 is not None:
        keep &= frame.geometry.intersects(polygon_wgs84)
    frame = frame[keep].drop_duplicates(subset="osm_id")
    if len(frame) == 0:
        return _empty_features(columns)
    data: dict[str, Any] = {"osm_id": frame["osm_id"].to_numpy(), "name": _preferred_names(frame)}
    for key in [*tags, *kept]:
        data[key] = [_text_or_none(v) for v in frame[key]] if key in frame else [None] * len(frame)
    return gpd.GeoDataFrame(data, geometry=frame.geometry.to_numpy(), crs=OSM_CRS)


def _empty_features(columns: list[str]) -> gpd.GeoDataFrame:
    data = {column: pd.Series([], dtype=object) for column in columns}
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=OSM_CRS), crs=OSM_CRS)


def _matches_tags(frame: pd.DataFrame, tags: dict[str, Any]) -> pd.Series:
    matched = pd.Series(False, index=frame.index)
    for key, value in tags.items():
        if key not in frame:
            continue
        column = frame[key]
        if isinstance(value, bool):
            matched |= column.notna()
        elif isinstance(value, str):
            matched |= column == value
        else:
            matched |= column.isin(value)
    return matched


def _preferred_names(frame: pd.DataFrame) -> list[str]:
    names = []
    for row in range(len(frame)):
        name = ""
        for tag in NAME_TAGS:
            if tag in frame:
                text = _text_or_none(frame[tag].iloc[row])
                if text:
                    name = text
                    break
        names.append(name)
    return names


def _text_or_none(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None
