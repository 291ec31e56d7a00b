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

