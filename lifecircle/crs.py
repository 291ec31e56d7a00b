"""Coordinate systems: name them, check them, and bring every layer to WGS84 (EPSG:4326).

Chinese data come in four flavours: WGS84 (GPS, OpenStreetMap), CGCS2000 (EPSG:4490, the national
datum; equal to WGS84 within centimetres), GCJ-02 (the obfuscated "Mars" coordinates of AMap/高德
and Tencent maps, offset by 100–700 m) and BD-09 (Baidu/百度, GCJ-02 offset once more). GCJ-02
and BD-09 are not datums that pyproj knows: they are undone here with the ``prcoords`` library's
iterative ("bored") inverses, which are exact to about a millimetre.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable

import geopandas as gpd
import numpy as np
import prcoords
import pyproj
import shapely
from numpy.typing import ArrayLike, NDArray

from . import settings
from .errors import CRSError, LifecircleWarning

#: Canonical names of the two Chinese obfuscated systems (everything else is an EPSG/pyproj CRS).
GCJ02 = "gcj02"
BD09 = "bd09"

_ALIASES: dict[str, str] = {
    # WGS84
    "wgs84": "EPSG:4326",
    "wgs": "EPSG:4326",
    "gps": "EPSG:4326",
    "epsg4326": "EPSG:4326",
    "4326": "EPSG:4326",
    # CGCS2000
    "cgcs2000": "EPSG:4490",
    "cgcs": "EPSG:4490",
    "epsg4490": "EPSG:4490",
    "4490": "EPSG:4490",
    "2000国家大地坐标系": "EPSG:4490",
    # GCJ-02 (AMap/高德, Tencent/腾讯, Google China)
    "gcj02": GCJ02,
    "gcj": GCJ02,
    "mars": GCJ02,
    "amap": GCJ02,
    "gaode": GCJ02,
    "高德": GCJ02,
    "火星": GCJ02,
    "火星坐标": GCJ02,
    "火星坐标系": GCJ02,
    # BD-09 (Baidu/百度)
    "bd09": BD09,
    "bd09ll": BD09,
    "bd": BD09,
    "baidu": BD09,
    "百度": BD09,
    "百度坐标": BD09,
    "百度坐标系": BD09,
}

_ACCEPTED = (
    "wgs84 (GPS, OpenStreetMap), cgcs2000 (EPSG:4490), gcj02 (AMap/高德, Tencent; alias mars), "
    "bd09 (Baidu/百度), or an EPSG code such as EPSG:32651 or EPSG:4547"
)

# Bounding box inside which GCJ-02 is applied (the one prcoords and eviltransform use).
_CHINA_LAT = (0.8293, 55.8271)
_CHINA_LON = (72.004, 137.8347)

# Fixed-point steps added after prcoords' own iteration (see _unshift).
_EXTRA_STEPS = 2

# Geographic CRSs treated as the same datum when a file's label and the profile differ
# (CGCS2000 and WGS84 agree within centimetres).
_WGS84_LIKE = ("EPSG:4326", "EPSG:4490", "OGC:CRS84")


def canonical_crs(declared: str) -> str:
    """Return the canonical name of a declared coordinate system.

    Parameters
    ----------
    declared : str
        A name as written in a profile: ``"wgs84"``, ``"gcj02"``, ``"bd09"``, ``"cgcs2000"``
        (case-insensitive; aliases such as ``"WGS-84"``, ``"GCJ-02"``, ``"mars"``, ``"BD-09"``,
        ``"baidu"``, ``"百度"``), an EPSG code (``"EPSG:32651"``, ``"epsg:4547"``, ``"4326"``) or
        any other string pyproj understands.

    Returns
    -------
    str
        ``"gcj02"``, ``"bd09"``, or a pyproj authority string such as ``"EPSG:4326"``.

    Raises
    ------
    CRSError
        When the name is not recognised; the message lists what is accepted.
    """
    if not isinstance(declared, str) or not declared.strip():
        raise CRSError(f"empty coordinate system name {declared!r}: use {_ACCEPTED}")
    text = declared.strip()
    key = re.sub(r"[\s\-_:./]+", "", text.lower())
    if key in _ALIASES:
        return _ALIASES[key]
    if key in {"bd09mc", "bdmc", "baidumercator"}:
        raise CRSError(
            f"coordinate system {declared!r} (Baidu Mercator, in metres) is not supported: "
            "export the data as bd09 longitude/latitude instead"
        )
    if key.isdigit():
        text = f"EPSG:{key}"
    try:
        crs = pyproj.CRS.from_user_input(text)
    except pyproj.exceptions.CRSError:
        raise CRSError(f"unknown coordinate system {declared!r}: use {_ACCEPTED}") from None
    authority = crs.to_authority()
    return ":".join(authority) if authority else crs.to_string()


def looks_like_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """Tell which points fall in the box where Chinese map offsets apply.

    Parameters
    ----------
    lon, lat : array-like
        Longitudes and latitudes in degrees.

    Returns
    -------
    numpy.ndarray of bool
        True where ``72.004 <= lon <= 137.8347`` and ``0.8293 <= lat <= 55.8271`` (the box the
        GCJ-02 algorithm itself uses).
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return (
        (lon >= _CHINA_LON[0])
        & (lon <= _CHINA_LON[1])
        & (lat >= _CHINA_LAT[0])
        & (lat <= _CHINA_LAT[1])
    )


