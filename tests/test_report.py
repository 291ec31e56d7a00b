"""The indicator report: hand-built known answers, population sources, exports, CLI, real data."""

from __future__ import annotations

import dataclasses
import math
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from openpyxl import load_workbook
from rasterio.transform import from_origin
from typer.testing import CliRunner

import lifecircle as lc
from lifecircle import cli
from lifecircle.analysis import gaps
from lifecircle.analysis import indicators as report
from lifecircle.outputs import excel, markdown
from lifecircle.outputs import html as html_out
from lifecircle.outputs._safe import markdown_text
from lifecircle.profile import Indicators, Population
from lifecircle.schema import ALL_AREAS

from ._handbuilt import X0, Y0
from ._report_study import PPH, write_study

POPULATION = 450 * PPH  # A, B and C: 100 + 300 + 50 households


# The shared hand-built study, its run and its report (tests/conftest.py).
@pytest.fixture
def study(report_study):
    return report_study


@pytest.fixture
def result(report_result):
    return report_result


@pytest.fixture
def built(report_built):
    return report_built


def with_profile(result, **changes):
    """The same run seen through a profile with some fields changed (no re-run needed)."""
    return dataclasses.replace(result, profile=result.profile.model_copy(update=changes))


def indicator(rep, key):
    return rep.indicators.set_index("key").loc[key]


# --- the plan's indicators on the hand-built study --------------------------------------------


def test_indicator_rows_are_the_plans(built):
    assert built.indicators["key"].tolist() == list(report.INDICATOR_KEYS)
    assert built.indicators["indicator_zh"].str.len().gt(0).all()
    assert built.indicators["indicator_en"].str.len().gt(0).all()


def test_life_circle_coverage_against_basically_full(built):
    residents = indicator(built, "life_circle_population")
    # Only B (300 households) has every category within reach.
    assert residents["value"] == pytest.approx(300 / 450)
    assert residents["measured"] == "66.7%"
    assert residents["target"] == "≥ 95% (基本覆盖全区)" and residents["target_value"] == 0.95
    assert residents["met"] is False
    assert residents["shortfall"] == pytest.approx(0.95 - 300 / 450)
    assert "750 of 1,125 residents" in residents["note"]
    compounds = indicator(built, "life_circle_compounds")
    assert compounds["value"] == pytest.approx(1 / 3)
    assert "1 of 3 compounds" in compounds["note"] and "2 compound(s) fall short" in compounds["note"]


def test_full_coverage_share_comes_from_the_profile(result):
    lenient = with_profile(result, indicators=Indicators(full_coverage_share=0.6))
    row = indicator(lc.indicator_report(lenient), "life_circle_population")
    assert row["met"] is True and row["shortfall"] == 0 and row["target"].startswith("≥ 60%")
    assert lc.indicator_report(lenient).full_coverage_share == 0.6


def test_childcare_in_every_sub_district_counts_only_points_inside(built):
    row = indicator(built, "childcare_sub_districts")
    # N1 lies in 东街道; N2 serves B across the boundary but lies outside the study area.
    assert row["measured"] == "1 / 2" and row["value"] == 1 and row["target_value"] == 2
    assert row["target"] == "2 / 2 街道/镇 (every sub-district)"
    assert row["met"] is False and row["shortfall"] == 1
    assert "Without: 西街道" in row["note"] and "东街道" not in row["note"]


def test_childcare_without_sub_districts_is_not_measurable(tmp_path):
    plain = lc.run(write_study(tmp_path, sub_districts=False), progress=False)
    row = indicator(lc.indicator_report(plain), "childcare_sub_districts")
    assert row["met"] is pd.NA and math.isnan(row["value"])
    assert "no sub-district" in row["note"]


def test_culture_per_100k_from_compound_population(built):
    row = indicator(built, "culture_per_100k")
    # G (west) and H (east) are inside; I is in the buffer only.
    assert row["value"] == pytest.approx(2 / POPULATION * 1e5, rel=1e-12)
    assert row["met"] is True and row["target_value"] == 15.5
    assert "2 文化 / Culture inside the study area" in row["note"]
    assert "households × 2.5" in row["note"]
    assert built.population_total == pytest.approx(POPULATION)


