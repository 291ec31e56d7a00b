"""How well the test for Chinese coordinates declared as WGS84 does on real data, box by box.

Lays 48 boxes of 2.5 × 2 km (8 × 6, overlapping) over Huangpu District's bounding box, or
over the whole central Shanghai extract of ../shared/data (``--over extract``, each box 1 km
inside its edge) and, for each box, tests the layer's points within 1 km around it (as a run
takes them) with :func:`lifecircle.analysis.checks.likely_chinese_crs` on the extract's walking
network: the BD-09 compound register declared as WGS84 (as shipped), the same compounds shifted
to GCJ-02 and declared as WGS84, the compounds correctly converted to WGS84, and the AMap
kindergartens and theatres (WGS84). Prints the caught and false-alarm counts.

Example::

    python benchmarks/crs_check_boxes.py [--over huangpu|extract] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from lifecircle import crs
from lifecircle.analysis.checks import likely_chinese_crs
from lifecircle.analysis.network import walking_network_from_segments
from lifecircle.sources.osm_arrays import read_street_segments

#: Extent of shanghai_center.osm.bz2 (../shared/data/README.md) and Huangpu's bounding box
#: (shanghai_districts_cgcs2000.geojson).
EXTRACT = (121.409, 31.179, 121.552, 31.279)
HUANGPU = (121.45222, 31.189957, 121.505578, 31.244343)
KM_LON, KM_LAT = 1 / (111.32 * np.cos(np.radians(31.2))), 1 / 111.32


def _layers(data: Path) -> dict[str, gpd.GeoDataFrame]:
    table = pd.read_csv(data / "shanghai_compounds_lianjia2016_bd09.csv")
    bd09 = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy(table["lng_bd09"], table["lat_bd09"]), crs=4326
    )
    wgs84 = crs.to_wgs84(bd09.set_crs(None, allow_override=True), crs.BD09)
    gcj02 = gpd.GeoDataFrame(geometry=crs.wgs84_to_gcj02(wgs84.geometry.values), crs=4326)
    files = ("shanghai_kindergartens_amap_wgs84.csv", "shanghai_theatres_cinemas_amap_wgs84.csv")
    amap = pd.concat([pd.read_csv(data / name) for name in files])
    facilities = gpd.GeoDataFrame(geometry=gpd.points_from_xy(amap["lon"], amap["lat"]), crs=4326)
    return {"bd09": bd09, "gcj02": gcj02, "compounds": wgs84, "amap": facilities}


def _boxes(over: str) -> list[tuple[float, float, float, float]]:
    """8 × 6 boxes of 2.5 × 2 km spanning Huangpu, or 1 km inside the extract's edges."""
    margin = KM_LON if over == "extract" else 0.0
    west, south, east, north = EXTRACT if over == "extract" else HUANGPU
    width, height = 2.5 * KM_LON, 2 * KM_LAT
    lons = np.linspace(west + margin, east - margin - width, 8)
    lats = np.linspace(
        south + margin * KM_LAT / KM_LON, north - margin * KM_LAT / KM_LON - height, 6
    )
    return [(x, y, x + width, y + height) for y in lats for x in lons]


def main() -> None:
    """Command line: print the counts."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = Path(
        os.environ.get("LIFECIRCLE_SHARED_DATA", Path(__file__).parents[2] / "shared/data")
    )
    parser.add_argument("--data", type=Path, default=default)
    parser.add_argument("--over", choices=("huangpu", "extract"), default="huangpu")
    args = parser.parse_args()
    segments = read_street_segments(args.data / "shanghai_center.osm.bz2")
    network = walking_network_from_segments(segments, "EPSG:32651")
    layers = _layers(args.data)
    caught = {name: 0 for name in layers}
    right = {name: 0 for name in layers}
    boxes = _boxes(args.over)
    for west, south, east, north in boxes:
        for name, layer in layers.items():
            x, y = layer.geometry.x, layer.geometry.y
            near = layer[
                (x >= west - KM_LON)
                & (x <= east + KM_LON)
                & (y >= south - KM_LAT)
                & (y <= north + KM_LAT)
            ]
            found = likely_chinese_crs(network, near, "wgs84")
            caught[name] += found is not None
            right[name] += found is not None and found.crs == name
    n = len(boxes)
    print(
        f"BD-09 declared as WGS84 caught in {caught['bd09']}/{n} boxes "
        f"(read as BD-09 in {right['bd09']})"
    )
    print(
        f"GCJ-02 declared as WGS84 caught in {caught['gcj02']}/{n} boxes "
        f"(read as GCJ-02 in {right['gcj02']})"
    )
    print(
        f"false alarms: {caught['compounds'] + caught['amap']}/{2 * n} correctly declared "
        f"layers ({caught['compounds']} compounds, {caught['amap']} AMap kindergartens/theatres)"
    )


if __name__ == "__main__":
    main()
