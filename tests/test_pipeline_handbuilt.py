"""The whole file-based pipeline on a hand-built study with known answers.

Layout (metres, y=0 is the main street from x=0 to x=1000; a side street x=300 from y=0 to 200):

* study area: x 0–600, y −200–500, split into 西街道 (x < 300) and 东街道 (x ≥ 300)
* nursery (300 m): one, at (700, 5) — outside the study area but inside its buffer
* culture (1000 m): one, at (100, −8)
* compounds: A (550, 10, 100 households), B (100, 10, 300 hh), C (350, 450, 50 hh: 250 m from
  the side street's end, 255 m away: beyond the 200 m snap limit), D (800, 10: outside the study area)
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
import yaml

import lifecircle as lc
from lifecircle.schema import ALL_AREAS

from ._handbuilt import write_boxes, write_osm, write_points_csv

PPH = 2.5


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("handbuilt")
    write_osm(
        folder / "streets.osm",
        [[(float(x), 0.0) for x in range(0, 1001, 100)], [(300.0, 0.0), (300.0, 200.0)]],
    )
    write_points_csv(folder / "nursery.csv", [{"name": "托育点F", "x": 700, "y": 5}])
    write_points_csv(folder / "culture.csv", [{"name": "文化中心G", "x": 100, "y": -8}])
    write_points_csv(
        folder / "compounds.csv",
        [
            {"name": "A小区", "households": 100, "x": 550, "y": 10},
            {"name": "B小区", "households": 300, "x": 100, "y": 10},
            {"name": "C小区", "households": 50, "x": 350, "y": 450},
            {"name": "D小区", "households": 999, "x": 800, "y": 10},
        ],
    )
    write_boxes(folder / "area.geojson", {"研究区": (0, -200, 600, 500)})
    write_boxes(
        folder / "jiedao.geojson", {"西街道": (0, -200, 300, 500), "东街道": (300, -200, 600, 500)}
    )
    profile = {
        "name": "handbuilt",
        "title": {"zh": "手工测试", "en": "Hand-built test"},
        "study_area": {"file": "area.geojson"},
        "network": {"source": "osm_file", "osm_file": "streets.osm"},
        "snap_limit_m": 200,
        "walking_speed_kmh": 4.5,
        "categories": {
            "nursery": {
                "label": {"zh": "托育", "en": "Nursery"},
                "threshold_m": 300,
                "threshold_source": "test",
                "source": {"file": "nursery.csv", "x": "lon", "y": "lat"},
            },
            "culture": {
                "label": {"zh": "文化", "en": "Culture"},
                "threshold_m": 1000,
                "threshold_source": "test",
                "source": {"file": "culture.csv", "x": "lon", "y": "lat"},
            },
        },
        "compounds": {
            "source": {"file": "compounds.csv", "x": "lon", "y": "lat", "name_field": "name"},
            "households_field": "households",
            "persons_per_household": PPH,
        },
        "sub_districts": {"file": "jiedao.geojson"},
        "targets": [
            {"category": "complete", "minimum": 0.95},
            {"category": "culture", "measure": "compound_share", "minimum": 0.5},
        ],
    }
    path = folder / "handbuilt.yaml"
    path.write_text(yaml.safe_dump(profile, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def result(study):
    return lc.run(study, progress=False)


def _row(result, name):
    return result.compounds.set_index("name").loc[name]


def test_compounds_outside_the_area_are_not_counted(result):
    assert sorted(result.compounds["name"]) == ["A小区", "B小区", "C小区"]


def test_facility_across_the_boundary_serves_residents(result):
    a = _row(result, "A小区")
    # 10 m to the street, 150 m along it, 5 m from the street to the nursery (UTM vs great-circle
    # lengths differ by < 0.1 m here).
    assert a["nursery_dist_m"] == pytest.approx(165.0, abs=0.2)
    assert a["nursery_min"] == pytest.approx(165.0 / 75.0, abs=0.01)
    assert a["nursery_covered"] and a["nursery_count"] == 1
    assert a["nursery_nearest"] == "托育点F"
    b = _row(result, "B小区")
    assert b["nursery_dist_m"] == pytest.approx(615.0, abs=0.2)
    assert not b["nursery_covered"] and b["nursery_count"] == 0
    assert b["culture_dist_m"] == pytest.approx(18.0, abs=0.2)


def test_compound_beyond_snap_limit_is_flagged_and_uncovered(result):
    c = _row(result, "C小区")
    assert c["access_status"] == "beyond_snap_limit"
    assert c["snap_m"] == pytest.approx(math.hypot(50, 250), abs=0.05)
    assert math.isnan(c["nursery_dist_m"]) and not c["nursery_covered"]
    assert any("snap limit" in note for note in result.notes)


def test_coverage_rates_match_hand_computation(result):
    table = result.coverage.set_index(["area", "category"])
    overall = table.loc[(ALL_AREAS, "nursery")]
    assert overall["n_compounds"] == 3 and overall["n_covered"] == 1
    assert overall["compound_share"] == pytest.approx(1 / 3)
    assert overall["population"] == pytest.approx(450 * PPH)
    assert overall["population_share"] == pytest.approx(100 / 450)
    assert overall["n_flagged"] == 1
    culture = table.loc[(ALL_AREAS, "culture")]
    assert culture["compound_share"] == pytest.approx(2 / 3)
    assert culture["population_share"] == pytest.approx(400 / 450)
    complete = table.loc[(ALL_AREAS, "complete")]
    assert complete["n_covered"] == 1 and complete["population_share"] == pytest.approx(100 / 450)
    east = table.loc[("东街道", "nursery")]
    assert east["n_compounds"] == 2 and east["population_share"] == pytest.approx(100 / 150)
    west = table.loc[("西街道", "complete")]
    assert west["n_compounds"] == 1 and west["n_covered"] == 0


def test_targets_report_met_and_shortfall(result):
    targets = result.targets.set_index("category")
    assert not targets.loc["complete", "met"]
    assert targets.loc["complete", "shortfall"] == pytest.approx(0.95 - 100 / 450)
    assert targets.loc["culture", "met"]
    assert targets.loc["culture", "shortfall"] == 0


def test_outputs_are_written_and_readable(result, tmp_path):
    written = lc.write_outputs(result, tmp_path / "out")
    names = {p.name for p in written}
    assert {"compounds.parquet", "coverage.csv", "targets.csv", "manifest.json"} <= names
    coverage = pd.read_csv(tmp_path / "out" / "coverage.csv", encoding="utf-8-sig")
    assert set(coverage["area"]) == {ALL_AREAS, "西街道", "东街道"}
    import geopandas as gpd

    compounds = gpd.read_parquet(tmp_path / "out" / "compounds.parquet")
    assert compounds.crs.to_epsg() == 4326
    assert compounds.set_index("name").loc["A小区", "nursery_covered"]
    gpkg = gpd.read_file(tmp_path / "out" / "handbuilt.gpkg", layer="facilities")
    assert sorted(gpkg["category"]) == ["culture", "nursery"]


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_failed_runs_leave_existing_outputs_intact(result, study, tmp_path, monkeypatch):
    out = tmp_path / "kept"
    lc.write_outputs(result, out)
    before = _snapshot(out)
    assert "coverage.csv" in before

    # 1. A run that fails while reading its inputs writes nothing.
    broken = lc.load_profile(study)
    broken = broken.model_copy(
        update={
            "compounds": broken.compounds.model_copy(
                update={"source": broken.compounds.source.model_copy(update={"file": "gone.csv"})}
            )
        }
    )
    with pytest.raises(lc.DataError, match="gone.csv"):
        lc.run(broken, progress=False)
    assert _snapshot(out) == before

    # 2. A failure part-way through writing (here: the map) replaces none of the old files.

    def _fail(*args, **kwargs):
        raise OSError("disk full")

    from lifecircle.outputs import html

    monkeypatch.setattr(html, "save_map", _fail)
    changed = result.coverage.assign(n_covered=-1)
    with pytest.raises(OSError, match="disk full"):
        lc.write_outputs(lc.RunResult(**{**result.__dict__, "coverage": changed}), out)
    assert _snapshot(out) == before
    assert not [p for p in out.iterdir() if p.name.startswith(".staging")]


def test_empty_facility_layer_warns_and_counts_nobody_covered(study, tmp_path):
    profile = lc.load_profile(study)
    empty = tmp_path / "empty.csv"
    empty.write_text("name,lon,lat\n托育点X,121.0,10.0\n", encoding="utf-8")  # far away
    nursery = profile.categories["nursery"]
    changed = {
        **profile.categories,
        "nursery": nursery.model_copy(
            update={"source": nursery.source.model_copy(update={"file": empty})}
        ),
    }
    result = lc.run(profile.model_copy(update={"categories": changed}), progress=False)
    assert any("no 托育 / Nursery facilities" in note for note in result.notes)
    assert not result.compounds["nursery_covered"].any()
    assert result.compounds["nursery_dist_m"].isna().all()


def test_gcj02_layer_declared_as_wgs84_warns(study, tmp_path):
    """On a sparse network, a GCJ-02 offset (hundreds of metres) makes snaps implausible."""
    import prcoords

    from ._handbuilt import lonlat

    profile = lc.load_profile(study)
    rows = []
    for i, x in enumerate(range(20, 600, 40)):
        lon, lat = lonlat(x, 15)
        gcj = prcoords.wgs_gcj(prcoords.Coords(lat, lon))
        rows.append({"name": f"小区{i}", "households": 10, "lon": gcj.lon, "lat": gcj.lat})
    path = tmp_path / "gcj_compounds.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    source = profile.compounds.source.model_copy(update={"file": path, "crs": "wgs84"})
    area = write_boxes(tmp_path / "big.geojson", {"大研究区": (-300, -600, 1300, 600)})
    bad = profile.model_copy(
        update={
            "compounds": profile.compounds.model_copy(update={"source": source}),
            "study_area": profile.study_area.model_copy(update={"file": area}),
            "snap_limit_m": 500,
        }
    )
    result = lc.run(bad, progress=False)
    assert result.compounds["snap_m"].median() > 150
    assert any("look like GCJ02" in note and "crs: gcj02" in note for note in result.notes)
    # Declared correctly, the same file snaps where it was drawn: 15 m from the street.
    good = bad.model_copy(
        update={
            "compounds": bad.compounds.model_copy(
                update={"source": source.model_copy(update={"crs": "gcj02"})}
            )
        }
    )
    fixed = lc.run(good, progress=False)
    assert fixed.compounds["snap_m"].median() == pytest.approx(15, abs=0.1)
    assert not any("GCJ02" in note for note in fixed.notes)


def test_a_category_can_merge_several_sources(study, tmp_path):
    """OSM tags and/or files: here two files, each with one nursery, are merged."""
    profile = lc.load_profile(study)
    extra = write_points_csv(tmp_path / "more.csv", [{"name": "托育点H", "x": 450, "y": -5}])
    nursery = profile.categories["nursery"]
    second = nursery.source.model_copy(update={"file": extra, "credit": "区托育名录 (test)"})
    merged = nursery.model_copy(update={"source": [nursery.source, second]})
    result = lc.run(
        profile.model_copy(update={"categories": {**profile.categories, "nursery": merged}}),
        progress=False,
    )
    a = _row(result, "A小区")
    # H is 100 m west of A along the street, F 150 m east: both within 300 m.
    assert a["nursery_count"] == 2
    assert a["nursery_dist_m"] == pytest.approx(10 + 100 + 5, abs=0.2)
    assert a["nursery_nearest"] == "托育点H"
    assert "区托育名录 (test)" in result.credits
    assert sorted(result.facilities.query("category == 'nursery'")["name"]) == ["托育点F", "托育点H"]


def test_runs_are_deterministic(study, result):
    again = lc.run(study, progress=False)
    pd.testing.assert_frame_equal(
        pd.DataFrame(again.compounds.drop(columns="geometry")),
        pd.DataFrame(result.compounds.drop(columns="geometry")),
    )
    pd.testing.assert_frame_equal(again.coverage, result.coverage)
    assert again.compounds.geometry.equals(result.compounds.geometry)
