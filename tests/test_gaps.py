"""Gap layers on the hand-built report study (tests/_report_study.py) with known answers."""

from __future__ import annotations

import dataclasses
import math

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point, box

import lifecircle as lc
from lifecircle.analysis import gaps
from lifecircle.schema import ALL_AREAS

from ._handbuilt import X0, Y0
from ._report_study import HALF_H, HALF_W, PPH, write_study

UTM = "EPSG:32651"


@pytest.fixture(scope="module")
def points_result(tmp_path_factory):
    return lc.run(write_study(tmp_path_factory.mktemp("gap_points")), progress=False)


@pytest.fixture(scope="module")
def polygons_result(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gap_polygons")
    return lc.run(write_study(folder, polygons=True), progress=False)


def utm_box(x1, y1, x2, y2):
    """A rectangle given in study metres, as a UTM polygon."""
    return box(X0 + x1, Y0 + y1, X0 + x2, Y0 + y2)


def test_uncovered_compounds_list_who_and_why(points_result):
    elderly = gaps.uncovered_compounds(points_result, "elderly_care")
    assert elderly.crs.to_epsg() == 4326
    # Largest population first: A (100 households) before C (50).
    assert elderly["name"].tolist() == ["A小区", "C小区"]
    a, c = elderly.iloc[0], elderly.iloc[1]
    assert a["population"] == pytest.approx(100 * PPH) and a["sub_district"] == "东街道"
    # 10 m to the street, 530 m along it, 5 m to the elderly-care point at (20, 5).
    assert a["dist_m"] == pytest.approx(545.0, abs=0.2)
    assert a["minutes"] == pytest.approx(545.0 / 75.0, abs=0.01)
    assert a["threshold_m"] == 500 and a["nearest"] == "养老E"
    assert a["gap_reason"] == gaps.REASON_BEYOND_THRESHOLD and a["access_status"] == "ok"
    assert math.isnan(c["dist_m"]) and c["gap_reason"] == "beyond_snap_limit"
    shelter = gaps.uncovered_compounds(points_result, "shelter")
    assert shelter["name"].tolist() == ["C小区"]


def test_uncovered_complete_names_the_missing_categories(points_result):
    complete = gaps.uncovered_compounds(points_result, "complete").set_index("name")
    assert sorted(complete.index) == ["A小区", "C小区"]
    assert complete.loc["A小区", "missing"] == "elderly_care"
    assert complete.loc["C小区", "missing"] == "nursery, culture, elderly_care, shelter"
    assert complete.loc["C小区", "gap_reason"] == "beyond_snap_limit"


def test_no_facility_reachable_is_its_own_reason(points_result):
    compounds = points_result.compounds.copy()
    a = compounds["name"] == "A小区"
    compounds.loc[a, ["elderly_care_dist_m", "elderly_care_min"]] = np.nan
    changed = dataclasses.replace(points_result, compounds=compounds)
    elderly = gaps.uncovered_compounds(changed, "elderly_care").set_index("name")
    assert elderly.loc["A小区", "gap_reason"] == gaps.REASON_NO_FACILITY


def test_uncovered_population_per_sub_district(points_result):
    table = gaps.uncovered_population(points_result).set_index(["area", "category"])
    assert list(table.index.get_level_values(0).unique()) == [ALL_AREAS, "东街道", "西街道"]
    row = table.loc[(ALL_AREAS, "elderly_care")]
    assert (row["n_compounds"], row["n_uncovered"], row["n_uncovered_off_network"]) == (3, 2, 1)
    assert row["uncovered_population"] == pytest.approx(150 * PPH)
    assert row["uncovered_share"] == pytest.approx(150 / 450)
    assert (row["label_zh"], row["label_en"]) == ("养老", "Elderly care")
    east = table.loc[("东街道", "elderly_care")]
    assert east["n_uncovered"] == 2 and east["uncovered_share"] == pytest.approx(1.0)
    west = table.loc[("西街道", "complete")]
    assert west["n_uncovered"] == 0 and west["uncovered_population"] == 0
    nursery = table.loc[(ALL_AREAS, "nursery")]
    assert nursery["n_uncovered"] == 1 and nursery["uncovered_population"] == pytest.approx(50 * PPH)
    # Consistent with the run's coverage table.
    coverage = points_result.coverage.set_index(["area", "category"])
    both = table.join(coverage[["n_covered", "population_covered"]])
    assert (both["n_uncovered"] == both["n_compounds"] - both["n_covered"]).all()
    assert np.allclose(both["uncovered_population"], both["population"] - both["population_covered"])


def test_point_compounds_have_no_land_layers(points_result):
    layers = gaps.gap_layers(points_result)
    assert list(layers) == [
        "uncovered_nursery",
        "uncovered_culture",
        "uncovered_elderly_care",
        "uncovered_shelter",
        "uncovered_complete",
    ]


def test_land_outside_a_given_service_area_is_exact(polygons_result):
    assert set(polygons_result.compounds.geom_type) == {"Polygon"}
    # Nursery serves everything west of x = 555: A (540–560) keeps a 5 m x 10 m strip outside.
    areas = gpd.GeoDataFrame(
        {"category": ["nursery"]}, geometry=[utm_box(-1000, -1000, 555, 1000)], crs=UTM
    ).to_crs(4326)
    land = gaps.gap_land(polygons_result, "nursery", areas)
    assert land.crs.to_epsg() == 4326
    assert land["name"].tolist() == ["A小区"]
    assert land["land_m2"].iloc[0] == pytest.approx(4 * HALF_W * HALF_H, rel=1e-6)
    assert land["outside_m2"].iloc[0] == pytest.approx(5 * 2 * HALF_H, rel=1e-4)
    assert land["outside_share"].iloc[0] == pytest.approx(0.25, rel=1e-4)
    assert bool(land["covered"].iloc[0])  # by walking distance A is covered: land is not people
    strip = land.to_crs(UTM).geometry.iloc[0]
    assert strip.bounds == pytest.approx((X0 + 555, Y0 + 5, X0 + 560, Y0 + 15), abs=1e-3)
    # A category without a service area has all its land outside.
    culture = gaps.gap_land(polygons_result, "culture", areas)
    assert sorted(culture["name"]) == ["A小区", "B小区", "C小区"]
    assert np.allclose(culture["outside_share"], 1.0)
    # The complete life circle needs every required category's area: here none is complete.
    complete = gaps.gap_land(polygons_result, "complete", areas)
    assert len(complete) == 3


def test_gap_layers_with_real_service_areas(polygons_result):
    service_areas = gaps.result_service_areas(polygons_result)
    assert service_areas["category"].tolist() == ["nursery", "culture", "elderly_care", "shelter"]
    assert service_areas.crs.to_epsg() == 4326
    areas = service_areas.set_index("category").to_crs(UTM).geometry
    # Covered compounds' points lie in their categories' areas; C (off the network) in none.
    for name, x, y in (("A", 550, 10), ("B", 100, 10)):
        assert areas["nursery"].contains(Point(X0 + x, Y0 + y)), name
        assert areas["shelter"].contains(Point(X0 + x, Y0 + y)), name
    assert not any(area.contains(Point(X0 + 350, Y0 + 450)) for area in areas)

    layers = gaps.gap_layers(polygons_result, service_areas)
    assert set(layers) == {
        f"{kind}_{key}"
        for kind in ("uncovered", "gap_land")
        for key in ("nursery", "culture", "elderly_care", "shelter", "complete")
    }
    # Only C's land lies outside the nursery and shelter areas, all of it.
    for key in ("nursery", "shelter"):
        land = layers[f"gap_land_{key}"]
        assert land["name"].tolist() == ["C小区"]
        assert land["outside_share"].iloc[0] == pytest.approx(1.0)
    # Elderly care reaches x = 515 along the street, plus the 40 m band: A's land east of
    # x = 555 is outside, and some of its corners west of that line (the band's round end).
    elderly = layers["gap_land_elderly_care"].set_index("name")
    assert sorted(elderly.index) == ["A小区", "C小区"]
    assert 50.0 < elderly.loc["A小区", "outside_m2"] < 100.0
    compound = polygons_result.compounds.set_index("name").to_crs(UTM).geometry["A小区"]
    outside = elderly.to_crs(UTM).geometry["A小区"]
    assert outside.difference(compound).area < 1e-6


def test_invalid_compound_polygons_are_repaired(polygons_result):
    # A drawn as a bow-tie (self-intersecting, as OpenStreetMap polygons sometimes are): two
    # triangles of 50 m² meeting at (550, 10).
    from shapely.geometry import Polygon

    bow_tie = Polygon([(X0 + x, Y0 + y) for x, y in ((540, 5), (560, 15), (560, 5), (540, 15))])
    assert not bow_tie.is_valid
    compounds = polygons_result.compounds.to_crs(UTM)
    compounds.loc[compounds["name"] == "A小区", "geometry"] = bow_tie
    broken = dataclasses.replace(polygons_result, compounds=compounds.to_crs(4326))
    areas = gpd.GeoDataFrame(
        {"category": ["nursery"]}, geometry=[utm_box(-1000, -1000, 555, 1000)], crs=UTM
    )
    land = gaps.gap_land(broken, "nursery", areas).set_index("name")
    assert land.loc["A小区", "land_m2"] == pytest.approx(100.0, rel=1e-4)
    # East of x = 555 the right triangle is (x − 550) m tall: 37.5 m² between 555 and 560.
    assert land.loc["A小区", "outside_m2"] == pytest.approx(37.5, rel=1e-4)
