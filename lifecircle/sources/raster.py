"""Population rasters (e.g. WorldPop): residents per area by zonal sums.

A population raster holds residents per cell. The residents of an area are the sum of the cells
whose centre lies inside it (``all_touched=False``: a cell is counted by exactly one of two
neighbouring areas, so sub-district sums add up to the district's). Nodata and non-finite cells
count as unknown and are left out of the sum.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from rasterio.errors import RasterioIOError
from rasterio.features import geometry_mask
from rasterio.windows import Window, from_bounds

from ..errors import CRSError, DataError, LifecircleWarning

#: Share of a zone's area that may lie outside the raster before a warning is given.
_OUTSIDE_TOLERANCE = 0.01


def zonal_population(raster_path: str | Path, zones: gpd.GeoDataFrame) -> pd.Series:
    """Sum a population raster over each zone.

    Parameters
    ----------
    raster_path : str or Path
        A single-band population raster (GeoTIFF or any format GDAL reads) with a coordinate
        system; band 1 is read. Values are residents per cell.
    zones : geopandas.GeoDataFrame
        Polygons (any CRS; they are reprojected to the raster's).

    Returns
    -------
    pandas.Series
        Residents per zone (float), indexed like ``zones`` and named ``population``: the sum of
        the cells whose centre lies inside the zone, nodata cells left out. ``NaN`` for empty
        geometries and for zones that do not overlap the raster.

    Raises
    ------
    DataError
        When the raster is missing or unreadable, or when no zone overlaps it.
    CRSError
        When the raster or the zones have no coordinate system.

    Warns
    -----
    LifecircleWarning
        When some zones lie (partly) outside the raster: their sums miss those parts.
    """
    path = Path(raster_path)
    if zones.crs is None:
        raise CRSError("the zones to sum the population raster over have no coordinate system")
    with _open_population_raster(path) as src:
        geoms = zones.to_crs(src.crs).geometry
        sums, outside = _zone_sums(src, geoms)
    if np.isnan(sums).all() and any(g is not None and not g.is_empty for g in geoms):
        raise DataError(
            f"population raster {path} does not overlap the study area: check that it covers "
            "the district and that its coordinate system is right"
        )
    if outside:
        names = _zone_names(zones, outside)
        warnings.warn(
            f"population raster {path} does not fully cover {len(outside)} area(s) ({names}): "
            "their population counts only the part inside the raster (none at all when the "
            "area lies wholly outside it)",
            LifecircleWarning,
            stacklevel=2,
        )
    return pd.Series(sums, index=zones.index, name="population")


def _open_population_raster(path: Path) -> rasterio.io.DatasetReader:
    """Open a population raster, or say plainly why it cannot be used."""
    if not path.is_file():
        raise DataError(
            f"population raster {path} does not exist: check 'population.raster' in the profile"
        )
    try:
        src = rasterio.open(path)
    except RasterioIOError as exc:
        raise DataError(
            f"population raster {path} cannot be read ({exc}): give a GeoTIFF of residents per cell"
        ) from None
    if src.crs is None:
        src.close()
        raise CRSError(
            f"population raster {path} has no coordinate system: add one (e.g. with "
            "gdal_edit.py -a_srs EPSG:4326) or export it again as a GeoTIFF"
        )
    return src


def _zone_sums(
    src: rasterio.io.DatasetReader, geoms: gpd.GeoSeries
) -> tuple[np.ndarray, list[int]]:
    """Residents per zone (NaN for empty zones and zones off the raster), and the positions of
    zones that lie partly or wholly outside the raster."""
    raster_box = shapely.box(*src.bounds)
    sums = np.full(len(geoms), np.nan)
    outside = []
    for i, geom in enumerate(geoms):
        if geom is None or geom.is_empty:
            continue
        if not geom.intersects(raster_box):
            outside.append(i)
            continue
        if geom.difference(raster_box).area > _OUTSIDE_TOLERANCE * geom.area:
            outside.append(i)
        sums[i] = _cells_inside_sum(src, geom)
    return sums, outside


def _cells_inside_sum(src: rasterio.io.DatasetReader, geom: shapely.Geometry) -> float:
    """Sum of the cells whose centre lies inside ``geom`` (nodata and non-finite left out)."""
    shape = (src.height, src.width)
    window = _cell_window(from_bounds(*geom.bounds, transform=src.transform), shape)
    if window is None:
        return 0.0
    values = src.read(1, window=window, masked=True)
    inside = geometry_mask(
        [geom],
        out_shape=values.shape,
        transform=src.window_transform(window),
        invert=True,
        all_touched=False,
    )
    data = np.ma.masked_invalid(values.astype(float))
    return float(data[inside].sum()) if np.ma.count(data[inside]) else 0.0


def _cell_window(window: Window, shape: tuple[int, int]) -> Window | None:
    """Whole cells covering a fractional window, clipped to the raster; None when empty."""
    height, width = shape
    col0 = max(int(np.floor(window.col_off)), 0)
    row0 = max(int(np.floor(window.row_off)), 0)
    col1 = min(int(np.ceil(window.col_off + window.width)), width)
    row1 = min(int(np.ceil(window.row_off + window.height)), height)
    if col1 <= col0 or row1 <= row0:
        return None
    return Window(col0, row0, col1 - col0, row1 - row0)


def _zone_names(zones: gpd.GeoDataFrame, positions: list[int]) -> str:
    labels = zones["name"] if "name" in zones.columns else pd.Series(zones.index, index=zones.index)
    shown = [str(labels.iloc[i]) for i in positions[:5]]
    return ", ".join(shown) + (", ..." if len(positions) > 5 else "")
