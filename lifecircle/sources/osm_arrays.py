"""Walkable street segments of a local OpenStreetMap file, read straight into NumPy arrays.

This is the fast path for local extracts (``.osm.pbf``, ``.osm``, ``.osm.bz2``, ``.osm.gz``):
no networkx graph is built. pyosmium (``osmium``, the maintained Python binding of the C++
library libosmium) streams the file once; node locations are cached in C++ and every walkable
way becomes its consecutive node pairs. The result holds only arrays (a few bytes per segment),
so a city of millions of nodes fits in memory, can be cut into pieces and sent to other
processes cheaply. :func:`lifecircle.analysis.network.walking_network_from_segments` turns it
into a :class:`~lifecircle.analysis.network.WalkNetwork`, simplified the way osmnx simplifies.

The walking filter is :func:`lifecircle.sources.osm.is_walkable`, the same one the osmnx path
(:func:`lifecircle.sources.osm.graph_from_osm_file`) applies, and the area cut keeps the segments
whose two nodes lie inside the polygon, as osmnx's truncation does.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon

from ..errors import NetworkError
from ._osm_common import (
    check_network_file,
    check_polygon,
    file_kind,
    no_walkable_ways,
    not_covering,
    unreadable,
)
from .osm import is_walkable

#: Way tags the walking filter reads.
_FILTER_TAGS = ("highway", "foot", "access", "area", "service")
#: libosmium's coordinate of a node the file does not contain.
_UNDEFINED_COORDINATE = 2**31 - 1
#: OSM coordinates are integers of 1e-7 degrees; dividing (not multiplying by 1e-7) gives the
#: double nearest to the decimal, as parsing the XML text does.
_COORDINATE_PRECISION = 1e7


@dataclass(frozen=True)
class StreetSegments:
    """Walkable OpenStreetMap street segments (consecutive way nodes), in WGS84.

    Attributes
    ----------
    node_id : numpy.ndarray
        OSM ids of the nodes used by the segments, sorted (int64).
    lon, lat : numpy.ndarray
        Node coordinates (degrees, EPSG:4326), aligned with ``node_id``.
    u, v : numpy.ndarray
        Positions (into ``node_id``) of the two nodes of each segment, in way order.
    way_id : numpy.ndarray
        OSM id of the way each segment belongs to.
    highway : numpy.ndarray
        The way's ``highway`` value, as a position in ``highway_values`` (int16).
    highway_values : tuple of str
        The distinct ``highway`` values.
    name : numpy.ndarray
        The way's ``name``, as a position in ``name_values`` (int32).
    name_values : tuple of str or None
        The distinct names; None for ways without one.
    source : str
        Name of the file read.
    """

    node_id: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    u: np.ndarray
    v: np.ndarray
    way_id: np.ndarray
    highway: np.ndarray
    highway_values: tuple[str, ...]
    name: np.ndarray
    name_values: tuple[str | None, ...]
    source: str

    @property
    def n_segments(self) -> int:
        """Number of segments."""
        return len(self.u)

    def bounds(self) -> tuple[float, float, float, float] | None:
        """(west, south, east, north) of the nodes, or None when there are none."""
        if len(self.lon) == 0:
            return None
        return (
            float(self.lon.min()),
            float(self.lat.min()),
            float(self.lon.max()),
            float(self.lat.max()),
        )

    def clip(self, polygon_wgs84: Polygon | MultiPolygon) -> StreetSegments:
        """The segments whose two nodes lie inside (or on the edge of) a polygon.

        The same rule as :func:`osmnx.truncate.truncate_graph_polygon` on an unsimplified
        graph. Nodes no segment uses any more are dropped.

        Parameters
        ----------
        polygon_wgs84 : shapely Polygon or MultiPolygon
            The area (WGS84 lon/lat).

        Returns
        -------
        StreetSegments
        """
        check_polygon(polygon_wgs84, required=True)
        shapely.prepare(polygon_wgs84)
        inside = np.zeros(len(self.node_id), dtype=bool)
        # Only nodes inside the polygon's box need the exact test.
        west, south, east, north = polygon_wgs84.bounds
        in_box = np.flatnonzero(
            (self.lon >= west) & (self.lon <= east) & (self.lat >= south) & (self.lat <= north)
        )
        inside[in_box] = shapely.intersects_xy(
            polygon_wgs84, self.lon[in_box], self.lat[in_box]
        )
        return self._subset(inside[self.u] & inside[self.v])

    def _subset(self, keep_segment: np.ndarray) -> StreetSegments:
        u, v = self.u[keep_segment], self.v[keep_segment]
        used = np.zeros(len(self.node_id), dtype=bool)
        used[u] = True
        used[v] = True
        new_position = np.cumsum(used) - 1
        return replace(
            self,
            node_id=self.node_id[used],
            lon=self.lon[used],
            lat=self.lat[used],
            u=new_position[u],
            v=new_position[v],
            way_id=self.way_id[keep_segment],
            highway=self.highway[keep_segment],
            name=self.name[keep_segment],
        )


def read_street_segments(
    path: str | Path, polygon_wgs84: Polygon | MultiPolygon | None = None
) -> StreetSegments:
    """Read the walkable street segments of a local OpenStreetMap extract.

    Parameters
    ----------
    path : str or Path
        ``.osm.pbf``, ``.osm``, ``.osm.bz2``, ``.osm.gz`` or ``.xml`` extract.
    polygon_wgs84 : shapely Polygon or MultiPolygon, optional
        Keep only the segments inside this area (see :meth:`StreetSegments.clip`).

    Returns
    -------
    StreetSegments
        Segments of walkable ways (see :func:`lifecircle.sources.osm.is_walkable`), in way
        order. Repeated consecutive nodes and segments whose nodes are missing from the file
        are skipped.

    Raises
    ------
    InputFileError
        When the file does not exist or is a folder.
    NetworkError
        When the file cannot be read as OSM data, has no walkable ways, or has none inside
        ``polygon_wgs84`` (the message gives both extents).
    """
    path = Path(path)
    check_network_file(path)
    kind = file_kind(path, NetworkError)
    check_polygon(polygon_wgs84)
    try:
        segments = _read_walkable_ways(path, kind)
    except (RuntimeError, ValueError, OSError) as exc:
        raise unreadable(path, exc, NetworkError) from exc
    if segments.n_segments == 0 and polygon_wgs84 is None:
        raise no_walkable_ways(path)
    if polygon_wgs84 is None:
        return segments
    clipped = segments.clip(polygon_wgs84)
    if clipped.n_segments == 0:
        raise not_covering(path, _file_bounds(path, kind) or segments.bounds(), polygon_wgs84)
    return clipped


def _osmium_file(path: Path, kind: str):  # noqa: ANN202 - osmium.io.File
    import osmium

    # libosmium picks the format from the suffix; name it for ".xml" and compressed XML.
    name = path.name.lower()
    if kind == "pbf":
        return osmium.io.File(str(path), "pbf")
    compression = next((c for c in ("bz2", "gz") if name.endswith("." + c)), None)
    return osmium.io.File(str(path), "osm" + (f".{compression}" if compression else ""))


def _read_walkable_ways(path: Path, kind: str) -> StreetSegments:
    """One pass over the file: walkable ways' node ids and locations, as flat arrays."""
    import osmium

    processor = (
        osmium.FileProcessor(_osmium_file(path, kind), osmium.osm.NODE | osmium.osm.WAY)
        .with_locations()
        .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
        .with_filter(osmium.filter.KeyFilter("highway"))
    )
    # Typed arrays, not lists: 8 bytes per value instead of a Python int object each.
    refs, xs, ys = array("q"), array("q"), array("q")
    way_ids, way_sizes = array("q"), array("q")
    way_highway, way_name = array("q"), array("q")
    append_ref, append_x, append_y = refs.append, xs.append, ys.append
    highway_code: dict[str, int] = {}
    name_code: dict[str | None, int] = {None: 0}
    for way in processor:
        tags = way.tags
        filter_tags = {key: tags.get(key) for key in _FILTER_TAGS}
        if not is_walkable(filter_tags):
            continue
        way_highway.append(highway_code.setdefault(filter_tags["highway"], len(highway_code)))
        way_name.append(name_code.setdefault(tags.get("name"), len(name_code)))
        nodes = way.nodes
        # One plain loop: pyosmium builds a Python object per node reference, so each node is
        # touched once (this loop is most of the reading time). Missing nodes are dropped
        # afterwards, by their undefined coordinates.
        for node in nodes:
            location = node.location
            append_ref(node.ref)
            append_x(location.x)
            append_y(location.y)
        way_ids.append(way.id)
        way_sizes.append(len(nodes))
    arrays = (refs, xs, ys, way_ids, way_sizes, way_highway, way_name)
    return _segments_from_ways(
        *(np.frombuffer(values, dtype=np.int64) for values in arrays),
        highway_values=tuple(highway_code),
        name_values=tuple(name_code),
        source=path.name,
    )


