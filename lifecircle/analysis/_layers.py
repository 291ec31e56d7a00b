"""Appending features to a layer without changing its columns' types.

A facility added by a scenario or a siting plan has a name and a place but none of the
register's other columns. Filling them with ``NaN`` would turn integer and text columns into
floats, and removing the feature again would not give the layer back as it was; each column is
filled with a missing value of its own type instead.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

_MISSING_BY_KIND = {"i": -1, "u": 0, "b": False, "O": None, "M": pd.NaT, "m": pd.NaT}


def append_rows(layer: gpd.GeoDataFrame, new: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``layer`` followed by ``new`` (reprojected to ``layer``'s CRS), column types kept.

    Columns of ``layer`` that ``new`` lacks are filled with a missing value of their type
    (``-1`` for integers, ``False`` for booleans, ``None`` for text, ``NaN``/``NaT`` otherwise).
    """
    new = new.to_crs(layer.crs) if layer.crs is not None and new.crs is not None else new
    filled = pd.DataFrame(index=range(len(new)))
    for column in layer.columns:
        if column == layer.geometry.name:
            continue
        if column in new.columns:
            filled[column] = new[column].to_numpy()
            continue
        dtype = layer[column].dtype
        missing = _MISSING_BY_KIND.get(dtype.kind, np.nan)
        filled[column] = pd.Series([missing] * len(new), dtype=dtype)
    rows = gpd.GeoDataFrame(filled, geometry=new.geometry.to_numpy(), crs=layer.crs)
    rows = rows.rename_geometry(layer.geometry.name) if layer.geometry.name != "geometry" else rows
    merged = pd.concat([layer.reset_index(drop=True), rows[layer.columns]], ignore_index=True)
    return gpd.GeoDataFrame(merged, geometry=layer.geometry.name, crs=layer.crs)