def test_culture_per_100k_from_census(result):
    census = Population(
        source="census",
        census_total=20_000,
        census_by_sub_district={"西街道": 8_000, "东街道": 12_000, "北街道": 5},
        census_source="test census 2020",
    )
    rep = lc.indicator_report(with_profile(result, population=census))
    row = indicator(rep, "culture_per_100k")
    assert row["value"] == pytest.approx(10.0)
    assert row["met"] is False and row["shortfall"] == pytest.approx(5.5)
    # 15.5 per 100,000 of 20,000 residents is 3.1 venues: two more are needed.
    assert "2 more venue(s)" in row["note"] and "test census 2020" in row["note"]
    by_area = rep.by_sub_district.set_index("area")
    assert by_area.loc["西街道", "culture_per_100k"] == pytest.approx(1 / 8_000 * 1e5)
    assert by_area.loc["东街道", "culture_per_100k"] == pytest.approx(1 / 12_000 * 1e5)
    assert by_area.loc[ALL_AREAS, "culture_population"] == 20_000
    assert any("北街道" in note for note in rep.notes)
    assert rep.population_source == "census: test census 2020"


def write_population_raster(path, *, west=5.0, east=10.0, hole=(450, 50)):
    """100 m cells over x −200…800, y −300…700 (study metres): ``west`` left of x = 300,
    ``east`` right of it, and one nodata cell centred at ``hole``."""
    values = np.where(np.arange(10) * 100 - 200 + 50 < 300, west, east)
    values = np.tile(values, (10, 1)).astype("float32")
    col, row = (hole[0] + 200) // 100, (700 - hole[1]) // 100
    values[row, col] = -1.0
    with rasterio.open(
        path, "w", driver="GTiff", height=10, width=10, count=1, dtype="float32",
        crs="EPSG:32651", transform=from_origin(X0 - 200, Y0 + 700, 100, 100), nodata=-1.0,
    ) as dst:
        dst.write(values, 1)
    return path


@pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")
def test_culture_per_100k_from_a_population_raster(result, tmp_path):
    tif = write_population_raster(tmp_path / "worldpop.tif")
    rep = lc.indicator_report(with_profile(result, population=Population(source="raster", raster=tif)))
    # 3 x 7 cells of 5 in the west; 3 x 7 cells of 10 in the east, one of them nodata.
    west, east = 21 * 5.0, 20 * 10.0
    assert rep.population_total == pytest.approx(west + east)
    row = indicator(rep, "culture_per_100k")
    assert row["value"] == pytest.approx(2 / (west + east) * 1e5)
    assert "worldpop.tif" in row["note"]
    by_area = rep.by_sub_district.set_index("area")
    assert by_area.loc["西街道", "culture_population"] == pytest.approx(west)
    assert by_area.loc["东街道", "culture_per_100k"] == pytest.approx(1 / east * 1e5)
    # Residents in the coverage columns still come from the compounds.
    assert by_area.loc[ALL_AREAS, "residents"] == pytest.approx(POPULATION)


def test_elderly_care_rows(built):
    compounds = indicator(built, "elderly_compounds")
    # A (545 m) and C (off the network) fail; the profile's target is 100% of compounds.
    assert compounds["value"] == pytest.approx(1 / 3)
    assert compounds["target_value"] == 1.0 and compounds["source"] == report.PROFILE_TARGET
    assert compounds["shortfall"] == pytest.approx(2 / 3) and compounds["met"] is False
    assert "1 compound(s) are not on the main walking network" in compounds["note"]
    residents = indicator(built, "elderly_population")
    assert residents["value"] == pytest.approx(300 / 450)
    assert residents["target"] == "≥ 100% (每个居住区)" and residents["target_value"] == 1.0
    # A walks 545 m (within 10% beyond 500 m): the note counts it as a near miss.
    assert "1 of them (250 residents) are near misses" in residents["note"]


def test_shelter_row_counts_failing_compounds(built):
    row = indicator(built, "shelter_compounds")
    assert row["value"] == pytest.approx(2 / 3) and row["met"] is False
    assert row["target"] == "100% of compounds (每个居住区)"
    assert "1 compound(s) fall short" in row["note"]


