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

import math
from collections.abc import Sequence

import numpy as np
import shapely
from numpy.typing import NDArray

#: Coordinates are stored in units of 1e-5 degrees (the encoded-polyline precision 5).
SCALE = 1e5


def _chunk_counts(values: NDArray[np.int64]) -> NDArray[np.int64]:
    """Characters each non-negative value takes (5 bits a character)."""
    bits = np.maximum(1, np.ceil(np.log2(values.astype(float) + 1))).astype(np.int64)
    return (bits + 4) // 5


def _zigzag(values: NDArray[np.int64]) -> NDArray[np.int64]:
    return np.where(values < 0, ~(values << 1), values << 1)


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
    n_chunks = _chunk_counts(values)
    width = int(n_chunks.max())
    shifts = 5 * np.arange(width, dtype=np.int64)
    chunks = (values[:, None] >> shifts[None, :]) & 31
    position = np.arange(width)[None, :]
    chunks = chunks | np.where(position < n_chunks[:, None] - 1, 0x20, 0)
    present = position < n_chunks[:, None]
    return (chunks[present] + 63).astype(np.uint8).tobytes().decode("ascii")


def encode_signed(values: NDArray[np.int64]) -> str:
    """Signed integers, zig-zag folded (0, -1, 1, -2, … → 0, 1, 2, 3, …) and encoded."""
    return encode_unsigned(_zigzag(np.asarray(values, dtype=np.int64).ravel()))


def _deltas(coordinates: NDArray[np.float64]) -> NDArray[np.int64]:
    """(lat, lon) integer deltas of an (n, 2) lon/lat array, flattened."""
    fixed = np.round(coordinates[:, ::-1] * SCALE).astype(np.int64)
    return np.diff(fixed, axis=0, prepend=np.zeros((1, 2), dtype=np.int64)).ravel()


def _parts(geometries: NDArray[np.object_]) -> tuple[NDArray[np.object_], NDArray[np.int64]]:
    """Single-part geometries and the index of the geometry each came from.

    Streets are single lines already: splitting copies every geometry, so it is skipped then.
    """
    geometries = np.asarray(geometries, dtype=object)
    if shapely.get_type_id(geometries).tolist().count(1) == len(geometries):  # all LineStrings
        return geometries, np.arange(len(geometries))
    return shapely.get_parts(geometries, return_index=True)


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
    parts, _ = _parts(np.asarray([g for g in geometries if g is not None], dtype=object))
    parts = parts[~shapely.is_empty(parts)] if len(parts) else parts
    counts = shapely.get_num_coordinates(parts).astype(np.int64)
    coordinates = shapely.get_coordinates(parts)
    return {"p": encode_signed(_deltas(coordinates)), "n": encode_unsigned(counts)}


def line_sizes(geometries: NDArray[np.object_]) -> NDArray[np.int64]:
    """Characters each (multi)line adds to :func:`pack_lines` of ``geometries`` in this order.

    Exact: the packing of the first k lines is the beginning of the packing of all of them, so
    the cumulative sum gives the size of every prefix without packing it.
    """
    geometries = np.asarray(geometries, dtype=object)
    parts, owner = _parts(geometries)
    counts = shapely.get_num_coordinates(parts).astype(np.int64)
    sizes = _chunk_counts(_zigzag(_deltas(shapely.get_coordinates(parts))))
    per_vertex = sizes.reshape(-1, 2).sum(axis=1)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    per_part = np.add.reduceat(per_vertex, starts) if len(per_vertex) else np.zeros(0, np.int64)
    per_part = np.where(counts > 0, per_part, 0) + _chunk_counts(counts)
    return np.bincount(owner, weights=per_part, minlength=len(geometries)).astype(np.int64)


def estimated_size(projected: NDArray[np.object_], latitude: float) -> int:
    """About the characters :func:`pack_lines` would take for lines in projected metres.

    Metres are converted to the 1e-5 degree units of the encoding at ``latitude`` (exact to a
    few per cent), so that a simplification tolerance can be chosen before the lines are
    transformed to longitude/latitude.
    """
    parts, _ = _parts(projected)
    coordinates = shapely.get_coordinates(parts)
    metres_per_unit = 111_320.0 / SCALE
    scale = np.array([metres_per_unit * math.cos(math.radians(latitude)), metres_per_unit])
    units = np.round(coordinates / scale).astype(np.int64)
    deltas = np.diff(units[:, ::-1], axis=0, prepend=units[:1, ::-1]).ravel()
    counts = shapely.get_num_coordinates(parts).astype(np.int64)
    return int(_chunk_counts(_zigzag(deltas)).sum() + _chunk_counts(counts).sum())


def pack_points(geometries: Sequence[shapely.Geometry]) -> str:
    """Points (lon/lat) as one encoded string of (lat, lon) deltas, one pair per point."""
    coordinates = shapely.get_coordinates(np.asarray(geometries, dtype=object))
    return encode_signed(_deltas(coordinates))


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