def _segments_from_ways(
    refs: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    way_ids: np.ndarray,
    way_sizes: np.ndarray,
    way_highway: np.ndarray,
    way_name: np.ndarray,
    *,
    highway_values: tuple[str, ...],
    name_values: tuple[str | None, ...],
    source: str,
) -> StreetSegments:
    """Consecutive node pairs of every way; nodes numbered by sorted OSM id.

    References to nodes missing from the file are dropped: their neighbours in the way join
    up (a segment only needs its two nodes).
    """
    way_of_ref = np.repeat(np.arange(len(way_sizes)), way_sizes)
    located = (xs != _UNDEFINED_COORDINATE) & (ys != _UNDEFINED_COORDINATE)
    refs, xs, ys, way_of_ref = refs[located], xs[located], ys[located], way_of_ref[located]
    node_id, first, position = np.unique(refs, return_index=True, return_inverse=True)
    # A segment joins ref i and ref i+1 of the same way; repeated nodes make no segment.
    pair = np.flatnonzero(
        (way_of_ref[1:] == way_of_ref[:-1]) & (position[1:] != position[:-1])
    ) if len(refs) else np.array([], dtype=np.int64)
    return StreetSegments(
        node_id=node_id,
        lon=xs[first] / _COORDINATE_PRECISION,
        lat=ys[first] / _COORDINATE_PRECISION,
        u=position[pair],
        v=position[pair + 1],
        way_id=way_ids[way_of_ref[pair]],
        highway=way_highway[way_of_ref[pair]].astype(np.int16),
        highway_values=highway_values,
        name=way_name[way_of_ref[pair]].astype(np.int32),
        name_values=name_values,
        source=source,
    )


def _file_bounds(path: Path, kind: str) -> tuple[float, float, float, float] | None:
    """The extent a PBF header declares (None when it declares none)."""
    if kind != "pbf":
        return None
    try:
        import osmium

        box = osmium.io.Reader(str(path), osmium.osm.NOTHING).header().box()
        if not box.valid():
            return None
        return (box.bottom_left.lon, box.bottom_left.lat, box.top_right.lon, box.top_right.lat)
    except Exception:  # the extent only decorates an error message
        return None