def test_missing_categories_are_not_measured(study, result, tmp_path):
    profile = lc.load_profile(study)
    fewer = profile.model_copy(
        update={
            "categories": {k: v for k, v in profile.categories.items() if k in ("nursery", "culture")},
            "targets": [],
        }
    )
    rep = lc.indicator_report(lc.run(fewer, progress=False))
    for key, layer in (
        ("elderly_compounds", "elderly_care"),
        ("elderly_population", "elderly_care"),
        ("shelter_compounds", "shelter"),
    ):
        row = indicator(rep, key)
        assert row["met"] is pd.NA and row["measured"] == ""
        assert row["note"].startswith(f"not measured: no {layer} layer in this profile")
    assert "not in this profile: elderly_care, shelter" in indicator(rep, "life_circle_population")["note"]
    # An indicator switched off in the profile is not measured either.
    off = with_profile(result, indicators=Indicators(shelter_category=None))
    row = indicator(lc.indicator_report(off), "shelter_compounds")
    assert row["met"] is pd.NA and "no shelter layer" in row["note"]


def test_by_sub_district_table(built):
    table = built.by_sub_district.set_index("area")
    assert list(table.index) == [ALL_AREAS, "西街道", "东街道"]
    assert table.loc[ALL_AREAS, "residents"] == pytest.approx(POPULATION)
    assert table.loc["西街道", "n_compounds"] == 1 and table.loc["东街道", "n_compounds"] == 2
    assert table.loc["东街道", "elderly_care_compound_share"] == 0
    assert table.loc["东街道", "nursery_population_share"] == pytest.approx(100 / 150)
    assert table.loc["西街道", "complete_population_share"] == 1
    assert table.loc[:, "childcare_facilities"].tolist() == [1, 0, 1]
    assert table.loc[:, "culture_venues"].tolist() == [2, 1, 1]
    assert table.loc["西街道", "culture_per_100k"] == pytest.approx(1 / (300 * PPH) * 1e5)


def test_failing_compounds_long_table(built, result):
    failing = built.failing_compounds
    assert set(zip(failing["category"], failing["name"], strict=True)) == {
        ("nursery", "C小区"),
        ("culture", "C小区"),
        ("elderly_care", "A小区"),
        ("elderly_care", "C小区"),
        ("shelter", "C小区"),
    }
    a = failing[(failing["category"] == "elderly_care") & (failing["name"] == "A小区")].iloc[0]
    assert a["dist_m"] == pytest.approx(545.0, abs=0.2) and a["threshold_m"] == 500
    assert a["sub_district"] == "东街道" and a["households"] == 100
    assert a["access_status"] == "ok" and a["label_zh"] == "养老"
    # A walks 545 m to elderly care: within 10% beyond 500 m, a near miss; C is off the network.
    near = failing.set_index(["category", "name"])["near_miss"]
    assert near[("elderly_care", "A小区")] and not near[("elderly_care", "C小区")]
    assert near.sum() == 1
    uncovered = built.uncovered_population
    base = uncovered.drop(columns=["n_near_miss", "population_near_miss"])
    assert base.equals(gaps.uncovered_population(result))
    elderly = uncovered.set_index(["area", "category"]).loc[(ALL_AREAS, "elderly_care")]
    assert elderly["n_near_miss"] == 1 and elderly["population_near_miss"] == pytest.approx(100 * PPH)


def test_report_metadata(built, result):
    assert built.preset == "gb50180" and "GB 50180-2018" in built.preset_label.zh
    assert built.title == result.profile.title and built.sample is False
    assert built.credits[0] == "© OpenStreetMap contributors (ODbL)"
    assert built.categories["category"].tolist() == ["nursery", "culture", "elderly_care", "shelter"]
    counts = built.categories.set_index("category")
    assert counts.loc["culture", "facilities_in_buffer"] == 3
    assert counts.loc["culture", "facilities_inside"] == 2


# --- exports -----------------------------------------------------------------------------------


