"""Map context from OpenStreetMap: water areas and rivers, for maps drawn without tiles.

Read from the run's local OSM file or, for online profiles, through the same cached Overpass
path as the other layers (one small query, cached for later offline runs). Water is context,
never a reason to fail a run: when it cannot be had, maps simply draw none.
"""

from __future__ import annotations

import bz2
import gzip
import re
import warnings
from pathlib import Path

import geopandas as gpd
from shapely.geometry import MultiPolygon, Polygon

from ..errors import LifecircleError, LifecircleWarning
from ._osm_common import OSM_CRS, file_kind
from .osm_features import features_from_osm

#: OpenStreetMap tags of water drawn on maps: water areas, and rivers and canals as lines.
WATER_TAGS: dict[str, bool | str | list[str]] = {
    "natural": "water",
    "waterway": ["riverbank", "river", "canal", "dock"],
    "landuse": ["reservoir", "basin"],
}
# A tag of WATER_TAGS as it appears in OSM XML (k="…" v="…"), to skip files without water fast.
_XML_WATER = re.compile(
    rb'k="(?:natural|waterway|landuse)"\s+v="(?:water|riverbank|river|canal|dock|reservoir|basin)"'
)
_CHUNK = 1 << 20


def _xml_has_water(path: Path) -> bool:
    """Scan an .osm(.bz2/.gz) file for any water tag without parsing it (about 0.2 s a MB)."""
    opener = bz2.open if path.suffix == ".bz2" else gzip.open if path.suffix == ".gz" else open
    tail = b""
    with opener(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            if _XML_WATER.search(tail + chunk):
                return True
            tail = chunk[-200:]
    return False


def water_features(
    polygon_wgs84: Polygon | MultiPolygon,
    *,
    osm_file: str | Path | None = None,
    cache_dir: str | Path | None = None,
) -> gpd.GeoDataFrame | None:
    """Water areas and river lines inside a polygon, from a local OSM file or the cache.

    Parameters
    ----------
    polygon_wgs84 : shapely Polygon or MultiPolygon
        The area to draw (WGS84), e.g. the buffered study area.
    osm_file : str or Path, optional
        The run's local OSM extract (``.osm``, ``.osm.bz2`` or ``.osm.pbf``).
    cache_dir : str or Path, optional
        The profile's feature cache (online profiles, when ``osm_file`` is None): water is read
        from it, or downloaded once and cached.

    Returns
    -------
    geopandas.GeoDataFrame or None
        EPSG:4326 polygons and lines with ``osm_id`` and ``name``; None when there is no water
        or it cannot be read (water is context, never a reason to fail a run: a
        :class:`~lifecircle.errors.LifecircleWarning` says why it is missing).
    """
    try:
        if osm_file is not None:
            path = Path(osm_file)
            if file_kind(path, LifecircleError) == "xml" and not _xml_has_water(path):
                return None
            water = features_from_osm(WATER_TAGS, polygon_wgs84, osm_file=path)
        elif cache_dir is not None:
            water = features_from_osm(WATER_TAGS, polygon_wgs84, cache_dir=cache_dir)
        else:
            return None
    except (LifecircleError, OSError) as exc:
        # Water is context: the run goes on, but the user learns why the map has none.
        warnings.warn(
            f"water areas for the maps could not be read ({exc}); the maps are drawn without "
            "rivers and lakes",
            LifecircleWarning,
            stacklevel=2,
        )
        return None
    if water is None or water.empty:
        return None
    kinds = water.geom_type
    water = water[kinds.isin(["Polygon", "MultiPolygon", "LineString", "MultiLineString"])]
    return water.to_crs(OSM_CRS).reset_index(drop=True) if not water.empty else None
