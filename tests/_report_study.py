"""A hand-built study with four categories and two sub-districts, for the report and gap tests.

Layout (metres from (X0, Y0) of ``tests/_handbuilt.py``; the main street runs along y=0 from
x=−200 to 1000, a side street along x=300 from y=0 to 200):

* study area x 0–600, y −200–500, split into 西街道 (x < 300) and 东街道 (x ≥ 300)
* nursery (300 m): N1 (450, 5) in the east; N2 (−50, 5) outside the study area (it serves B)
* culture (1000 m): G (100, −8) west, H (500, −8) east, I (800, −8) outside
* elderly_care (500 m): E (20, 5)
* shelter (500 m): S (550, −5)
* compounds (households; 2.5 persons each): A (550, 10; 100), B (100, 10; 300), C (350, 450;
  50: 255 m from the side street's end, beyond the 200 m snap limit), D (800, 10; 999: outside)

Known walks: A → N1 115 m, H 68 m, E 545 m (beyond 500), S 15 m; B → N2 165 m, G 18 m, E 95 m,
S 465 m; C reaches nothing. So elderly care fails A and C, shelter fails C, and only B has a
complete life circle.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from shapely.geometry import box

from ._handbuilt import lonlat, write_boxes, write_osm, write_points_csv

PPH = 2.5
COMPOUNDS = {
    "A小区": (550, 10, 100),
    "B小区": (100, 10, 300),
    "C小区": (350, 450, 50),
    "D小区": (800, 10, 999),
}
#: Half width and half height (m) of the compounds drawn as rectangles.
HALF_W, HALF_H = 10.0, 5.0


def write_compound_boxes(path: Path) -> Path:
    """The compounds as 20 m × 10 m rectangles centred on their points (GeoJSON, WGS84)."""
    features = []
    for name, (x, y, households) in COMPOUNDS.items():
        outline = box(x - HALF_W, y - HALF_H, x + HALF_W, y + HALF_H).exterior.coords
        polygon = {"type": "Polygon", "coordinates": [[lonlat(*xy) for xy in outline]]}
        features.append(
            {
                "type": "Feature",
                "properties": {"name": name, "households": households},
                "geometry": polygon,
            }
        )
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


def _category(zh: str, en: str, threshold: float, file: str) -> dict:
    return {
        "label": {"zh": zh, "en": en},
        "threshold_m": threshold,
        "threshold_source": "hand-built test",
        "source": {"file": file, "x": "lon", "y": "lat", "name_field": "name"},
    }


def write_study(folder: Path, *, polygons: bool = False, sub_districts: bool = True) -> Path:
    """Write the study's files and profile into ``folder``; return the profile path."""
    write_osm(
        folder / "streets.osm",
        [[(float(x), 0.0) for x in range(-200, 1001, 100)], [(300.0, 0.0), (300.0, 200.0)]],
    )
    write_points_csv(
        folder / "nursery.csv",
        [{"name": "托育点N1", "x": 450, "y": 5}, {"name": "托育点N2", "x": -50, "y": 5}],
    )
    write_points_csv(
        folder / "culture.csv",
        [
            {"name": "文化G", "x": 100, "y": -8},
            {"name": "文化H", "x": 500, "y": -8},
            {"name": "文化I", "x": 800, "y": -8},
        ],
    )
    write_points_csv(folder / "elderly.csv", [{"name": "养老E", "x": 20, "y": 5}])
    write_points_csv(folder / "shelter.csv", [{"name": "避难S", "x": 550, "y": -5}])
    write_points_csv(
        folder / "compounds.csv",
        [{"name": n, "households": h, "x": x, "y": y} for n, (x, y, h) in COMPOUNDS.items()],
    )
    write_compound_boxes(folder / "compounds.geojson")
    write_boxes(folder / "area.geojson", {"研究区": (0, -200, 600, 500)})
    write_boxes(
        folder / "jiedao.geojson", {"西街道": (0, -200, 300, 500), "东街道": (300, -200, 600, 500)}
    )
    compounds_source = (
        {"file": "compounds.geojson", "name_field": "name"}
        if polygons
        else {"file": "compounds.csv", "x": "lon", "y": "lat", "name_field": "name"}
    )
    profile = {
        "name": "reportstudy",
        "title": {"zh": "报告测试区", "en": "Report test area"},
        "study_area": {"file": "area.geojson"},
        "network": {"source": "osm_file", "osm_file": "streets.osm"},
        "snap_limit_m": 200,
        "walking_speed_kmh": 4.5,
        "categories": {
            "nursery": _category("托育", "Nursery", 300, "nursery.csv"),
            "culture": _category("文化", "Culture", 1000, "culture.csv"),
            "elderly_care": _category("养老", "Elderly care", 500, "elderly.csv"),
            "shelter": _category("避难", "Shelter", 500, "shelter.csv"),
        },
        "compounds": {
            "source": compounds_source,
            "households_field": "households",
            "persons_per_household": PPH,
        },
        "targets": [{"category": "elderly_care", "measure": "compound_share", "minimum": 1.0}],
    }
    if sub_districts:
        profile["sub_districts"] = {"file": "jiedao.geojson"}
    path = folder / "reportstudy.yaml"
    path.write_text(yaml.safe_dump(profile, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path
