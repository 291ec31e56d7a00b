"""A hand-built study on disk: OSM XML streets, CSV layers, boundary files, with known answers.

Coordinates are laid out in UTM 51N metres around a point in Shanghai and written as WGS84, so the
whole file-based pipeline (reading, CRS, snapping, distances, coverage) runs on them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from pyproj import Transformer
from shapely.geometry import box

X0, Y0 = 350_000.0, 3_456_000.0
_TO_WGS84 = Transformer.from_crs("EPSG:32651", "EPSG:4326", always_xy=True)


def lonlat(x: float, y: float) -> tuple[float, float]:
    """WGS84 lon/lat of a point given in metres relative to (X0, Y0)."""
    return _TO_WGS84.transform(X0 + x, Y0 + y)


def write_osm(path: Path, ways: list[list[tuple[float, float]]], highway: str = "residential") -> Path:
    """Write an OSM XML file with one way per list of (x, y) metre coordinates."""
    node_ids: dict[tuple[float, float], int] = {}
    nodes, way_xml = [], []
    for way_number, coords in enumerate(ways, start=1):
        refs = []
        for xy in coords:
            if xy not in node_ids:
                node_ids[xy] = len(node_ids) + 1
                lon, lat = lonlat(*xy)
                nodes.append(
                    f'  <node id="{node_ids[xy]}" version="1" lat="{lat:.9f}" lon="{lon:.9f}"/>'
                )
            refs.append(f'    <nd ref="{node_ids[xy]}"/>')
        way_xml.append(
            f'  <way id="{1000 + way_number}" version="1">\n'
            + "\n".join(refs)
            + f'\n    <tag k="highway" v="{highway}"/>\n  </way>'
        )
    text = '<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="test">\n'
    text += "\n".join(nodes + way_xml) + "\n</osm>\n"
    path.write_text(text, encoding="utf-8")
    return path


def write_points_csv(path: Path, rows: list[dict]) -> Path:
    """Write a CSV with lon/lat columns from rows holding metre coordinates ``x``/``y``."""
    records = []
    for row in rows:
        lon, lat = lonlat(row["x"], row["y"])
        records.append({**{k: v for k, v in row.items() if k not in {"x", "y"}}, "lon": lon, "lat": lat})
    pd.DataFrame(records).to_csv(path, index=False)
    return path


def write_boxes(path: Path, boxes: dict[str, tuple[float, float, float, float]]) -> Path:
    """Write a GeoJSON of named rectangles given in metres (minx, miny, maxx, maxy)."""
    features = []
    for name, (x1, y1, x2, y2) in boxes.items():
        corners = [lonlat(x, y) for x, y in box(x1, y1, x2, y2).exterior.coords]
        polygon = {"type": "Polygon", "coordinates": [corners]}
        features.append({"type": "Feature", "properties": {"name": name}, "geometry": polygon})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path



def write_osm_with_features(
    path: Path,
    ways: list[list[tuple[float, float]]],
    pois: list[tuple[float, float, dict[str, str]]],
    areas: list[tuple[list[tuple[float, float]], dict[str, str]]],
) -> Path:
    """OSM XML with streets, tagged point features and tagged closed-way areas (metres)."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    node_ids: dict[tuple[float, float], int] = {}

    def node(xy: tuple[float, float], tags: dict[str, str] | None = None) -> int:
        if xy in node_ids and not tags:
            return node_ids[xy]
        number = len(lines) + 1
        lon, lat = lonlat(*xy)
        body = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in (tags or {}).items())
        lines.append(f'<node id="{number}" version="1" lat="{lat:.9f}" lon="{lon:.9f}">{body}</node>')
        if not tags:
            node_ids[xy] = number
        return number

    way_lines = []
    for number, coords in enumerate(ways, start=1):
        refs = "".join(f'<nd ref="{node(xy)}"/>' for xy in coords)
        way_lines.append(f'<way id="{number}" version="1">{refs}<tag k="highway" v="residential"/></way>')
    for xy, tags in [(p[:2], p[2]) for p in pois]:
        node(xy, tags)
    for number, (ring, tags) in enumerate(areas, start=len(ways) + 1):
        ids = [node(xy) for xy in ring]
        refs = "".join(f'<nd ref="{i}"/>' for i in [*ids, ids[0]])
        body = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
        way_lines.append(f'<way id="{number}" version="1">{refs}{body}</way>')
    path.write_text("\n".join([*lines, *way_lines, "</osm>"]) + "\n", encoding="utf-8")
    return path