def test_write_report_files_read_back(built, tmp_path):
    written = lc.write_report(built, tmp_path / "out")
    names = [p.name for p in written]
    assert names == [
        "indicators.csv",
        "by_sub_district.csv",
        "failing_compounds.csv",
        "uncovered_population.csv",
        "categories.csv",
        "facility_audit.csv",
        "excluded_facilities.csv",
        "report.md",
        "report.xlsx",
    ]
    raw = (tmp_path / "out" / "indicators.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel opens the Chinese text correctly
    indicators = pd.read_csv(tmp_path / "out" / "indicators.csv", encoding="utf-8-sig")
    assert indicators["key"].tolist() == list(report.INDICATOR_KEYS)
    assert indicators["measured"].fillna("").tolist() == built.indicators["measured"].tolist()
    failing = pd.read_csv(tmp_path / "out" / "failing_compounds.csv", encoding="utf-8-sig")
    assert len(failing) == 5 and "dist_m" in failing.columns
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_markdown_report(built, result):
    text = markdown.report_markdown(built)
    assert text.startswith("# 报告测试区 / Report test area")
    assert "SAMPLE DATA" not in text
    assert "≥ 95%" in text and "《城市居住区规划设计标准》GB 50180-2018" in text
    assert "© OpenStreetMap contributors (ODbL)" in text
    for row in built.indicators.itertuples():
        assert row.indicator_zh in text and markdown_text(row.note) in text
    indicators = text.split("### 规划指标")[1].split("### 数据局限")[0]
    assert "66.7%" in indicators and "1 / 2" in indicators and "未达标 not met" in indicators
    assert report.PROFILE_TARGET in indicators  # the test profile cites no policy document
    # Codes reach the reader only as labels.
    for code in ("beyond_threshold", "beyond_snap_limit", "| ok", "True", "False", "(all)"):
        assert code not in text.split("### 数据局限")[1], code
    assert "距路网过远 / too far from the network" in text and "全区 / whole study area" in text
    sample = markdown.report_markdown(lc.indicator_report(with_profile(result, sample=True)))
    assert "示例数据 / SAMPLE DATA" in sample.split("### 规划指标")[0]


def test_excel_workbook(built, tmp_path):
    lc.write_report(built, tmp_path)
    book = load_workbook(tmp_path / "report.xlsx")
    # Every sheet but supply and demand (no category of the study has a capacity).
    assert book.sheetnames == [v for k, v in excel.SHEET_NAMES.items() if k != "supply_demand"]
    assert all(len(name) <= 31 for name in book.sheetnames)
    sheet = book[excel.SHEET_NAMES["indicators"]]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:5] == ("指标 / Indicator", "目标 / Target", "目标值 / Target value",
                           "实测 / Measured", "结果 / Result")
    assert rows[1][3] == pytest.approx(300 / 450) and rows[1][4] == "未达标 not met"
    assert rows[3][3] == 1 and rows[3][2] == 2
    culture = rows[1 + report.INDICATOR_KEYS.index("culture_per_100k")]
    assert culture[4] == "达标 met" and culture[3] == pytest.approx(2 / POPULATION * 1e5)
    districts = book[excel.SHEET_NAMES["by_sub_district"]]
    header = [c.value for c in districts[1]]
    column = header.index("养老小区覆盖率 / Elderly care compound share") + 1
    assert districts.cell(row=2, column=1).value == "全区 / whole study area"
    assert districts.cell(row=2, column=column).value == pytest.approx(1 / 3)
    assert districts.cell(row=2, column=column).number_format == "0.0%"
    about = [r for r in book[excel.SHEET_NAMES["about"]].iter_rows(values_only=True)]
    assert any(v == "© OpenStreetMap contributors (ODbL)" for _, v in about[1:])


