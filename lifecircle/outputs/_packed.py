"""Compact geometry for HTML maps: Google's encoded-polyline format, vectorised with NumPy.

Streets, service areas and water can hold millions of vertices; as GeoJSON they would make a
city's map tens of megabytes. Here every coordinate is rounded to 1e-5 degrees (about 1 m, finer
than the simplification applied before), stored as the difference from the previous vertex,
and written in the encoded-polyline alphabet (5 bits per printable character; the format of
Google's and OSRM's polylines, decoded by ``lcUnpack`` in ``_static/layers.js``). A typical
street vertex then costs three to four characters instead of about twenty-five in GeoJSON.

A packed layer is a dict of strings: ``p`` the vertices (lat, lon pairs; deltas run on across
parts), ``n`` the vertex count of every line or ring, and for polygons ``k`` the ring count of
every polygon and ``f`` the polygon count of every feature. Polygon rings are written without
their closing vertex (Leaflet closes them).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from numpy.typing import NDArray

#: Coordinates are stored in units of 1e-5 degrees (the encoded-polyline precision 5).
SCALE = 1e5


def encode_unsigned(values: NDArray[np.int64]) -> str:
    """Non-negative integers in the encoded-polyline alphabet (5 bits a character, low first).

    Parameters
    ----------
    values : numpy.ndarray of int
        Non-negative values.

    Returns
    -------
    str
        Each value as one or more characters (``chr(63 + chunk)``, continuation flag 0x20).
    """
    values = np.asarray(values, dtype=np.int64).ravel()
    if values.size == 0:
        return ""
    if (values < 0).any():
        raise ValueError("encode_unsigned takes non-negative values")
    bits = np.maximum(1, np.ceil(np.log2(values.astype(float) + 1))).astype(np.int64)
    n_chunks = (bits + 4) // 5
    width = int(n_chunks.max())
    shifts = 5 * np.arange(width, dtype=np.int64)
    chunks = (values[:, None] >> shifts[None, :]) & 31
    position = np.arange(width)[None, :]
    chunks = chunks | np.where(position < n_chunks[:, None] - 1, 0x20, 0)
    present = position < n_chunks[:, None]
    return (chunks[present] + 63).astype(np.uint8).tobytes().decode("ascii")


def encode_signed(values: NDArray[np.int64]) -> str:
    """Signed integers, zig-zag folded (0, -1, 1, -2, … → 0, 1, 2, 3, …) and encoded."""
    values = np.asarray(values, dtype=np.int64).ravel()
    return encode_unsigned(np.where(values < 0, ~(values << 1), values << 1))


def _deltas(coordinates: NDArray[np.float64]) -> NDArray[np.int64]:
    """(lat, lon) integer deltas of an (n, 2) lon/lat array, flattened."""
    fixed = np.round(coordinates[:, ::-1] * SCALE).astype(np.int64)
    return np.diff(fixed, axis=0, prepend=np.zeros((1, 2), dtype=np.int64)).ravel()


def _rings(polygon: shapely.Polygon) -> list[NDArray[np.float64]]:
    rings = [polygon.exterior, *polygon.interiors]
    return [shapely.get_coordinates(ring)[:-1] for ring in rings]


def pack_lines(geometries: Sequence[shapely.Geometry]) -> dict[str, str]:
    """Pack (multi)line strings, in lon/lat, into one encoded string.

    Parameters
    ----------
    geometries : sequence of shapely LineString or MultiLineString
        Empty and missing geometries are skipped; parts of multi-lines become lines.

    Returns
    -------
    dict
        ``{"p": vertices, "n": vertex count of every line}``.
    """
    parts = shapely.get_parts(np.asarray([g for g in geometries if g is not None], dtype=object))
    parts = parts[~shapely.is_empty(parts)] if len(parts) else parts
    counts = shapely.get_num_coordinates(parts).astype(np.int64)
    coordinates = shapely.get_coordinates(parts)
    return {"p": encode_signed(_deltas(coordinates)), "n": encode_unsigned(counts)}


def pack_polygons(geometries: Sequence[shapely.Geometry | None]) -> dict[str, str]:
    """Pack one (multi)polygon per feature, in lon/lat, keeping the features apart.

    Parameters
    ----------
    geometries : sequence of shapely Polygon or MultiPolygon (or None)
        One per feature; a missing or empty geometry gives a feature with no polygons, so that
        features stay aligned with their properties.

    Returns
    -------
    dict
        ``{"p": vertices, "n": vertices per ring, "k": rings per polygon, "f": polygons per
        feature}``.
    """
    rings: list[NDArray[np.float64]] = []
    rings_per_polygon: list[int] = []
    polygons_per_feature: list[int] = []
    for geometry in geometries:
        polygons = [] if geometry is None or geometry.is_empty else list(
            shapely.get_parts(geometry)
        )
        polygons = [p for p in polygons if isinstance(p, shapely.Polygon) and not p.is_empty]
        polygons_per_feature.append(len(polygons))
        for polygon in polygons:
            polygon_rings = [r for r in _rings(polygon) if len(r) >= 3]
            rings_per_polygon.append(len(polygon_rings))
            rings += polygon_rings
    coordinates = np.concatenate(rings) if rings else np.empty((0, 2))
    return {
        "p": encode_signed(_deltas(coordinates)),
        "n": encode_unsigned(np.array([len(r) for r in rings], dtype=np.int64)),
        "k": encode_unsigned(np.array(rings_per_polygon, dtype=np.int64)),
        "f": encode_unsigned(np.array(polygons_per_feature, dtype=np.int64)),
    }


def packed_size(packed: dict[str, str]) -> int:
    """Characters a packed layer adds to the HTML."""
    return sum(len(v) for v in packed.values())
