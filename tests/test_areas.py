"""Study area and sub-district polygons: offline district lookup, files, buffers, and the
OpenStreetMap paths with osmnx replaced by fakes (tests never go online)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import osmnx as ox
import pandas as pd
import pytest
import requests
import shapely
from shapely.geometry import LineString, Point, box

from lifecircle import settings
from lifecircle.errors import DataError, LifecircleWarning, OfflineError
from lifecircle.profile import Profile, load_profile
from lifecircle.sources import areas

UTM = "EPSG:32651"
X0, Y0 = 350_000.0, 3_450_000.0  # a point of UTM 51N near Shanghai


def _profile(tmp_path: Path, **fields: Any) -> Profile:
    data: dict[str, Any] = {
        "name": "test",
        "title": {"zh": "测试", "en": "Test"},
        "study_area": {"district": "长宁区"},
        "categories": {
            "nursery": {
                "label": {"zh": "幼儿园", "en": "Kindergarten"},
                "threshold_m": 300,
                "threshold_source": "GB 50180-2018 Table 3.0.4",
                "source": {"osm_tags": {"amenity": "kindergarten"}},
            }
        },
        "compounds": {"source": {"osm_tags": {"landuse": "residential"}}},
        "base_dir": tmp_path,
    }
    data.update(fields)
    return Profile.model_validate(data)


def _utm_frame(geometries: list, **columns: list) -> gpd.GeoDataFrame:
    """Shapes drawn in metres, returned in WGS84."""
    return gpd.GeoDataFrame(columns, geometry=geometries, crs=UTM).to_crs("EPSG:4326")


def _km2(gdf: gpd.GeoDataFrame) -> float:
    return float(gdf.to_crs(UTM).area.sum() / 1e6)


def _iou(a, b) -> float:
    return a.intersection(b).area / a.union(b).area


# --- districts (offline) --------------------------------------------------------------------


@pytest.mark.realdata
@pytest.mark.parametrize(("district", "km2"), [("长宁区", 38.0), ("黄浦区", 20.5)])
def test_district_polygons_are_plausible_and_match_shared_data(
    tmp_path: Path, shared_data: Path, district: str, km2: float
) -> None:
    area = areas.study_area_polygon(_profile(tmp_path, study_area={"district": district}))
    assert list(area.columns) == ["name", "geometry"]
    assert len(area) == 1 and area["name"].iloc[0] == district
    assert area.crs.to_epsg() == 4326
    assert _km2(area) == pytest.approx(km2, rel=0.05)

    shipped = gpd.read_file(shared_data / "shanghai_districts_cgcs2000.geojson")
    reference = shipped[shipped["name"] == district].to_crs(UTM).union_all()
    assert _iou(area.to_crs(UTM).union_all(), reference) > 0.9


def test_builtin_changning_profile_resolves_offline() -> None:
    area = areas.study_area_polygon(load_profile("changning"))
    assert area["name"].iloc[0] == "长宁区"
    # Changning lies west of the Huangpu river: its centroid is near 121.39 E, 31.21 N.
    centroid = area.to_crs(UTM).centroid.to_crs("EPSG:4326").iloc[0]
    assert centroid.distance(Point(121.39, 31.21)) < 0.03


@pytest.mark.parametrize(
    ("text", "gb"),
    [
        ("上海市长宁区", "156310105"),
        ("上海长宁区", "156310105"),
        ("310105", "156310105"),
        ("156310101", "156310101"),
        ("南京市鼓楼区", "156320106"),
        ("江苏省南京市鼓楼区", "156320106"),
        ("福州市鼓楼区", "156350102"),
    ],
)
def test_qualified_names_and_codes(text: str, gb: str) -> None:
    assert areas.district_polygon(text)["gb"].iloc[0] == gb


def test_ambiguous_district_lists_candidates_with_codes() -> None:
    with pytest.raises(DataError) as info:
        areas.district_polygon("鼓楼区")
    message = str(info.value)
    for gb in ("156320106", "156320302", "156410204", "156350102"):
        assert gb in message
    assert "南京市" in message and "where" in message and "study_area.file" in message


def test_where_picks_one_of_the_ambiguous_districts(tmp_path: Path) -> None:
    profile = _profile(tmp_path, study_area={"district": "鼓楼区", "where": {"gb": "320302"}})
    area = areas.study_area_polygon(profile)
    centroid = area.to_crs(UTM).centroid.to_crs("EPSG:4326").iloc[0]
    assert centroid.distance(Point(117.2, 34.3)) < 0.2  # Xuzhou, not Nanjing (118.8, 32.1)


def test_unknown_district() -> None:
    with pytest.raises(DataError, match="长宁区"):
        areas.district_polygon("长宁")  # missing 区: the message suggests the full name
    with pytest.raises(DataError, match="南京市鼓楼区"):
        areas.district_polygon("上海市鼓楼区")  # exists, but not in Shanghai


# --- study area from a file -----------------------------------------------------------------


def _write_squares(tmp_path: Path) -> Path:
    squares = _utm_frame(
        [
            box(X0, Y0, X0 + 1000, Y0 + 1000),
            box(X0 + 1000, Y0, X0 + 3000, Y0 + 1000),
            box(X0 + 5000, Y0, X0 + 6000, Y0 + 500),
        ],
        district=["甲区", "乙区", "丙区"],
    )
    path = tmp_path / "districts.geojson"
    squares.to_file(path)
    return path


def test_study_area_from_file_with_where(tmp_path: Path) -> None:
    _write_squares(tmp_path)
    profile = _profile(
        tmp_path,
        study_area={"file": "districts.geojson", "where": {"district": "乙区"}},
    )
    area = areas.study_area_polygon(profile)
    assert area["name"].iloc[0] == "乙区"
    assert _km2(area) == pytest.approx(2.0, rel=1e-4)


def test_study_area_from_file_dissolves_several_rows(tmp_path: Path) -> None:
    _write_squares(tmp_path)
    profile = _profile(
        tmp_path,
        study_area={
            "file": "districts.geojson",
            "where": {"district": ["甲区", "乙区"]},
            "label": {"zh": "甲乙", "en": "A+B"},
        },
    )
    area = areas.study_area_polygon(profile)
    assert area["name"].iloc[0] == "甲乙"
    assert _km2(area) == pytest.approx(3.0, rel=1e-4)
    assert area.geometry.iloc[0].geom_type == "Polygon"  # adjacent squares merged


def test_study_area_file_of_points_is_refused(tmp_path: Path) -> None:
    points = _utm_frame([Point(X0, Y0), Point(X0 + 10, Y0)], name=["a", "b"])
    points.to_file(tmp_path / "points.geojson")
    profile = _profile(tmp_path, study_area={"file": "points.geojson"})
    with pytest.raises(DataError, match="no polygons.*Point"):
        areas.study_area_polygon(profile)


@pytest.mark.realdata
def test_builtin_huangpu_profile_uses_file_and_where(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIFECIRCLE_SHARED_DATA", str(shared_data))
    area = areas.study_area_polygon(load_profile("huangpu"))
    assert area["name"].iloc[0] == "黄浦区"
    assert _km2(area) == pytest.approx(20.5, rel=0.05)


# --- buffers --------------------------------------------------------------------------------


@pytest.mark.parametrize("side", [1000.0, 2500.0])
@pytest.mark.parametrize("radius", [100.0, 1000.0])
def test_buffer_grows_a_square_like_the_analytic_formula(side: float, radius: float) -> None:
    square = _utm_frame([box(X0, Y0, X0 + side, Y0 + side)]).geometry.iloc[0]
    grown = areas.buffer_polygon(square, radius, UTM)
    area = gpd.GeoSeries([grown], crs="EPSG:4326").to_crs(UTM).area.iloc[0]
    # area + perimeter·r + π r²
    expected = side**2 + 4 * side * radius + math.pi * radius**2
    assert area == pytest.approx(expected, rel=2e-3)


def test_negative_buffer_shrinks_a_square() -> None:
    square = _utm_frame([box(X0, Y0, X0 + 1000, Y0 + 1000)]).geometry.iloc[0]
    shrunk = areas.buffer_polygon(square, -100.0, UTM)
    area = gpd.GeoSeries([shrunk], crs="EPSG:4326").to_crs(UTM).area.iloc[0]
    assert area == pytest.approx(800.0**2, rel=1e-4)


# --- sub-districts from a file --------------------------------------------------------------


def _square_study_area() -> gpd.GeoDataFrame:
    return _utm_frame([box(X0, Y0, X0 + 2000, Y0 + 2000)], name=["测试区"])


def _write_streets(tmp_path: Path, geometries: list, names: list[str]) -> None:
    _utm_frame(geometries, 街道名称=names, code=list(range(len(names)))).to_file(
        tmp_path / "streets.geojson"
    )


def test_sub_districts_from_a_file_are_filtered_and_clipped(tmp_path: Path) -> None:
    _write_streets(
        tmp_path,
        [
            box(X0, Y0, X0 + 1000, Y0 + 2000),  # west half
            box(X0 + 1000, Y0 - 50, X0 + 2000, Y0 + 2000),  # east half, 50 m overhang
            box(X0 + 1900, Y0, X0 + 3000, Y0 + 2000),  # neighbour, only 9% inside
        ],
        ["西街道", "东街道", "邻街道"],
    )
    profile = _profile(
        tmp_path, sub_districts={"file": "streets.geojson", "name_field": "街道名称"}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", LifecircleWarning)  # full coverage: no warning
        subs = areas.sub_district_polygons(profile, _square_study_area())
    assert list(subs["name"]) == ["西街道", "东街道"]
    assert "code" in subs.columns and subs.crs.to_epsg() == 4326
    np.testing.assert_allclose(subs.to_crs(UTM).area, [2e6, 2e6], rtol=1e-4)  # overhang clipped
    union = shapely.union_all(subs.to_crs(UTM).geometry.values)
    assert union.area == pytest.approx(4e6, rel=1e-4)


def test_sub_districts_covering_part_of_the_area_warn(tmp_path: Path) -> None:
    _write_streets(tmp_path, [box(X0, Y0, X0 + 1000, Y0 + 2000)], ["西街道"])
    profile = _profile(
        tmp_path, sub_districts={"file": "streets.geojson", "name_field": "街道名称"}
    )
    with pytest.warns(LifecircleWarning, match="50%"):
        subs = areas.sub_district_polygons(profile, _square_study_area())
    assert len(subs) == 1


def test_sub_districts_outside_the_area_are_an_error(tmp_path: Path) -> None:
    _write_streets(tmp_path, [box(X0 + 5000, Y0, X0 + 6000, Y0 + 1000)], ["远街道"])
    profile = _profile(
        tmp_path, sub_districts={"file": "streets.geojson", "name_field": "街道名称"}
    )
    with pytest.raises(DataError, match="none of its 1 polygons"):
        areas.sub_district_polygons(profile, _square_study_area())


def test_sub_district_name_field_must_exist(tmp_path: Path) -> None:
    _write_streets(tmp_path, [box(X0, Y0, X0 + 2000, Y0 + 2000)], ["全街道"])
    profile = _profile(tmp_path, sub_districts={"file": "streets.geojson"})  # name_field: name
    with pytest.raises(DataError, match="'name'.*街道名称"):
        areas.sub_district_polygons(profile, _square_study_area())


def test_no_sub_districts_in_profile(tmp_path: Path) -> None:
    assert areas.sub_district_polygons(_profile(tmp_path), _square_study_area()) is None


# --- OpenStreetMap paths, with osmnx replaced ------------------------------------------------


def test_sub_districts_from_osm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    polygons = _utm_frame(
        [
            box(X0, Y0, X0 + 1000, Y0 + 2000),
            box(X0 + 1000, Y0, X0 + 2000, Y0 + 2000),
            box(X0 + 1900, Y0, X0 + 3000, Y0 + 2000),  # neighbour
            LineString([(X0, Y0), (X0 + 2000, Y0)]),  # a boundary way
            Point(X0 + 500, Y0 + 500),  # an admin_centre node
        ],
        name=["West Street", "东街道", "邻街道", "", "centre"],
        **{"name:zh": ["西街道", None, None, None, None]},
        **{"name:en": ["West", "East", None, None, None]},
    )
    polygons.index = pd.MultiIndex.from_tuples(
        [("relation", i) for i in range(3)] + [("way", 7), ("node", 8)],
        names=["element", "id"],
    )
    calls: list[tuple[Any, dict]] = []

    def fake_features(polygon, tags):
        calls.append((polygon, tags))
        return polygons

    monkeypatch.setattr(areas, "probe_service", lambda url: True)
    monkeypatch.setattr(ox, "features_from_polygon", fake_features)
    profile = _profile(tmp_path, sub_districts={"osm_admin_level": 8})
    study_area = _square_study_area()
    subs = areas.sub_district_polygons(profile, study_area)

    assert calls[0][1] == {"boundary": "administrative", "admin_level": "8"}
    assert calls[0][0].equals(study_area.geometry.iloc[0])
    assert list(subs["name"]) == ["西街道", "东街道"]  # name:zh preferred, else name
    assert list(subs["name_en"]) == ["West", "East"]
    np.testing.assert_allclose(subs.to_crs(UTM).area, [2e6, 2e6], rtol=1e-4)


def test_offline_place_lookup_says_how_to_work_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, float] = {}

    def unreachable(query, **kwargs):
        seen["timeout"] = ox.settings.requests_timeout
        raise requests.exceptions.ConnectionError("Name or service not known")

    monkeypatch.setattr(areas, "probe_service", lambda url: False)
    monkeypatch.setattr(ox, "geocode_to_gdf", unreachable)
    timeout_before = ox.settings.requests_timeout
    profile = _profile(tmp_path, study_area={"place": "Changning District, Shanghai"})
    with pytest.raises(OfflineError) as info:
        areas.study_area_polygon(profile)
    message = str(info.value)
    assert "Nominatim" in message and "study_area.district" in message
    assert "study_area.file" in message
    # An unreachable service fails fast, and osmnx's settings are restored afterwards.
    assert seen["timeout"] == settings.reachability_timeout_s
    assert ox.settings.requests_timeout == timeout_before


def test_offline_sub_districts_say_how_to_supply_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(polygon, tags):
        raise requests.exceptions.ConnectTimeout("timed out")

    monkeypatch.setattr(areas, "probe_service", lambda url: False)
    monkeypatch.setattr(ox, "features_from_polygon", unreachable)
    profile = _profile(tmp_path, sub_districts={"osm_admin_level": 8})
    with pytest.raises(OfflineError, match="Overpass.*sub_districts: {file:"):
        areas.sub_district_polygons(profile, _square_study_area())


def test_place_geocoded_to_a_polygon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _utm_frame([box(X0, Y0, X0 + 1500, Y0 + 1000)], display_name=["somewhere"])
    monkeypatch.setattr(areas, "probe_service", lambda url: True)
    monkeypatch.setattr(ox, "geocode_to_gdf", lambda query, **kwargs: result)
    area = areas.study_area_polygon(_profile(tmp_path, study_area={"place": "Somewhere"}))
    assert area["name"].iloc[0] == "Somewhere"
    assert _km2(area) == pytest.approx(1.5, rel=1e-4)


def test_place_that_is_a_point_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _utm_frame([Point(X0, Y0)])
    monkeypatch.setattr(areas, "probe_service", lambda url: True)
    monkeypatch.setattr(ox, "geocode_to_gdf", lambda query, **kwargs: result)
    with pytest.raises(DataError, match="Point, not an area"):
        areas.study_area_polygon(_profile(tmp_path, study_area={"place": "A statue"}))
