"""Private helpers of :mod:`lifecircle.osm`: osmnx settings, cache keys and atomic writes.

The online path downloads from Overpass once and then works offline from files in the
profile's cache folder. A cached file is only trusted together with its sidecar JSON, whose
hash must match the request (study polygon, and tags for features); files are written to a
temporary name in the same folder and moved into place with :func:`os.replace`, so an
interrupted run never leaves a half-written cache that looks valid.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from importlib.metadata import version as _package_version
from pathlib import Path
from typing import Any

import osmnx as ox
import shapely
from shapely.geometry.base import BaseGeometry

from .io import write_text

_MISSING = object()


@contextlib.contextmanager
def osmnx_settings(**values: Any) -> Iterator[None]:
    """Set ``osmnx.settings`` attributes inside the block and restore them afterwards.

    Parameters
    ----------
    **values
        ``osmnx.settings`` attribute names and the values to use inside the block.

    Yields
    ------
    None
    """
    saved = {name: getattr(ox.settings, name, _MISSING) for name in values}
    try:
        for name, value in values.items():
            setattr(ox.settings, name, value)
        yield
    finally:
        for name, value in saved.items():
            if value is _MISSING:
                delattr(ox.settings, name)
            else:
                setattr(ox.settings, name, value)


def geometry_hash(geometry: BaseGeometry) -> str:
    """Return a stable SHA-256 of a geometry (normalised WKT rounded to about 1 cm).

    Parameters
    ----------
    geometry : shapely geometry
        The study polygon, in WGS84.

    Returns
    -------
    str
        Hexadecimal digest; equal polygons (same vertices, any start vertex or ring
        orientation) give the same digest.
    """
    wkt = shapely.to_wkt(shapely.normalize(geometry), rounding_precision=7, trim=True)
    return hashlib.sha256(wkt.encode("utf-8")).hexdigest()


def request_hash(geometry: BaseGeometry, tags: Mapping[str, Any]) -> str:
    """Return a stable SHA-256 of a feature request (tags and polygon).

    Parameters
    ----------
    geometry : shapely geometry
        The query polygon, in WGS84.
    tags : mapping
        osmnx-style tag query, e.g. ``{"amenity": ["library", "theatre"]}``.

    Returns
    -------
    str
        Hexadecimal digest.
    """
    canonical = {
        key: sorted(value) if isinstance(value, list) else value for key, value in tags.items()
    }
    text = json.dumps(canonical, sort_keys=True, ensure_ascii=True) + geometry_hash(geometry)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def osmnx_version() -> str:
    """Return the installed osmnx version (recorded in cache sidecars)."""
    return _package_version("osmnx")


def utc_now() -> str:
    """Return the current UTC time as ISO 8601 text, to the second."""
    return datetime.now(tz=UTC).replace(microsecond=0).isoformat()


def read_sidecar(path: Path) -> dict[str, Any] | None:
    """Return a cache sidecar's JSON content, or None when missing or unreadable."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return content if isinstance(content, dict) else None


def write_sidecar(path: Path, content: Mapping[str, Any]) -> None:
    """Write a cache sidecar JSON atomically."""
    write_text(path, json.dumps(dict(content), ensure_ascii=False, indent=2, sort_keys=True))
