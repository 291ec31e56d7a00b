"""Plausibility checks of snapped layers: flagged features and mistaken coordinate systems.

Chinese map data is often GCJ-02 (AMap, Tencent) or BD-09 (Baidu). Declared as WGS84, such a
layer sits 100–700 m (GCJ-02) or ~1 km (BD-09) off; in a dense street grid it still lands near
*some* street, so the snap distances grow only moderately. The decisive test is to try the other
reading: if undoing a GCJ-02 or BD-09 offset brings the layer markedly closer to the streets,
the declaration is almost certainly wrong.
"""

from __future__ import annotations

import warnings

import geopandas as gpd
import pandas as pd

from .. import crs, settings
from ..errors import LifecircleWarning
from ..schema import STATUS_BEYOND_SNAP_LIMIT, STATUS_ISLAND
from .access import representative_points
from .network import WalkNetwork, snap_to_edges

#: Largest number of features used to test another coordinate reading (a sample is enough).
_CRS_SAMPLE = 2000
#: Another reading must cut the median snap distance by this factor (and by ``_MIN_GAIN_M``).
_CRS_RATIO = 0.65
_MIN_GAIN_M = 5.0


def likely_chinese_crs(
    network: WalkNetwork, layer: gpd.GeoDataFrame, declared: str
) -> tuple[str, float, float] | None:
    """Test whether a layer declared as WGS84 really is GCJ-02 or BD-09.

    Parameters
    ----------
    network : WalkNetwork
        The projected walking network.
    layer : geopandas.GeoDataFrame
        The layer as read (EPSG:4326, coordinates as declared).
    declared : str
        Its declared coordinate system; only WGS84-like declarations are tested.

    Returns
    -------
    tuple of (str, float, float) or None
        ``(better_crs, median_as_declared_m, median_if_better_m)`` when another reading fits
        the streets clearly better, else None.
    """
    if crs.canonical_crs(declared) not in {"EPSG:4326", "EPSG:4490"} or layer.empty:
        return None
    sample = layer.iloc[:: max(1, len(layer) // _CRS_SAMPLE)]
    points = representative_points(sample)
    if not crs.looks_like_china(points.x.to_numpy(), points.y.to_numpy()).mean() > 0.5:
        return None
    as_declared = _median_snap(network, points)
    best = None
    for candidate in (crs.GCJ02, crs.BD09):
        shifted = crs.to_wgs84(gpd.GeoDataFrame(geometry=points), candidate)
        median = _median_snap(network, shifted.geometry)
        clearly_better = median < _CRS_RATIO * as_declared and as_declared - median > _MIN_GAIN_M
        if clearly_better and (best is None or median < best[2]):
            best = (candidate, as_declared, median)
    return best


def _median_snap(network: WalkNetwork, points: gpd.GeoSeries) -> float:
    return float(snap_to_edges(network, points.to_crs(network.crs))["snap_m"].median())


def warn_about_snaps(
    snaps: pd.DataFrame,
    what: str,
    declared_crs: str,
    network: WalkNetwork | None = None,
    layer: gpd.GeoDataFrame | None = None,
) -> None:
    """Warn about implausible snap distances, flagged features and a likely wrong CRS.

    Parameters
    ----------
    snaps : pandas.DataFrame
        From :func:`lifecircle.access.snap_layer`.
    what : str
        What the layer is, for the messages (e.g. ``"compounds"``).
    declared_crs : str
        The layer's declared coordinate system.
    network : WalkNetwork, optional
        With ``layer``, enables the test of other coordinate readings.
    layer : geopandas.GeoDataFrame, optional
        The layer as read (EPSG:4326).
    """
    if snaps.empty:
        return
    median = float(snaps["snap_m"].median())
    suggestion = likely_chinese_crs(network, layer, declared_crs) if network is not None else None
    if suggestion is not None:
        better, declared_median, better_median = suggestion
        warnings.warn(
            f"{what}: the coordinates look like {better.upper()} declared as '{declared_crs}': "
            f"the median distance to the nearest street is {declared_median:.0f} m as declared "
            f"but {better_median:.0f} m if read as {better}. Set 'crs: {better}' for this layer "
            "in the profile (AMap/Tencent data is GCJ-02, Baidu data is BD-09).",
            LifecircleWarning,
            stacklevel=2,
        )
    elif median > settings.implausible_median_snap_m:
        warnings.warn(
            f"{what}: the median distance to the nearest street is {median:.0f} m, which is "
            f"implausible for an urban layer (expected well under "
            f"{settings.implausible_median_snap_m:.0f} m). Check the layer's coordinate system "
            f"(declared: '{declared_crs}') and that the network covers it.",
            LifecircleWarning,
            stacklevel=2,
        )
    beyond = int((snaps["access_status"] == STATUS_BEYOND_SNAP_LIMIT).sum())
    if beyond:
        warnings.warn(
            f"{what}: {beyond:,} of {len(snaps):,} lie farther than the snap limit from any "
            "walkable street; they are flagged 'beyond_snap_limit' and counted as not covered.",
            LifecircleWarning,
            stacklevel=2,
        )
    island = int((snaps["access_status"] == STATUS_ISLAND).sum())
    if island:
        warnings.warn(
            f"{what}: {island:,} of {len(snaps):,} snap to a street piece that is not joined "
            "to the main walking network (an island); they are flagged 'island'.",
            LifecircleWarning,
            stacklevel=2,
        )
