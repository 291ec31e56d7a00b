"""A hand-built siting study on disk, with optima computed by hand.

Metres, relative to _handbuilt.X0/Y0. A straight street y = 0 from x = 0 to 2000 (nodes every
100 m) and an island street from (1000, 400) to (1100, 400) not joined to it. Nursery threshold
300 m; compounds sit 10 m off the street, so a site on the street at x covers a compound at x'
when |x − x'| + 10 ≤ 300.

* existing nursery F at (0, 0): covers A only
* compounds (households): A (200, 10) 100 · B (600, 10) 240 · C (900, 10) 260 ·
  D (1200, 10) 260 · E (1500, 10) 240 · H (1050, 410) 80, on the island ·
  G (1000, 600) 500, 200 m from the island street and 600 m from the main one: beyond the
  150 m snap limit
* candidates on the street: c0 x=750 {B, C} · c1 x=1050 {C, D} · c2 x=1350 {D, E} ·
  c3 x=600 {B}
* sub-districts: 西 (x < 1100; has F) and 东 (x ≥ 1100; lacks a nursery; only c2 is in it);
  with ``three_districts`` a third, 北 (y ≥ 500, holding G), lacks one and has no candidate.

Hand-computed answers (households; residents = households × 2.5; total 1,680 households, 100
covered by F): best 1 site c1 (520); best 2 sites c0 + c2 (1,000) while greedy takes c1 then c0
(760); every reachable compound (B–E) needs 2 sites (c0, c2); a 50% share needs 740 more: one
site covers at most 520, so 2 sites (c0, c2: 1,000); 95% cannot be reached (at most
1,100 / 1,680 = 65.5%: G is off the network, H on an island without candidates); one site per
sub-district: c2 (500); one site with one in 东: c2; two sites with one in 东: c0 + c2.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ._handbuilt import write_boxes, write_osm, write_points_csv

PPH = 2.5
HOUSEHOLDS = {"A": 100, "B": 240, "C": 260, "D": 260, "E": 240, "H": 80, "G": 500}
COMPOUNDS = {
    "A": (200, 10), "B": (600, 10), "C": (900, 10), "D": (1200, 10), "E": (1500, 10),
    "H": (1050, 410), "G": (1000, 600),
}
CANDIDATES = {"c0": (750, 0), "c1": (1050, 0), "c2": (1350, 0), "c3": (600, 0)}
COVERS = {"c0": {"B", "C"}, "c1": {"C", "D"}, "c2": {"D", "E"}, "c3": {"B"}}
TOTAL = sum(HOUSEHOLDS.values())  # 1,680


def write_study(folder: Path, *, three_districts: bool = False, extra: dict | None = None) -> Path:
    """Write the study's files and profile into ``folder``; return the profile path."""
    write_osm(
        folder / "streets.osm",
        [[(float(x), 0.0) for x in range(0, 2001, 100)], [(1000.0, 400.0), (1100.0, 400.0)]],
    )
    write_points_csv(folder / "nursery.csv", [{"name": "托育点F", "x": 0, "y": 0}])
    write_points_csv(
        folder / "compounds.csv",
        [{"name": f"{k}小区", "households": HOUSEHOLDS[k], "x": x, "y": y}
         for k, (x, y) in COMPOUNDS.items()],
    )
    write_points_csv(
        folder / "candidates.csv",
        [{"name": k, "x": x, "y": y} for k, (x, y) in CANDIDATES.items()],
    )
    write_boxes(folder / "area.geojson", {"研究区": (0, -200, 2000, 700)})
    districts = {"西": (0, -200, 1100, 700), "东": (1100, -200, 2000, 700)}
    if three_districts:
        districts = {"西": (0, -200, 1100, 500), "东": (1100, -200, 2000, 500),
                     "北": (0, 500, 2000, 700)}
    write_boxes(folder / "jiedao.geojson", districts)
    profile = {
        "name": "siting_test",
        "title": {"zh": "选址测试", "en": "Siting test"},
        "study_area": {"file": "area.geojson"},
        "network": {"source": "osm_file", "osm_file": "streets.osm"},
        "snap_limit_m": 150,
        "categories": {
            "nursery": {
                "label": {"zh": "托育", "en": "Nursery"},
                "threshold_m": 300,
                "threshold_source": "test",
                "source": {"file": "nursery.csv", "x": "lon", "y": "lat"},
            },
        },
        "compounds": {
            "source": {"file": "compounds.csv", "x": "lon", "y": "lat", "name_field": "name"},
            "households_field": "households",
            "persons_per_household": PPH,
        },
        "sub_districts": {"file": "jiedao.geojson"},
        "siting": {"candidates": {"file": "candidates.csv", "x": "lon", "y": "lat"}},
        **(extra or {}),
    }
    path = folder / "siting_test.yaml"
    path.write_text(yaml.safe_dump(profile, allow_unicode=True), encoding="utf-8")
    return path
