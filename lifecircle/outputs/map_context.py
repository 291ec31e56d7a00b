"""Context drawn under an offline map: the walking network, water, and size budgets.

An offline map has no background tiles, so it draws its own context from data the run already
holds: the streets of the walking network, water areas, sub-district outlines. A city's network
can have a million nodes; drawn naively it would make every map hundreds of megabytes. So lines
and polygons are simplified in metres (Douglas-Peucker), packed compactly (:mod:`._packed`),
and kept within a character budget: when a layer is still too large, the tolerance grows, then
minor streets (by OpenStreetMap class, shortest first) or small holes are left out, and the map
says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .. import crs as crs_module
from .. import settings
from ..analysis.network import WalkNetwork
from ._packed import pack_lines, pack_polygons, packed_size

#: Characters the street layer may add to one HTML map (about 6 MB): with the compounds and
#: the areas, a map of a city with a million street nodes stays under 20 MB.
STREETS_BUDGET = 6_000_000
#: Characters all polygon layers of one map together may add (service areas, uncovered land,
#: water, sub-districts).
AREAS_BUDGET = 5_000_000
#: Douglas-Peucker tolerances (m) tried in turn until a layer fits its budget.
TOLERANCES_M = (2.0, 5.0, 10.0, 20.0)

#: OpenStreetMap highway classes by importance (0 most important); others rank as minor (6).
_HIGHWAY_RANK = {
    "motorway": 0, "trunk": 0, "primary": 1, "secondary": 2, "tertiary": 3,
    "unclassified": 4, "residential": 4, "living_street": 4, "pedestrian": 5,
    "service": 5, "footway": 6, "path": 6, "steps": 6, "track": 6, "cycleway": 6,
}
_MINOR_RANK = 6


@dataclass(frozen=True)
class PackedLayer:
    """A packed line or polygon layer and how it was reduced to fit the map.

    Attributes
    ----------
    packed : dict of str to str
        From :func:`lifecircle.outputs._packed.pack_lines` or ``pack_polygons``.
    tolerance_m : float
        Douglas-Peucker tolerance applied (m).
    n_total, n_shown : int
        Features (street segments, polygons) before and after the budget.
    """

    packed: dict[str, str]
    tolerance_m: float
    n_total: int
    n_shown: int

    @property
    def size(self) -> int:
        """Characters the layer adds to the HTML."""
        return packed_size(self.packed)

    @property
    def reduced(self) -> bool:
        """Whether features were left out to keep the map small."""
        return self.n_shown < self.n_total


@dataclass(frozen=True)
class MapContext:
    """Context layers of a run, packed once and shared by its maps.

    Attributes
    ----------
    streets : PackedLayer or None
        The walking network's edges.
    water : geopandas.GeoDataFrame or None
        Water areas and river lines (EPSG:4326), when the run found any.
    gcj02 : bool
        Whether the layers were shifted to GCJ-02 (for a GCJ-02 basemap).
    """

    streets: PackedLayer | None
    water: gpd.GeoDataFrame | None
    gcj02: bool = False


def display_geometries(
    geometries: gpd.GeoSeries, projected_crs: str, tolerance_m: float, *, gcj02: bool = False
) -> np.ndarray:
    """Simplify in metres, then bring to map coordinates (WGS84, or GCJ-02 for such basemaps).

    Parameters
    ----------
    geometries : geopandas.GeoSeries
        Any CRS.
    projected_crs : str
        A metric CRS in which to simplify.
    tolerance_m : float
        Douglas-Peucker tolerance (m); topology of polygons is preserved.
    gcj02 : bool
        Shift the result to GCJ-02.

    Returns
    -------
    numpy.ndarray of shapely geometries
        Longitude/latitude.
    """
    projected = geometries.to_crs(projected_crs).to_numpy()
    simple = shapely.simplify(projected, tolerance_m, preserve_topology=True)
    lonlat = gpd.GeoSeries(simple, crs=projected_crs).to_crs(settings.exchange_crs).to_numpy()
    return crs_module.wgs84_to_gcj02(lonlat) if gcj02 else lonlat


def edge_ranks(network: WalkNetwork) -> np.ndarray:
    """Importance class of every edge of ``network.edges`` (0 = motorway … 6 = footway)."""
    ranks = []
    # The edge table carries each edge's class (no networkx graph needed at city scale).
    for highway in network.edges["highway"]:
        values = highway if isinstance(highway, list) else [highway]
        ranks.append(min(_HIGHWAY_RANK.get(str(h), _MINOR_RANK) for h in values))
    return np.asarray(ranks, dtype=np.int64)


def street_layer(
    network: WalkNetwork, *, budget: int = STREETS_BUDGET, gcj02: bool = False
) -> PackedLayer:
    """The walking network as one packed line layer within ``budget`` characters.

    Parameters
    ----------
    network : WalkNetwork
        The run's network (projected).
    budget : int
        Characters the layer may add to the HTML.
    gcj02 : bool
        Shift to GCJ-02 (for a GCJ-02 basemap).

    Returns
    -------
    PackedLayer
        Simplified with the smallest tolerance of :data:`TOLERANCES_M` that fits; when even
        the largest does not, minor streets are left out (lowest OpenStreetMap class first,
        shortest first within a class) until it fits.
    """
    edges = network.edges
    lines = gpd.GeoSeries(edges.geometry.to_numpy(), crs=network.crs)
    for tolerance in TOLERANCES_M:
        packed = pack_lines(display_geometries(lines, network.crs, tolerance, gcj02=gcj02))
        if packed_size(packed) <= budget:
            return PackedLayer(packed, tolerance, len(edges), len(edges))
    geometries = display_geometries(lines, network.crs, TOLERANCES_M[-1], gcj02=gcj02)
    # Most important first, longest first within a class: keep a prefix that fits.
    order = np.lexsort((-edges["length"].to_numpy(), edge_ranks(network)))
    keep = _largest_prefix(len(order), budget, lambda n: pack_lines(geometries[order[:n]]))
    return PackedLayer(pack_lines(geometries[order[:keep]]), TOLERANCES_M[-1], len(edges), keep)


def _largest_prefix(n: int, budget: int, pack: Callable[[int], dict[str, str]]) -> int:
    """The largest k ≤ n whose packed prefix fits the budget (binary search: size grows with k)."""
    low, high = 0, n
    while low < high:
        middle = (low + high + 1) // 2
        if packed_size(pack(middle)) <= budget:
            low = middle
        else:
            high = middle - 1
    return low


def polygon_layer(
    geometries: gpd.GeoSeries, projected_crs: str, *, budget: int, gcj02: bool = False
) -> PackedLayer:
    """Polygons (one feature per row) packed within ``budget`` characters.

    Parameters
    ----------
    geometries : geopandas.GeoSeries
        (Multi)polygons in any CRS; rows stay aligned with the packed features.
    projected_crs : str
        Metric CRS for simplification.
    budget : int
        Characters the layer may add.
    gcj02 : bool
        Shift to GCJ-02.

    Returns
    -------
    PackedLayer
        Simplified with the smallest tolerance of :data:`TOLERANCES_M` that fits; when none
        does, holes and parts smaller than a growing area are dropped (``n_shown`` counts the
        polygon parts kept).
    """
    n_parts = int(shapely.get_num_geometries(geometries.to_numpy()).sum())
    simple = None
    for tolerance in TOLERANCES_M:
        simple = display_geometries(geometries, projected_crs, tolerance, gcj02=gcj02)
        packed = pack_polygons(simple)
        if packed_size(packed) <= budget:
            return PackedLayer(packed, tolerance, n_parts, n_parts)
    projected = gpd.GeoSeries(geometries.to_crs(projected_crs).to_numpy(), crs=projected_crs)
    min_area = 100.0
    while True:
        kept = projected.apply(lambda g, a=min_area: _without_small_pieces(g, a))
        simple = display_geometries(kept, projected_crs, TOLERANCES_M[-1], gcj02=gcj02)
        packed = pack_polygons(simple)
        if packed_size(packed) <= budget or min_area > 1e9:
            shown = int(shapely.get_num_geometries(simple).sum())
            return PackedLayer(packed, TOLERANCES_M[-1], n_parts, min(shown, n_parts - 1))
        min_area *= 4


def _without_small_pieces(geometry: shapely.Geometry, min_area: float) -> shapely.Geometry:
    """A (multi)polygon without parts and holes smaller than ``min_area`` (m²)."""
    if geometry is None or geometry.is_empty:
        return geometry
    polygons = []
    for part in shapely.get_parts(geometry):
        if not isinstance(part, shapely.Polygon) or part.area < min_area:
            continue
        holes = [h for h in part.interiors if shapely.Polygon(h).area >= min_area]
        polygons.append(shapely.Polygon(part.exterior, holes))
    return shapely.MultiPolygon(polygons) if polygons else shapely.Polygon()


def map_context(
    network: WalkNetwork | None,
    water: gpd.GeoDataFrame | None = None,
    *,
    gcj02: bool = False,
    streets_budget: int = STREETS_BUDGET,
) -> MapContext:
    """Pack the context layers of a run once, for all of its maps.

    Parameters
    ----------
    network : WalkNetwork or None
        The run's walking network (drawn as light lines).
    water : geopandas.GeoDataFrame, optional
        Water polygons and lines.
    gcj02 : bool
        Shift to GCJ-02 for a GCJ-02 basemap.
    streets_budget : int
        Characters the street layer may add.

    Returns
    -------
    MapContext
    """
    streets = None
    if network is not None and len(network.edges):
        streets = street_layer(network, budget=streets_budget, gcj02=gcj02)
    if water is not None and water.empty:
        water = None
    return MapContext(streets=streets, water=water, gcj02=gcj02)


def split_water(water: gpd.GeoDataFrame) -> tuple[gpd.GeoSeries, gpd.GeoSeries]:
    """Water areas (polygons) and water lines (rivers, canals) of a water layer."""
    kinds = water.geom_type.to_numpy()
    areas = water.geometry[pd.Series(kinds).isin(["Polygon", "MultiPolygon"]).to_numpy()]
    lines = water.geometry[pd.Series(kinds).isin(["LineString", "MultiLineString"]).to_numpy()]
    return areas, lines
