"""Facility registers: exclusions, merging across registers and the completeness audit."""

from __future__ import annotations

import numpy as np
import pytest

from lifecircle.errors import DataError
from lifecircle.profile_supply import DEFAULT_CLOSED_PATTERNS
from lifecircle.sources.registers import (
    MERGED_ROW,
    merge_registers,
    name_similarity,
    register_part,
)

from ._graphs import points


def _register(label, number, rows, **fields):
    coords = [(x, y) for _, x, y, *_ in rows]
    layer = points(
        coords,
        name=[r[0] for r in rows],
        places=[r[3] if len(r) > 3 else np.nan for r in rows],
    ).to_crs("EPSG:4326")
    return register_part(layer, label, number, **fields)


@pytest.fixture
def three_registers():
    official = _register("official", 0, [
        ("长宁区图书馆", 0, 0),
        ("天山社区文化中心", 500, 0),
        ("虹桥文化馆(暂停营业)", 1000, 0),
        ("新华书店", 1500, 0),
    ])
    osm = _register("OpenStreetMap", 1, [
        ("长宁图书馆", 30, 10),  # 31.6 m from the official entry, similar name
        ("天山社区文化中心", 700, 0),  # same name but 200 m away: another place
        ("星光KTV", 2000, 0),  # out of scope
        ("", 1500, 5),  # unnamed: never merged
    ])
    amap = _register("AMap", 2, [
        ("长宁区图书馆(总馆)", 10, -5, 120),
        ("新华书店(天山店)", 1510, 0),
    ], capacity_field="places")
    return [official, osm, amap]


def test_duplicates_across_registers_merge_and_the_audit_counts_are_exact(three_registers):
    register = merge_registers(
        three_registers,
        "culture",
        closed_patterns=DEFAULT_CLOSED_PATTERNS,
        exclude_patterns=["KTV", "夜总会"],
        max_distance_m=100,
        min_name_similarity=80,
    )
    audit = register.audit.set_index("source")
    columns = ["entries", "excluded", "facilities", "unique", "shared", "merged_away"]
    assert audit.loc["official", columns].tolist() == [4, 1, 3, 1, 2, 0]
    assert audit.loc["OpenStreetMap", columns].tolist() == [4, 1, 3, 2, 1, 1]
    assert audit.loc["AMap", columns].tolist() == [2, 0, 2, 0, 2, 2]
    assert audit.loc[MERGED_ROW, columns].tolist() == [10, 2, 5, 3, 2, 3]
    assert (register.audit["category"] == "culture").all()

    facilities = register.facilities.set_index("name")
    assert len(facilities) == 5
    library = facilities.loc["长宁区图书馆"]
    assert library["source"] == "official"
    assert library["sources"] == "official;OpenStreetMap;AMap"
    # The official entry has no capacity: the merged facility keeps the AMap entry's.
    assert library["capacity"] == 120
    assert facilities.loc["新华书店", "sources"] == "official;AMap"
    assert sorted(register.facilities["sources"]) == sorted(
        ["official;OpenStreetMap;AMap", "official;AMap", "official", "OpenStreetMap", "OpenStreetMap"]
    )


def test_closed_and_out_of_scope_entries_are_excluded_and_listed(three_registers):
    register = merge_registers(
        three_registers, "culture", closed_patterns=DEFAULT_CLOSED_PATTERNS, exclude_patterns=["ktv"]
    )
    excluded = register.excluded.set_index("name")
    assert sorted(excluded.index) == ["星光KTV", "虹桥文化馆(暂停营业)"]
    assert excluded.loc["虹桥文化馆(暂停营业)", ["reason", "pattern", "source"]].tolist() == [
        "closed", "暂停营业", "official"
    ]
    # Patterns are case-insensitive: "ktv" catches "KTV".
    assert excluded.loc["星光KTV", ["reason", "pattern", "field"]].tolist() == [
        "out of scope", "ktv", "name"
    ]
    assert excluded["lon"].between(121, 122).all() and excluded["lat"].between(31, 32).all()
    assert not set(excluded.index) & set(register.facilities["name"])


def test_without_patterns_nothing_is_excluded(three_registers):
    register = merge_registers(three_registers, "culture")
    assert register.excluded.empty
    assert register.audit.iloc[-1]["excluded"] == 0


