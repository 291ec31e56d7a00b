"""Private helpers shared by the OpenStreetMap readers: file kinds, polygons, messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import osmnx as ox
from shapely.geometry import MultiPolygon, Polygon

from ..errors import CRSError, DataError, InputFileError, LifecircleError, NetworkError

#: CRS of every graph and feature layer this module returns.
OSM_CRS = "EPSG:4326"

_XML_SUFFIXES = (".osm", ".xml", ".osm.bz2", ".xml.bz2", ".osm.gz", ".xml.gz")
_PBF_SUFFIXES = (".pbf",)
# Way tags the walking filter needs, kept on edges in addition to osmnx's useful tags.
_WALK_FILTER_TAGS = ("highway", "foot", "access", "area", "service")
NAME_TAGS = ("name:zh", "name", "name:en")
GET_AN_EXTRACT = (
    "Get a valid OpenStreetMap extract covering the study area, e.g. a city .osm.pbf from "
    "https://download.geofabrik.de or https://extract.bbbike.org, or export the area as "
    ".osm from https://overpass-turbo.eu"
)


def useful_way_tags() -> list[str]:
    return list(dict.fromkeys([*ox.settings.useful_tags_way, *_WALK_FILTER_TAGS]))


def file_kind(path: Path, error: type[LifecircleError]) -> str:
    name = path.name.lower()
    if name.endswith(_PBF_SUFFIXES):
        return "pbf"
    if name.endswith(_XML_SUFFIXES):
        return "xml"
    raise error(
        f"{path.name} is not an OpenStreetMap file lifecircle can read: use .osm, .osm.bz2, "
        f".osm.gz, .xml or .osm.pbf. {GET_AN_EXTRACT}."
    )


def unreadable(path: Path, exc: BaseException, error: type[LifecircleError]) -> LifecircleError:
    return error(
        f"Cannot read OSM file {path.name} ({path}): {type(exc).__name__}: {exc}. The file is "
        f"corrupt, truncated or not OpenStreetMap data. {GET_AN_EXTRACT}."
    )


def format_bounds(bounds: tuple[float, ...] | None) -> str:
    if bounds is None:
        return "(unknown)"
    return "(" + ", ".join(f"{value:.4f}" for value in bounds) + ")"


def check_polygon(polygon: Any, *, required: bool = False) -> None:
    if polygon is None:
        if required:
            raise DataError("An OpenStreetMap download needs the study-area polygon (WGS84).")
        return
    if not isinstance(polygon, Polygon | MultiPolygon) or polygon.is_empty:
        raise DataError(
            f"The study area must be a non-empty shapely Polygon or MultiPolygon in WGS84, "
            f"not {type(polygon).__name__}."
        )
    if not polygon.is_valid:
        raise DataError(
            "The study-area polygon is invalid (self-intersecting?); repair it, e.g. with "
            "shapely.make_valid, before reading OpenStreetMap data."
        )
    west, south, east, north = polygon.bounds
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise CRSError(
            f"The study-area polygon's extent {format_bounds(polygon.bounds)} is not WGS84 "
            "longitude/latitude (projected metres?): reproject it to EPSG:4326 first."
        )


def check_network_file(path: Path) -> None:
    """Raise when the network's OSM file is missing or a folder (both readers say the same)."""
    if not path.is_file():
        problem = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise InputFileError(
            f"OSM network file {path} {problem}. Check `network.osm_file` in the profile "
            f"(or --osm-file). {GET_AN_EXTRACT}."
        )


def no_walkable_ways(path: Path) -> NetworkError:
    return NetworkError(
        f"OSM file {path.name} contains no walkable ways (highway=* open to pedestrians). "
        f"{GET_AN_EXTRACT}."
    )


def not_covering(
    path: Path, extract_bounds: tuple[float, ...] | None, polygon: Polygon | MultiPolygon
) -> NetworkError:
    return NetworkError(
        f"The OSM extract {path.name} does not cover the study area: it has no "
        f"walkable ways inside it. Extract extent (W, S, E, N): "
        f"{format_bounds(extract_bounds)}; study area extent: "
        f"{format_bounds(polygon.bounds)}. {GET_AN_EXTRACT}."
    )