def test_failed_write_leaves_earlier_report(built, tmp_path, monkeypatch):
    lc.write_report(built, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def _fail(*args, **kwargs):
        raise OSError("disk full")

    from lifecircle.outputs import bundle

    monkeypatch.setattr(bundle, "write_workbook", _fail)
    changed = dataclasses.replace(built, indicators=built.indicators.assign(note="changed"))
    with pytest.raises(OSError, match="disk full"):
        lc.write_report(changed, tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_report_bundle(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bundle")
    polygons = lc.run(write_study(folder, polygons=True), progress=False)
    out, maps_dir = folder / "out", folder / "maps"
    written = lc.write_report_bundle(polygons, out, maps_dir=maps_dir)
    assert all(p.is_file() for p in written)
    assert {p.name for p in written if p.parent == maps_dir} == {
        "reportstudy_gaps.html",
        "reportstudy_uncovered_ranking.png",  # the study has sub-districts
        *(f"reportstudy_{k}.png" for k in ("nursery", "culture", "elderly_care", "shelter", "complete")),
    }
    import pyogrio

    layers = {name for name, _ in pyogrio.list_layers(out / "report_layers.gpkg")}
    assert {"service_areas", "uncovered_elderly_care", "gap_land_elderly_care", "study_area",
            "sub_districts"} <= layers
    elderly = gpd.read_file(out / "report_layers.gpkg", layer="uncovered_elderly_care")
    assert sorted(elderly["name"]) == ["A小区", "C小区"] and elderly.crs.to_epsg() == 4326
    html = (maps_dir / "reportstudy_gaps.html").read_text(encoding="utf-8")
    assert html_out.external_urls(html) == []  # offline map by default
    # report.md links every map of the set by a path relative to itself, inside the set (the
    # files in maps_dir are links to the set's maps/), and the links resolve.
    text = (out / "report.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)]+\.(?:html|png))\)", text)
    assert sorted(links) == sorted(f"maps/{p.name}" for p in written if p.parent == maps_dir)
    assert all((out / link).resolve().is_file() for link in links)
    assert "缺口地图（交互式） / Gap map (interactive)" in text
    about = load_workbook(out / "report.xlsx")[excel.SHEET_NAMES["about"]]
    assert sum("maps/" in str(v) for _, v in about.iter_rows(values_only=True)) == len(links)


# --- command line ------------------------------------------------------------------------------


def test_cli_report_command(study, tmp_path):
    out = tmp_path / "cli"
    outcome = CliRunner().invoke(cli.app, ["report", str(study), "--out", str(out)])
    assert outcome.exit_code == 0, outcome.output
    assert "规划指标 Plan indicators" in outcome.output
    assert "1 / 2" in outcome.output
    assert (out / "coverage.csv").is_file() and (out / "reportstudy.html").is_file()
    assert (out / "report" / "report.xlsx").is_file()
    assert (out / "reportstudy_gaps.html").is_file() and (out / "reportstudy_complete.png").is_file()


# --- real data: Huangpu ------------------------------------------------------------------------


@pytest.mark.realdata
def test_huangpu_indicator_report(huangpu_result, shared_data):
    import prcoords

    rep = lc.indicator_report(huangpu_result)
    rows = rep.indicators.set_index("key")
    coverage = huangpu_result.coverage.set_index(["area", "category"])
    complete = coverage.loc[(ALL_AREAS, "complete")]
    assert rows.loc["life_circle_population", "value"] == complete["population_share"]
    assert 0 < rows.loc["life_circle_population", "value"] < 1
    by_area = rep.by_sub_district.set_index("area")
    for key in ("nursery", "culture"):
        share = by_area.loc[ALL_AREAS, f"{key}_compound_share"]
        assert share == pytest.approx(huangpu_result.compounds[f"{key}_covered"].mean())
        assert 0.05 < share < 1

    # Culture per 100,000, computed here from the files: theatres/cinemas inside Huangpu and
    # compound residents (BD-09 → WGS84, households × 2.32).
    districts = gpd.read_file(shared_data / "shanghai_districts_cgcs2000.geojson")
    huangpu = districts[districts["name"] == "黄浦区"].geometry.union_all()
    theatres = pd.read_csv(shared_data / "shanghai_theatres_cinemas_amap_wgs84.csv")
    # Closed entries and night clubs are not cultural venues (the profile's register rules).
    closed_or_clubs = "暂停营业|已关闭|装修中|停业|倒闭|歇业|已搬迁|KTV|夜总会|会所"
    theatres = theatres[~theatres["name"].str.contains(closed_or_clubs, case=False)]
    venues = gpd.points_from_xy(theatres["lon"], theatres["lat"]).within(huangpu).sum()
    compounds = pd.read_csv(shared_data / "shanghai_compounds_lianjia2016_bd09.csv")
    wgs = [prcoords.bd_wgs_bored(prcoords.Coords(lat, lon))
           for lat, lon in zip(compounds["lat_bd09"], compounds["lng_bd09"], strict=True)]
    inside = gpd.points_from_xy([c.lon for c in wgs], [c.lat for c in wgs]).within(huangpu)
    residents = compounds.loc[inside, "households"].sum() * 2.32
    expected = venues / residents * 1e5
    culture = rows.loc["culture_per_100k"]
    assert culture["value"] == pytest.approx(expected, rel=2e-3)
    assert 5 < culture["value"] < 60 and culture["met"] == (culture["value"] >= 15.5)
    assert f"{venues} 影剧院" in culture["note"]

    assert rows.loc["childcare_sub_districts", "met"] is pd.NA  # no sub-district boundaries
    for key, layer in (("elderly_compounds", "elderly_care"), ("shelter_compounds", "shelter")):
        assert rows.loc[key, "met"] is pd.NA
        assert rows.loc[key, "note"].startswith(f"not measured: no {layer} layer in this profile")