def test_stricter_thresholds_merge_less(three_registers):
    # 20 m: the OSM library (31.6 m away) no longer matches; the AMap one (11.2 m) still does.
    register = merge_registers(three_registers, "culture", max_distance_m=20)
    assert register.audit.set_index("source").loc["OpenStreetMap", "shared"] == 0
    # Names at least 95 similar: "长宁图书馆" (91) no longer matches "长宁区图书馆".
    register = merge_registers(three_registers, "culture", min_name_similarity=95)
    assert register.audit.set_index("source").loc["OpenStreetMap", "shared"] == 0


def test_name_similarity():
    assert name_similarity("上海大剧院", "上海大剧院(人民广场)") == 100
    assert name_similarity("ＫＴＶ 一号", "ktv一号") == 100  # full-width and spaces normalised
    assert name_similarity("长宁区图书馆", "长宁图书馆") == pytest.approx(2 * 5 / 11 * 100)
    assert name_similarity("", "长宁图书馆") == 0
    assert name_similarity("新华书店", "上海大剧院") < 30


def test_a_missing_capacity_column_is_named():
    layer = points([(0, 0)], name=["a"]).to_crs("EPSG:4326")
    with pytest.raises(DataError, match="'床位'.*columns are: name"):
        register_part(layer, "list", 0, capacity_field="床位")


@pytest.mark.realdata
def test_huangpu_theatre_register_is_cleaned_audited_and_reported(huangpu_result, shared_data, tmp_path):
    import geopandas as gpd
    import pandas as pd

    import lifecircle as lc

    # Independently: the theatre rows inside Huangpu buffered by the 1,000 m threshold, and those
    # whose names mark them closed or night clubs.
    districts = gpd.read_file(shared_data / "shanghai_districts_cgcs2000.geojson")
    huangpu = districts[districts["name"] == "黄浦区"].to_crs("EPSG:32651").geometry.union_all()
    raw = pd.read_csv(shared_data / "shanghai_theatres_cinemas_amap_wgs84.csv")
    where = gpd.GeoSeries(gpd.points_from_xy(raw["lon"], raw["lat"]), crs="EPSG:4326").to_crs("EPSG:32651")
    in_buffer = raw[where.within(huangpu.buffer(1000)).to_numpy()]
    closed = in_buffer["name"].str.contains("暂停营业|已关闭|装修中|停业|倒闭|歇业|已搬迁")
    clubs = ~closed & in_buffer["name"].str.contains("KTV|夜总会|会所", case=False)

    excluded = huangpu_result.excluded_facilities
    culture = excluded[excluded["category"] == "culture"]
    assert sorted(culture["name"]) == sorted(in_buffer.loc[closed | clubs, "name"])
    assert (culture["reason"] == "closed").sum() == closed.sum() >= 4
    assert (culture["reason"] == "out of scope").sum() == clubs.sum() >= 2
    inside = set(culture.loc[culture["inside_study_area"], "name"])
    assert {"凯迪拉克·上海音乐厅(装修中)", "中/小剧场(暂停营业)", "秘密影院(暂停营业)",
            "白金瀚宫KTV夜总会", "伯爵3号会所KTV"} <= inside
    facilities = huangpu_result.facilities
    assert not set(culture["name"]) & set(facilities.loc[facilities["category"] == "culture", "name"])

    report = lc.indicator_report(huangpu_result)
    lc.write_report(report, tmp_path)
    audit = pd.read_csv(tmp_path / "facility_audit.csv", encoding="utf-8-sig")
    row = audit[(audit["category"] == "culture") & (audit["source"] != MERGED_ROW)].iloc[0]
    assert [row["entries"], row["excluded"], row["facilities"]] == [
        len(in_buffer), (closed | clubs).sum(), len(in_buffer) - (closed | clubs).sum()
    ]
    listed = pd.read_csv(tmp_path / "excluded_facilities.csv", encoding="utf-8-sig")
    assert len(listed) == len(excluded)

    # The compound population is households × 2.32: the report says it is an estimate.
    assert report.population_estimated
    assert "households × 2.32" in report.population_caveat
    markdown = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "population is an estimate" in markdown
    caveats = report.indicators.set_index("key")["caveat"]
    assert caveats["life_circle_population"] == report.population_caveat
    assert caveats["culture_per_100k"] == report.population_caveat
    assert caveats["life_circle_compounds"] == ""
