"""Reading layers from files: formats, encodings, column detection, filters, names, errors."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import fast_geocn.coord as fgc
import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
from shapely.geometry import box

from lifecircle.crs import xy_to_wgs84
from lifecircle.errors import CRSError, DataError, LifecircleWarning
from lifecircle.sources.tables import SUPPORTED_SUFFIXES, read_layer

GEOD = pyproj.Geod(ellps="WGS84")

# Three kindergartens near People's Square, Shanghai (made up, WGS84).
POINTS = pd.DataFrame(
    {
        "name": ["甲幼儿园", "乙幼儿园", "丙幼儿园"],
        "district": ["黄浦区", "黄浦区", "静安区"],
        "capacity": [120, 90, 200],
        "lon": [121.4737, 121.4801, 121.4550],
        "lat": [31.2304, 31.2250, 31.2400],
    }
)


def _xy(gdf: gpd.GeoDataFrame) -> np.ndarray:
    return np.column_stack([gdf.geometry.x, gdf.geometry.y])


# --- formats --------------------------------------------------------------------------------


def test_csv_points_keep_attributes_and_coordinates(tmp_path: Path) -> None:
    path = tmp_path / "pois.csv"
    POINTS.to_csv(path, index=False)
    gdf = read_layer(path)
    assert gdf.crs.to_epsg() == 4326
    np.testing.assert_allclose(_xy(gdf), POINTS[["lon", "lat"]].to_numpy())
    assert list(gdf["name"]) == list(POINTS["name"])
    assert list(gdf["capacity"]) == [120, 90, 200]
    assert list(gdf.columns) == ["name", "district", "capacity", "lon", "lat", "geometry"]


def test_gbk_csv_with_chinese_headers(tmp_path: Path) -> None:
    table = POINTS.rename(columns={"name": "名称", "lon": "经度", "lat": "纬度"})
    path = tmp_path / "pois_gbk.csv"
    table.to_csv(path, index=False, encoding="gbk")
    with pytest.raises(UnicodeDecodeError):
        path.read_text(encoding="utf-8")  # really not UTF-8
    gdf = read_layer(path)
    np.testing.assert_allclose(_xy(gdf), POINTS[["lon", "lat"]].to_numpy())
    assert list(gdf["name"]) == list(POINTS["name"])  # from 名称


def test_utf8_bom_csv(tmp_path: Path) -> None:
    path = tmp_path / "pois_bom.csv"
    POINTS.to_csv(path, index=False, encoding="utf-8-sig")
    gdf = read_layer(path)
    assert "name" in gdf.columns and "\ufeffname" not in gdf.columns
    assert list(gdf["name"]) == list(POINTS["name"])


def test_xlsx_sheet_by_name_and_missing_sheet(tmp_path: Path) -> None:
    path = tmp_path / "pois.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        pd.DataFrame({"note": ["cover sheet"]}).to_excel(writer, sheet_name="说明", index=False)
        POINTS.to_excel(writer, sheet_name="pois", index=False)
    gdf = read_layer(path, sheet="pois")
    np.testing.assert_allclose(_xy(gdf), POINTS[["lon", "lat"]].to_numpy())
    assert len(read_layer(path, sheet=1)) == 3
    with pytest.raises(DataError, match="说明, pois"):
        read_layer(path, sheet="facilities")


def test_geojson_polygons_with_their_own_crs(tmp_path: Path) -> None:
    x0, y0 = 350_000, 3_450_000  # UTM 51N, near Shanghai
    squares = gpd.GeoDataFrame(
        {"街道": ["A", "B"]},
        geometry=[box(x0, y0, x0 + 1000, y0 + 1000), box(x0 + 1000, y0, x0 + 2000, y0 + 1000)],
        crs="EPSG:32651",
    )
    path = tmp_path / "streets.geojson"
    squares.to_file(path)
    gdf = read_layer(path, crs="EPSG:32651", name_field="街道")
    assert gdf.crs.to_epsg() == 4326
    assert list(gdf["name"]) == ["A", "B"]
    areas = gdf.to_crs("EPSG:32651").area.to_numpy()
    np.testing.assert_allclose(areas, 1e6, rtol=1e-6)


def test_gpkg_layers(tmp_path: Path) -> None:
    path = tmp_path / "data.gpkg"
    points = gpd.GeoDataFrame(
        POINTS.drop(columns=["lon", "lat"]),
        geometry=gpd.points_from_xy(POINTS["lon"], POINTS["lat"]),
        crs="EPSG:4326",
    )
    points.to_file(path, layer="kindergartens")
    points.iloc[:1].to_file(path, layer="other")
    gdf = read_layer(path, layer="kindergartens")
    np.testing.assert_allclose(_xy(gdf), POINTS[["lon", "lat"]].to_numpy())
    with pytest.raises(DataError, match="several layers.*kindergartens"):
        read_layer(path)
    with pytest.raises(DataError, match="no layer 'schools'"):
        read_layer(path, layer="schools")


def test_shapefile(tmp_path: Path) -> None:
    path = tmp_path / "pois.shp"
    gpd.GeoDataFrame(
        {"name": ["a", "b", "c"]},
        geometry=gpd.points_from_xy(POINTS["lon"], POINTS["lat"]),
        crs="EPSG:4326",
    ).to_file(path)
    np.testing.assert_allclose(_xy(read_layer(path)), POINTS[["lon", "lat"]].to_numpy())


def test_geoparquet_and_plain_parquet(tmp_path: Path) -> None:
    geo = tmp_path / "pois_geo.parquet"
    gpd.GeoDataFrame(
        POINTS.drop(columns=["lon", "lat"]),
        geometry=gpd.points_from_xy(POINTS["lon"], POINTS["lat"]),
        crs="EPSG:4326",
    ).to_parquet(geo)
    plain = tmp_path / "pois_table.parquet"
    POINTS.rename(columns={"lon": "X", "lat": "Y"}).to_parquet(plain)
    for path in (geo, plain):
        gdf = read_layer(path)
        np.testing.assert_allclose(_xy(gdf), POINTS[["lon", "lat"]].to_numpy())
        assert list(gdf["name"]) == list(POINTS["name"])


def test_gcj02_table_is_converted(tmp_path: Path) -> None:
    path = tmp_path / "amap.csv"
    POINTS.rename(columns={"lon": "lng_gcj02", "lat": "lat_gcj02"}).to_csv(path, index=False)
    gdf = read_layer(path, crs="gcj02")
    expected_lon, expected_lat = xy_to_wgs84(POINTS["lon"], POINTS["lat"], "gcj02")
    np.testing.assert_allclose(_xy(gdf), np.column_stack([expected_lon, expected_lat]))
    # The raw columns are kept as they were.
    assert list(gdf["lng_gcj02"]) == list(POINTS["lon"])


# --- columns, filters, names ----------------------------------------------------------------


def test_explicit_columns_and_name_field(tmp_path: Path) -> None:
    path = tmp_path / "pois.csv"
    POINTS.rename(columns={"lon": "E", "lat": "N", "name": "title"}).to_csv(path, index=False)
    gdf = read_layer(path, x="E", y="N", name_field="title")
    np.testing.assert_allclose(_xy(gdf), POINTS[["lon", "lat"]].to_numpy())
    assert list(gdf["name"]) == list(POINTS["name"])
    with pytest.raises(DataError, match="'label'.*title"):
        read_layer(path, x="E", y="N", name_field="label")
    with pytest.raises(DataError, match="'east'.*E, N"):
        read_layer(path, x="east", y="N")


def test_no_name_column_gives_empty_names(tmp_path: Path) -> None:
    path = tmp_path / "pois.csv"
    POINTS.drop(columns="name").to_csv(path, index=False)
    assert list(read_layer(path)["name"]) == ["", "", ""]


def test_ambiguous_coordinate_columns_are_named(tmp_path: Path) -> None:
    path = tmp_path / "pois.csv"
    POINTS.assign(lng=POINTS["lon"] + 0.01).to_csv(path, index=False)
    with pytest.raises(DataError, match="'lon', 'lng'") as info:
        read_layer(path)
    assert "x:" in str(info.value)


def test_missing_coordinate_columns_list_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "pois.csv"
    POINTS.drop(columns=["lon", "lat"]).to_csv(path, index=False)
    with pytest.raises(DataError, match="name, district, capacity"):
        read_layer(path)


def test_where_filter(tmp_path: Path) -> None:
    path = tmp_path / "pois.csv"
    POINTS.to_csv(path, index=False)
    assert list(read_layer(path, where={"district": "黄浦区"})["name"]) == ["甲幼儿园", "乙幼儿园"]
    both = read_layer(path, where={"district": ["黄浦区", "静安区"], "capacity": "90"})
    assert list(both["name"]) == ["乙幼儿园"]  # numbers compare as text
    with pytest.raises(DataError, match="'区'.*name, district"):
        read_layer(path, where={"区": "黄浦区"})
    with pytest.raises(DataError, match="'黄浦区'.*'静安区'") as info:
        read_layer(path, where={"district": "徐汇区"})
    assert "徐汇区" in str(info.value)


def test_rows_without_coordinates_are_dropped_with_a_count(tmp_path: Path) -> None:
    path = tmp_path / "pois.csv"
    table = POINTS.astype({"lon": object})
    table.loc[1, "lon"] = "unknown"
    table.loc[2, "lat"] = np.nan
    table.to_csv(path, index=False)
    with pytest.warns(LifecircleWarning, match="2 of 3 row"):
        gdf = read_layer(path)
    assert list(gdf["name"]) == ["甲幼儿园"]


def test_clean_file_raises_no_warning(tmp_path: Path) -> None:
    path = tmp_path / "pois.csv"
    POINTS.to_csv(path, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_layer(path)


def test_swapped_columns_are_reported_with_their_names(tmp_path: Path) -> None:
    path = tmp_path / "pois.csv"
    POINTS.to_csv(path, index=False)
    with pytest.raises(CRSError, match="swapped") as info:
        read_layer(path, x="lat", y="lon")
    assert "pois.csv" in str(info.value) and "x='lat'" in str(info.value)


# --- errors ---------------------------------------------------------------------------------


def test_missing_file_says_where_relative_paths_resolve(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.csv"
    with pytest.raises(DataError) as info:
        read_layer(path)
    assert str(path) in str(info.value) and "profile's folder" in str(info.value)


def test_unsupported_suffix_lists_supported(tmp_path: Path) -> None:
    path = tmp_path / "pois.kml"
    path.write_text("<kml/>")
    with pytest.raises(DataError) as info:
        read_layer(path)
    for suffix in SUPPORTED_SUFFIXES:
        assert suffix in str(info.value)


@pytest.mark.parametrize("suffix", [".gpkg", ".xlsx", ".geojson", ".parquet"])
def test_corrupt_files(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"broken{suffix}"
    path.write_bytes(b"\x00\x01 this is not a real file \xff" * 10)
    with pytest.raises(DataError, match="cannot read"):
        read_layer(path)


def test_empty_tables(tmp_path: Path) -> None:
    header_only = tmp_path / "header.csv"
    header_only.write_text("name,lon,lat\n", encoding="utf-8")
    with pytest.raises(DataError, match="no rows"):
        read_layer(header_only)
    blank = tmp_path / "blank.csv"
    blank.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="empty"):
        read_layer(blank)
    no_coordinates = tmp_path / "nan.csv"
    no_coordinates.write_text("name,lon,lat\na,,\n", encoding="utf-8")
    with (
        pytest.raises(DataError, match="no row has numeric coordinates"),
        pytest.warns(LifecircleWarning),
    ):
        read_layer(no_coordinates)


# --- real data ------------------------------------------------------------------------------


@pytest.mark.realdata
def test_kindergartens_of_huangpu_via_where(shared_data: Path) -> None:
    path = shared_data / "shanghai_kindergartens_amap_wgs84.csv"
    expected = pd.read_csv(path)
    expected = expected[expected["adname"] == "黄浦区"]
    gdf = read_layer(path, crs="wgs84", x="lon", y="lat", where={"adname": "黄浦区"})
    assert len(gdf) == len(expected) > 50
    np.testing.assert_allclose(_xy(gdf), expected[["lon", "lat"]].to_numpy())
    assert set(gdf["name"]) == set(expected["name"])


@pytest.mark.realdata
def test_bd09_compounds_are_converted_and_fall_in_huangpu(shared_data: Path) -> None:
    compounds = read_layer(shared_data / "shanghai_compounds_lianjia2016_bd09.csv", crs="bd09")
    assert len(compounds) == 14_363
    assert compounds["households"].dtype.kind in "if"

    # Forward again with an independent GCJ implementation and the textbook BD formula.
    x_pi = math.pi * 3000.0 / 180.0
    sample = compounds.iloc[::97]
    errors = []
    for point, lon_bd, lat_bd in zip(
        sample.geometry, sample["lng_bd09"], sample["lat_bd09"], strict=True
    ):
        lon, lat = fgc.wgs84_to_gcj02(point.x, point.y)
        z = math.hypot(lon, lat) + 0.00002 * math.sin(lat * x_pi)
        theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * x_pi)
        back = (z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006)
        errors.append(GEOD.inv(back[0], back[1], lon_bd, lat_bd)[2])
    assert max(errors) < 0.05

    # README facts: 1,748 compounds with 141,272 households inside Huangpu after conversion.
    huangpu = read_layer(
        shared_data / "shanghai_districts_cgcs2000.geojson",
        crs="cgcs2000",
        where={"name": "黄浦区"},
    ).geometry.iloc[0]
    inside = compounds[compounds.within(huangpu)]
    assert len(inside) == 1748
    assert inside["households"].sum() == 141_272


# --- counts written as text, encodings, impossible coordinates (issue 9) ---------------------


def test_counts_read_clear_numbers_and_report_the_rest() -> None:
    from lifecircle.sources.count_columns import counts

    layer = pd.DataFrame(
        {
            "name": ["甲", "乙", "丙", "丁", "戊", "己", "庚", "辛"],
            "households": ["1,200", "1 200", "１２００", "约500户", "N/A", "", 0, 850.0],
        }
    )
    with pytest.warns(LifecircleWarning) as caught:
        values = counts(layer, "households", "compounds.csv: households")
    np.testing.assert_array_equal(values.to_numpy(), [1200, 1200, 1200, np.nan, np.nan, np.nan, 0, 850])
    messages = [str(w.message) for w in caught]
    unknown = next(m for m in messages if "not plain numbers" in m)
    assert "1 are not plain numbers (row 4 (丁): '约500户')" in unknown
    assert "2 are empty or 'unknown'" in unknown and "of 8 values" in unknown
    assert any("1 of 8 values are 0 (row 7 (庚): 0)" in m for m in messages)


def test_negative_counts_are_refused_with_the_rows_named() -> None:
    from lifecircle.sources.count_columns import counts

    layer = pd.DataFrame({"name": ["甲", "乙", "丙"], "households": [120, -30, "-1,000"]})
    with pytest.raises(DataError, match=r"2 value\(s\) are negative") as info:
        counts(layer, "households", "compounds.csv: households")
    assert "row 2 (乙): -30" in str(info.value) and "row 3 (丙): '-1,000'" in str(info.value)


def test_big5_csv_is_not_read_as_garbled_gbk(tmp_path: Path) -> None:
    table = pd.DataFrame(
        {
            "名稱": ["中山公園社區", "長寧新村", "虹橋花園", "天山新村二村", "仙霞路三村"],
            "經度": [121.42, 121.43, 121.40, 121.41, 121.39],
            "緯度": [31.22, 31.21, 31.20, 31.21, 31.20],
        }
    )
    path = tmp_path / "big5.csv"
    table.to_csv(path, index=False, encoding="big5")
    path.read_bytes().decode("gb18030")  # GBK decoding does not fail: it garbles
    with pytest.raises(DataError, match="looks like BIG5") as info:
        read_layer(path, x="經度", y="緯度")
    assert "Save it as UTF-8" in str(info.value)
    # The same text as GBK reads fine.
    simplified = table.rename(columns={"名稱": "名称", "經度": "经度", "緯度": "纬度"})
    simplified["名称"] = ["中山公园社区", "长宁新村", "虹桥花园", "天山新村二村", "仙霞路三村"]
    simplified.to_csv(tmp_path / "gbk.csv", index=False, encoding="gbk")
    assert list(read_layer(tmp_path / "gbk.csv")["name"]) == list(simplified["名称"])


def test_projected_crs_declared_for_longitude_latitude_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "pois.csv"
    POINTS.to_csv(path, index=False)
    for declared in ("EPSG:3857", "EPSG:32651"):
        with pytest.raises(CRSError, match="look like longitude/latitude degrees") as info:
            read_layer(path, crs=declared)
        assert declared in str(info.value) and "wgs84" in str(info.value)


def test_layer_path_that_is_a_folder(tmp_path: Path) -> None:
    from lifecircle.errors import InputFileError

    with pytest.raises(InputFileError, match="is a folder, not a file"):
        read_layer(tmp_path)


def test_exact_duplicates_are_found() -> None:
    from lifecircle.sources.tables import exact_duplicates

    layer = gpd.GeoDataFrame(
        {"name": ["甲", "甲", "甲", "乙"]},
        geometry=gpd.points_from_xy([121.47, 121.47, 121.48, 121.47], [31.23] * 4),
        crs=4326,
    )
    # Same name and place: a duplicate; same name elsewhere or another name here: not.
    assert exact_duplicates(layer).tolist() == [False, True, False, False]