def check_lonlat(lon: ArrayLike, lat: ArrayLike, declared: str, source: str = "the layer") -> None:
    """Raise when coordinates declared as longitude/latitude cannot be that.

    Parameters
    ----------
    lon, lat : array-like
        The values read as longitude (x) and latitude (y).
    declared : str
        The declared coordinate system, for the message.
    source : str
        What the values come from (file and columns), for the message.

    Raises
    ------
    CRSError
        When values lie outside ±180/±90 (e.g. projected metres), or when the two columns look
        swapped (latitudes near 121 and longitudes near 31 for Shanghai).
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    finite = np.isfinite(lon) & np.isfinite(lat)
    lon, lat = lon[finite], lat[finite]
    if lon.size == 0:
        return
    example = f"x={np.median(lon):.6g}, y={np.median(lat):.6g}"
    swap_hint = (
        f"the coordinates of {source} look swapped: the longitude (x) values look like "
        f"latitudes and the latitude (y) values like longitudes (median {example}; Shanghai is "
        "near x=121.5, y=31.2). Swap them: x names the longitude column, y the latitude column"
    )
    outside = (np.abs(lon) > 180) | (np.abs(lat) > 90)
    if outside.any():
        if np.all(np.abs(lat[outside]) <= 180) and np.all(np.abs(lon[outside]) <= 90):
            raise CRSError(swap_hint)
        if np.median(np.abs(np.concatenate([lon, lat]))) > 1000:
            raise CRSError(
                f"{source} is declared as {declared!r} (longitude/latitude in degrees) but its "
                f"coordinates look like projected metres ({example}); declare the layer's real "
                "coordinate system, e.g. crs: EPSG:4547 (CGCS2000 Gauss-Kruger) or EPSG:32651"
            )
        raise CRSError(
            f"{int(outside.sum())} coordinate(s) of {source} lie outside longitude ±180 / "
            f"latitude ±90 (median {example}), so they are not {declared!r} degrees: check the "
            "x/y columns and the declared crs"
        )
    in_china = looks_like_china(lon, lat).mean()
    swapped = looks_like_china(lat, lon).mean()
    if swapped > 0.5 and in_china < 0.5:
        raise CRSError(swap_hint)


def utm_crs_for(lon: float, lat: float) -> str:
    """Return the UTM zone CRS (WGS84) containing a point.

    Parameters
    ----------
    lon, lat : float
        Longitude and latitude in degrees.

    Returns
    -------
    str
        ``"EPSG:326NN"`` north of the equator, ``"EPSG:327NN"`` south of it (the Norway and
        Svalbard zone exceptions are ignored).
    """
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise CRSError(f"({lon}, {lat}) is not a longitude/latitude point")
    zone = min(int(math.floor((lon + 180.0) / 6.0)) + 1, 60)
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


def xy_to_wgs84(
    lon: ArrayLike, lat: ArrayLike, declared: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Convert coordinate arrays from a declared system to WGS84 longitude/latitude.

    Parameters
    ----------
    lon, lat : array-like
        x and y values (longitude/latitude for geographic systems, metres for projected ones).
    declared : str
        The coordinate system of the values (see :func:`canonical_crs`).

    Returns
    -------
    tuple of numpy.ndarray
        WGS84 longitudes and latitudes.

    Raises
    ------
    CRSError
        For an unknown system or values that cannot be longitude/latitude.
    """
    x = np.asarray(lon, dtype=float).ravel()
    y = np.asarray(lat, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError("lon and lat must have the same length")
    canonical = canonical_crs(declared)
    if canonical in (GCJ02, BD09) or pyproj.CRS(canonical).is_geographic:
        check_lonlat(x, y, declared)
    if canonical in (GCJ02, BD09):
        xy = np.column_stack([x, y])
        _warn_outside_china(xy, canonical, "the coordinates")
        out = _unshift(xy, canonical)
        return out[:, 0], out[:, 1]
    transformer = pyproj.Transformer.from_crs(canonical, settings.exchange_crs, always_xy=True)
    out_x, out_y = transformer.transform(x, y)
    return np.asarray(out_x, dtype=float), np.asarray(out_y, dtype=float)


def to_wgs84(
    gdf: gpd.GeoDataFrame, declared: str, *, source: str = "the layer"
) -> gpd.GeoDataFrame:
    """Return a copy of a layer in WGS84 (EPSG:4326), undoing GCJ-02/BD-09 offsets if declared.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Any geometry types. Not modified.
    declared : str
        The coordinate system the profile declares for the layer (see :func:`canonical_crs`).
        For ``gcj02``/``bd09`` the declaration wins over a file label of EPSG:4326/4490 (GCJ-02
        files usually carry a WGS84 label); a file without a CRS takes the declared one.
    source : str
        What the layer is (file name, columns), used in error messages.

    Returns
    -------
    geopandas.GeoDataFrame
        A new frame in EPSG:4326 with the same columns and index.

    Raises
    ------
    CRSError
        When the declared system is unknown, contradicts the file's own CRS, or the coordinates
        cannot be longitude/latitude (out of range, swapped columns).
    """
    canonical = canonical_crs(declared)
    file_crs = gdf.crs
    coords = shapely.get_coordinates(gdf.geometry.values)

    if canonical in (GCJ02, BD09):
        if file_crs is not None and _authority(file_crs) not in _WGS84_LIKE:
            raise CRSError(
                f"{source} is declared as {declared!r} (longitude/latitude) but its file says "
                f"its coordinates are in {_describe(file_crs)}: set the layer's crs to the file's "
                "system, or export the file as longitude/latitude"
            )
        check_lonlat(coords[:, 0], coords[:, 1], declared, source)
        _warn_outside_china(coords, canonical, source)
        geometry = shapely.transform(gdf.geometry.values, lambda xy: _unshift(xy, canonical))
        out = gdf.copy()
        out = out.set_geometry(gpd.GeoSeries(geometry, index=gdf.index, crs=None))
        return out.set_crs(settings.exchange_crs, allow_override=True)

    target = pyproj.CRS(canonical)
    if file_crs is None:
        source_crs = target
    elif _same_crs(file_crs, target):
        source_crs = file_crs
    else:
        raise CRSError(
            f"{source} is declared as {declared!r} but its file says {_describe(file_crs)}: "
            f"remove the mismatch by setting the layer's crs to {_authority(file_crs) or 'the file system'} "
            "(or fix the file's .prj/CRS if the file is wrong)"
        )
    if source_crs.is_geographic:
        check_lonlat(coords[:, 0], coords[:, 1], declared, source)
    out = gdf.set_crs(source_crs, allow_override=True)
    if _authority(source_crs) == settings.exchange_crs:
        return out
    converted = out.to_crs(settings.exchange_crs)
    if not source_crs.is_geographic:
        check_projected(coords, converted, source_crs, declared, source)
    return converted


def check_projected(
    coords: NDArray[np.float64],
    converted: gpd.GeoDataFrame,
    projected: pyproj.CRS,
    declared: str,
    source: str = "the layer",
) -> None:
    """Raise when coordinates cannot be in the declared projected (metre) system.

    Parameters
    ----------
    coords : numpy.ndarray
        The (n, 2) coordinates as read.
    converted : geopandas.GeoDataFrame
        The layer converted to WGS84.
    projected : pyproj.CRS
        The declared projected system.
    declared, source : str
        For the message.

    Raises
    ------
    CRSError
        When the values look like longitude/latitude degrees (e.g. EPSG:3857 declared for
        lon/lat data), or when most of them land outside the area where the system is used.
    """
    finite = np.isfinite(coords).all(axis=1)
    x, y = coords[finite, 0], coords[finite, 1]
    if x.size == 0:
        return
    example = f"x={np.median(x):.6g}, y={np.median(y):.6g}"
    if np.all(np.abs(x) <= 180) and np.all(np.abs(y) <= 90):
        raise CRSError(
            f"{source} is declared as {declared!r} (projected, in metres), but its coordinates "
            f"look like longitude/latitude degrees ({example}): declare the layer's crs as wgs84 "
            "(or gcj02 for AMap/Tencent data, bd09 for Baidu data)"
        )
    area = projected.area_of_use
    points = shapely.get_coordinates(converted.geometry.values)
    if area is None or len(points) == 0:
        return
    margin = 1.0  # degrees: projections are usable a little beyond their official area
    lon, lat = points[:, 0], points[:, 1]
    inside = (
        np.isfinite(lon) & np.isfinite(lat)
        & (lon >= area.west - margin) & (lon <= area.east + margin)
        & (lat >= area.south - margin) & (lat <= area.north + margin)
    )
    if inside.mean() < 0.5:
        where = f"lon {np.nanmedian(lon):.4g}, lat {np.nanmedian(lat):.4g}" if np.isfinite(lon).any() else "nowhere"
        raise CRSError(
            f"{source}: read as {declared!r}, its coordinates ({example}) land at {where}, outside "
            f"the area where {declared} is used ({area.name}: lon {area.west:g} to {area.east:g}, "
            f"lat {area.south:g} to {area.north:g}); check the layer's declared crs"
        )


def _warn_outside_china(xy: NDArray[np.float64], canonical: str, source: str) -> None:
    finite = np.isfinite(xy).all(axis=1)
    outside = int((finite & ~looks_like_china(xy[:, 0], xy[:, 1])).sum())
    if outside:
        warnings.warn(
            f"{outside} coordinate(s) of {source} lie outside China, where {canonical} offsets "
            "do not apply; they were left unchanged",
            LifecircleWarning,
            stacklevel=3,
        )


def _unshift(xy: NDArray[np.float64], canonical: str) -> NDArray[np.float64]:
    """Undo GCJ-02 or BD-09 on an (n, 2) array of lon/lat (points outside China stay as-is)."""
    inverse: Callable[..., prcoords.Coords] = (
        prcoords.gcj_wgs_bored if canonical == GCJ02 else prcoords.bd_wgs_bored
    )
    forward: Callable[..., prcoords.Coords] = (
        prcoords.wgs_gcj if canonical == GCJ02 else prcoords.wgs_bd
    )
    out = np.array(xy, dtype=float, copy=True)
    if out.size == 0:
        return out
    finite = np.isfinite(out).all(axis=1)
    inside = finite & looks_like_china(out[:, 0], out[:, 1])
    rows = np.flatnonzero(inside)

    def one(lon: float, lat: float) -> tuple[float, float]:
        wgs_lat, wgs_lon = inverse((lat, lon))  # prcoords' Coords are (lat, lon)
        # prcoords stops once a step is below 1e-5 degrees, which leaves BD-09 up to ~2 cm
        # off; two more fixed-point steps bring both inverses well under a millimetre.
        for _ in range(_EXTRA_STEPS):
            again_lat, again_lon = forward((wgs_lat, wgs_lon), False)
            wgs_lat -= again_lat - lat
            wgs_lon -= again_lon - lon
        return wgs_lon, wgs_lat

    with warnings.catch_warnings():
        # prcoords warns once per coordinate outside its box; callers report those instead.
        warnings.simplefilter("ignore")
        # Python floats (tolist) keep the scalar maths about twice as fast as numpy scalars.
        converted = [one(lon, lat) for lon, lat in out[rows].tolist()]
    if converted:
        out[rows] = converted
    return out


def _authority(crs: pyproj.CRS | str) -> str | None:
    crs = pyproj.CRS(crs)
    authority = crs.to_authority()
    return ":".join(authority) if authority else None


def _same_crs(a: pyproj.CRS, b: pyproj.CRS) -> bool:
    a, b = pyproj.CRS(a), pyproj.CRS(b)
    if a.equals(b, ignore_axis_order=True):
        return True
    # A WGS84 label on CGCS2000 data (or the reverse) is harmless: centimetre-level difference.
    return _authority(a) in _WGS84_LIKE and _authority(b) in _WGS84_LIKE


def _describe(crs: pyproj.CRS) -> str:
    crs = pyproj.CRS(crs)
    authority = _authority(crs)
    return f"{authority} ({crs.name})" if authority else crs.name


def wgs84_to_gcj02(geometries: ArrayLike) -> NDArray[np.object_]:
    """Shift WGS84 geometries into GCJ-02, for drawing on a GCJ-02 basemap (AMap, Tencent).

    Chinese web basemaps are offset by GCJ-02: data in WGS84 drawn on them lands 100–700 m off.
    Shifting the data the same way puts it back on the streets of such a basemap. The result is
    for display only: GCJ-02 is not a datum, and distances must never be measured on it.

    Parameters
    ----------
    geometries : array-like of shapely geometries
        Longitude/latitude in WGS84 (EPSG:4326).

    Returns
    -------
    numpy.ndarray of shapely geometries
        The same geometries in GCJ-02 longitude/latitude (``prcoords.wgs_gcj``); coordinates
        outside China, where the offset does not apply, are left unchanged.
    """
    values = np.asarray(geometries, dtype=object)

    def shift(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        out = np.array(xy, dtype=float, copy=True)
        inside = np.flatnonzero(
            np.isfinite(out).all(axis=1) & looks_like_china(out[:, 0], out[:, 1])
        )
        # prcoords' Coords are (lat, lon); Python floats keep its scalar maths fast.
        shifted = [prcoords.wgs_gcj((lat, lon), False) for lon, lat in out[inside].tolist()]
        if shifted:
            out[inside] = np.array(shifted)[:, ::-1]
        return out

    return shapely.transform(values, shift)
