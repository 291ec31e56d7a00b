"""One point or polygon layer from a profile's layer source: OpenStreetMap tags or a table file."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd

from ..profile import LayerSource, Profile
from . import geocode, osm, tables


def load_layer(
    profile: Profile,
    source: LayerSource,
    polygon: Any,
    osm_file: Path | None,
    cache_dir: Path,
    *,
    progress: Callable[[str], None] | None = None,
    keep_tags: Sequence[str] = (),
) -> gpd.GeoDataFrame:
    """Read a layer source (facilities, compounds, gates, candidate sites) as EPSG:4326 features.

    OpenStreetMap tags, a file of addresses geocoded online (cached), or a table or GIS file.

    Parameters
    ----------
    profile : Profile
        Resolves the source's relative file paths.
    source : LayerSource
        OpenStreetMap tags or a table file with its coordinate system.
    polygon : shapely Polygon or MultiPolygon
        Area (WGS84) for OpenStreetMap features.
    osm_file : Path or None
        Local OSM extract for OpenStreetMap features; None reads them from Overpass.
    cache_dir : Path
        The profile's raw-data cache (OpenStreetMap features go to ``features/`` in it,
        geocoded addresses to ``geocode/``).
    progress : callable, optional
        Told what a download is waiting for (Overpass).
    keep_tags : sequence of str, optional
        OpenStreetMap tags to keep as columns besides the queried ones (e.g. ``capacity``);
        ignored for files, whose columns are all read.

    Returns
    -------
    geopandas.GeoDataFrame
        With ``name`` and ``geometry`` (see :func:`lifecircle.sources.tables.read_layer` and
        :func:`lifecircle.sources.osm_features.features_from_osm`).
    """
    if source.osm_tags is not None:
        return osm.features_from_osm(
            source.osm_tags,
            polygon,
            osm_file=osm_file,
            cache_dir=cache_dir / "features",
            progress=progress,
            keep_tags=keep_tags,
        )
    if source.geocode is not None:
        return geocode.geocoded_layer(
            profile.resolve(source.file),
            service=source.geocode.service,
            address_field=source.geocode.address_field,
            city=source.geocode.city,
            name_field=source.name_field,
            layer=source.layer,
            sheet=source.sheet,
            where=source.where,
            cache_dir=cache_dir / "geocode",
        )
    return tables.read_spec(profile.resolve(source.file), source)
