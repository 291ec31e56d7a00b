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

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .. import crs as crs_module
from .. import settings
from ..analysis.network import WalkNetwork
from ._packed import estimated_size, line_sizes, pack_lines, pack_polygons, packed_size

#: Characters the street layer may add to one HTML map (about 6 MB): with the compounds and
#: the areas, a map of a city with a million street nodes stays under 20 MB.
STREETS_BUDGET = 6_000_000
#: Characters all polygon layers of one map together may add (service areas, uncovered land,
#: water, sub-districts), and the share of it each kind may use.
AREAS_BUDGET = 5_000_000
AREA_SHARES = {"follow": 0.6, "water": 0.2, "sub_districts": 0.15, "study_area": 0.05}
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


def map_coordinates(projected: np.ndarray, crs: str, *, gcj02: bool = False) -> np.ndarray:
    """Geometries in metres (``crs``) as map longitude/latitude: WGS84, or GCJ-02."""
    lonlat = gpd.GeoSeries(projected, crs=crs).to_crs(settings.exchange_crs).to_numpy()
    return crs_module.wgs84_to_gcj02(lonlat) if gcj02 else lonlat


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
    return map_coordinates(simple, projected_crs, gcj02=gcj02)


def edge_ranks(network: WalkNetwork) -> np.ndarray:
    """Importance class of every edge of ``network.edges`` (0 = motorway … 6 = footway)."""
    # The edge table carries each edge's class (no networkx graph needed at city scale); a
    # simplified edge may list several classes. One rank per distinct value.
    rank_of: dict[str, int] = {}
    ranks = []
    for highway in network.edges["highway"]:
        key = str(highway)
        if key not in rank_of:
            values = highway if isinstance(highway, list) else [highway]
            rank_of[key] = min(_HIGHWAY_RANK.get(str(h), _MINOR_RANK) for h in values)
        ranks.append(rank_of[key])
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
        Simplified with the smallest tolerance of :data:`TOLERANCES_M` whose (estimated) size
        fits; when even the largest does not, minor streets are left out (lowest OpenStreetMap
        class first, shortest first within a class) until it fits exactly.
    """
    edges = network.edges
    projected = edges.geometry.to_numpy()
    latitude = _latitude(edges)
    # Every line keeps at least its two ends (two characters each at least): when even that
    # exceeds the budget, no tolerance can help; go straight to leaving streets out.
    hopeless = 5 * len(edges) > budget
    for tolerance in TOLERANCES_M[-1:] if hopeless else TOLERANCES_M:
        simple = shapely.simplify(projected, tolerance)
        fits = estimated_size(simple, latitude) <= 0.97 * budget
        if fits:
            break
    lonlat = map_coordinates(simple, network.crs, gcj02=gcj02)
    if fits:
        packed = pack_lines(lonlat)
        if packed_size(packed) <= budget:
            return PackedLayer(packed, tolerance, len(edges), len(edges))
    # Most important first, longest first within a class: keep the longest prefix that fits.
    order = np.lexsort((-edges["length"].to_numpy(), edge_ranks(network)))
    keep = int(np.searchsorted(np.cumsum(line_sizes(lonlat[order])), budget, side="right"))
    return PackedLayer(pack_lines(lonlat[order[:keep]]), tolerance, len(edges), keep)


def _latitude(frame: gpd.GeoDataFrame) -> float:
    west, south, east, north = frame.total_bounds
    centre = gpd.GeoSeries([shapely.Point((west + east) / 2, (south + north) / 2)], crs=frame.crs)
    return float(centre.to_crs(settings.exchange_crs).y.iloc[0])


def area_budget(kind: str, parts: int = 1) -> int:
    """Characters one polygon layer of ``kind`` may add, when its kind has ``parts`` layers."""
    return int(AREAS_BUDGET * AREA_SHARES[kind] / parts)


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
        Simplified with the smallest tolerance of :data:`TOLERANCES_M` whose (estimated) size
        fits; when none does, the smallest rings (holes, then parts) are left out until it fits.
        ``n_total`` and ``n_shown`` count rings (outlines and holes).
    """
    projected = geometries.to_crs(projected_crs).to_numpy()
    latitude = _latitude(gpd.GeoDataFrame(geometry=geometries.to_crs(projected_crs)))
    rings = shapely.get_num_interior_rings(shapely.get_parts(projected)).sum() + \
        shapely.get_num_geometries(projected).sum()
    for tolerance in TOLERANCES_M:
        simple = shapely.simplify(projected, tolerance, preserve_topology=True)
        fits = _rings_size(simple, latitude) <= 0.97 * budget
        if fits:
            break
    if not fits:
        simple, kept = _largest_rings(simple, budget, latitude)
    packed = pack_polygons(map_coordinates(simple, projected_crs, gcj02=gcj02))
    return PackedLayer(packed, tolerance, int(rings), int(rings) if fits else kept)


def _rings_size(geometries: np.ndarray, latitude: float) -> int:
    rings = shapely.get_rings(shapely.get_parts(geometries))
    return estimated_size(rings, latitude)


def _largest_rings(
    geometries: np.ndarray, budget: int, latitude: float
) -> tuple[np.ndarray, int]:
    """The polygons with only their largest rings, as many as fit ``budget`` (estimated).

    An outline is always larger than its holes, so a kept hole's outline is kept too.
    """
    parts, owner = shapely.get_parts(geometries, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    areas = shapely.area(shapely.polygons(rings))
    order = np.argsort(-areas, kind="stable")
    sizes = np.array([estimated_size(np.array([r]), latitude) for r in rings[order]]) \
        if len(rings) < 2_000 else _ring_sizes(rings[order], latitude)
    keep = np.zeros(len(rings), dtype=bool)
    keep[order[: int(np.searchsorted(np.cumsum(sizes), 0.97 * budget, side="right"))]] = True
    # Rings come part by part, each part's outline first.
    starts = np.flatnonzero(np.r_[True, ring_part[1:] != ring_part[:-1]])
    ends = np.r_[starts[1:], len(rings)]
    polygons: list[list[shapely.Polygon]] = [[] for _ in geometries]
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        if keep[start]:
            holes = [rings[k] for k in range(start + 1, end) if keep[k]]
            polygons[owner[ring_part[start]]].append(shapely.Polygon(rings[start], holes))
    rebuilt = np.array([shapely.MultiPolygon(p) if p else shapely.Polygon() for p in polygons],
                       dtype=object)
    return rebuilt, int(keep.sum())


def _ring_sizes(rings: np.ndarray, latitude: float) -> np.ndarray:
    """Estimated characters of each ring (vertices times the average of the whole set)."""
    counts = shapely.get_num_coordinates(rings).astype(float)
    return counts * estimated_size(rings, latitude) / max(counts.sum(), 1.0)


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
