"""What-if scenarios on the hand-built siting study (answers computed by hand) and on Huangpu.

Study (tests/_siting_study.py): a straight street y = 0 from x = 0 to 2000 m, nursery F at
x = 0 (300 m), compounds 10 m off the street at A 200, B 600, C 900, D 1200, E 1500; a site at
x covers a compound at x' when |x − x'| + 10 ≤ 300.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from openpyxl import load_workbook
from prcoords import wgs_gcj
from typer.testing import CliRunner

import lifecircle as lc
from lifecircle import schema
from lifecircle.cli import app
from lifecircle.errors import DataError, InputFileError, ProfileError
from lifecircle.outputs.html import external_urls

from ._handbuilt import lonlat, write_points_csv
from ._siting_study import PPH, write_study


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return write_study(tmp_path_factory.mktemp("scenarios"))


@pytest.fixture(scope="module")
def result(study):
    return lc.run(study, progress=False)


def _scenario(folder, name: str, **body) -> object:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, **body}, allow_unicode=True), encoding="utf-8")
    return path


def _point(x: float, y: float, **extra) -> dict:
    lon, lat = lonlat(x, y)
    return {"x": lon, "y": lat, **extra}


def _changes(comparison, category: str = "nursery") -> dict[str, str]:
    rows = comparison.compound_changes[comparison.compound_changes["category"] == category]
    return dict(zip(rows[schema.NAME].str[0], rows["change"], strict=True))


def _covered(run, name: str) -> bool:
    return bool(run.compounds.set_index(schema.NAME).loc[f"{name}小区", "nursery_covered"])


def test_added_facility_covers_its_neighbours(result, tmp_path):
    path = _scenario(tmp_path, "add", facilities={"add": [
        {"category": "nursery", "points": [_point(1050, 0, name="新托育点")]}]})
    comparison = lc.compare(result, path, progress=False)
    assert _changes(comparison) == {"C": "gained", "D": "gained"}
    overall = comparison.by_area.set_index(["area", "category"]).loc[(schema.ALL_AREAS, "nursery")]
    assert overall["population_covered_scenario"] == pytest.approx((100 + 260 + 260) * PPH)
    assert overall["population_covered_change"] == pytest.approx(520 * PPH)
    assert overall["n_gained"] == 2 and overall["n_lost"] == 0
    # Per sub-district: C is in 西 (x < 1100), D in 东.
    by_area = comparison.by_area.set_index(["area", "category"])
    assert by_area.loc[("西", "nursery"), "n_gained"] == 1
    assert by_area.loc[("东", "nursery"), "n_gained"] == 1
    facilities = comparison.facility_changes
    assert facilities[["name", "change"]].values.tolist() == [["新托育点", "added"]]


def test_points_declared_in_gcj02_are_converted(result, tmp_path):
    lon, lat = lonlat(1050, 0)
    glat, glon = wgs_gcj((lat, lon))
    path = _scenario(tmp_path, "gcj", facilities={"add": [
        {"category": "nursery", "crs": "gcj02", "points": [{"name": "G", "x": glon, "y": glat}]}]})
    comparison = lc.compare(result, path, progress=False)
    assert _changes(comparison) == {"C": "gained", "D": "gained"}
    snap = comparison.scenario.facilities.set_index("name").loc["G", "snap_m"]
    assert snap < 0.5


def test_removing_and_moving_facilities(result, tmp_path):
    removed = lc.compare(result, _scenario(tmp_path, "rm", facilities={"remove": [
        {"category": "nursery", "name": "托育点F"}]}), progress=False)
    assert _changes(removed) == {"A": "lost"}
    assert removed.scenario.compounds["nursery_covered"].sum() == 0
    near = lc.compare(result, _scenario(tmp_path, "near", facilities={"remove": [
        {"category": "nursery", "near": _point(5, 3), "within_m": 10}]}), progress=False)
    assert _changes(near) == {"A": "lost"}
    moved = lc.compare(result, _scenario(tmp_path, "mv", facilities={"move": [
        {"category": "nursery", "name": "托育点F", "to": _point(1350, 0)}]}), progress=False)
    assert _changes(moved) == {"A": "lost", "D": "gained", "E": "gained"}
    assert set(moved.facility_changes["change"]) == {"added", "removed"}
    assert moved.scenario.facilities["name"].tolist() == ["托育点F"]


def test_threshold_change(result, tmp_path):
    comparison = lc.compare(result, _scenario(tmp_path, "thr", thresholds={"nursery": 700}),
                            progress=False)
    # F at x = 0 now reaches B: 600 + 10 = 610 m ≤ 700 m.
    assert _changes(comparison) == {"B": "gained"}
    assert comparison.scenario.profile.categories["nursery"].threshold_m == 700
    assert any("exceeds the run's largest threshold" in n for n in comparison.notes)


def test_new_housing_from_a_file_reads_households_like_the_profile(result, tmp_path):
    # Before: "1,200" and "约500户" silently became unknown residents, and -5 and 0 passed.
    write_points_csv(tmp_path / "new.csv", [
        {"name": "新甲", "households": "1,200", "x": 100, "y": 10},
        {"name": "新乙", "households": "约500户", "x": 300, "y": 10},
        {"name": "新丙", "households": 0, "x": 400, "y": 10},
    ])
    path = _scenario(tmp_path, "file", compounds={"add": [
        {"file": "new.csv", "households_field": "households"}]})
    comparison = lc.compare(result, path, progress=False)
    said = " ".join(comparison.notes)
    assert "约500户" in said and "are 0" in said
    new = comparison.scenario.compounds.set_index(schema.NAME)
    assert new.loc["新甲", "population"] == pytest.approx(1200 * PPH)
    write_points_csv(tmp_path / "neg.csv", [{"name": "新丁", "households": -5, "x": 100, "y": 10}])
    negative = _scenario(tmp_path, "neg", compounds={"add": [
        {"file": "neg.csv", "households_field": "households"}]})
    with pytest.raises(DataError, match="negative"):
        lc.compare(result, negative, progress=False)
    zero = _scenario(tmp_path, "zero", compounds={"add": [
        {"points": [_point(100, 10, name="新戊", households=0)]}]})
    assert any("are 0" in n for n in lc.compare(result, zero, progress=False).notes)


def test_a_malformed_scenario_is_refused_before_the_run(study, tmp_path):
    (tmp_path / "bad.yaml").write_text("name: bad\nfacilities: {add: [", encoding="utf-8")
    outcome = CliRunner().invoke(app, ["compare", str(study), str(tmp_path / "bad.yaml")])
    assert outcome.exit_code == 1 and "not valid YAML" in outcome.output
    assert "walking distances" not in outcome.output  # before: after the whole run


def test_new_housing_with_households(result, tmp_path):
    path = _scenario(tmp_path, "housing", compounds={"add": [
        {"points": [_point(100, 10, name="新建小区", households=1000)]}]})
    comparison = lc.compare(result, path, progress=False)
    new = comparison.scenario.compounds.set_index(schema.NAME).loc["新建小区"]
    assert new["population"] == pytest.approx(1000 * PPH)
    assert new["nursery_dist_m"] == pytest.approx(110, abs=0.1) and new["nursery_covered"]
    assert new[schema.COMPOUND_ID] == result.compounds[schema.COMPOUND_ID].max() + 1
    assert _changes(comparison) == {"新": "new_covered"}
    overall = comparison.by_area.set_index(["area", "category"]).loc[(schema.ALL_AREAS, "nursery")]
    assert overall["n_compounds_scenario"] == overall["n_compounds_base"] + 1


def test_adding_then_removing_a_facility_gives_back_the_run_exactly(result, tmp_path):
    added = lc.compare(result, _scenario(tmp_path, "a", facilities={"add": [
        {"category": "nursery", "points": [_point(1050, 0, name="临时点")]}]}), progress=False)
    back = lc.compare(added.scenario, _scenario(tmp_path, "b", facilities={"remove": [
        {"category": "nursery", "name": "临时点"}]}), progress=False)
    pd.testing.assert_frame_equal(back.scenario.compounds, result.compounds, check_exact=True)
    pd.testing.assert_frame_equal(back.scenario.coverage, result.coverage, check_exact=True)
    pd.testing.assert_frame_equal(back.scenario.facilities, result.facilities, check_exact=True)
    assert back.compound_changes.empty is False  # C and D lose what the first step gave
    assert _changes(back) == {"C": "lost", "D": "lost"}


@pytest.mark.parametrize(
    ("body", "error", "match"),
    [
        ({"facilitys": {}}, ProfileError, "facilitys: unknown field"),
        ({"thresholds": {"nursery": -5}}, ProfileError, "threshold"),
        ({"facilities": {"add": [{"category": "nursery"}]}}, ProfileError, "points' or 'file'"),
        ({"facilities": {"remove": [{"category": "library", "name": "x"}]}}, DataError,
         "does not define"),
        # the category in quotes, not as a Python list ("categories ['library']")
        ({"facilities": {"remove": [{"category": "library", "name": "x"}]}}, DataError,
         r"names the category 'library', which the profile"),
        ({"facilities": {"remove": [{"category": "nursery", "name": "不存在"}]}}, DataError,
         "there is none"),
        ({"compounds": {"add": [{"points": [_point(5000, 10, households=5)]}]}}, DataError,
         "outside the study area"),
    ],
)
def test_bad_scenarios_get_clear_errors(result, tmp_path, body, error, match):
    with pytest.raises(error, match=match):
        lc.compare(result, _scenario(tmp_path, "bad", **body), progress=False)


def test_a_recomputed_run_is_never_written_as_the_study_s_results(result, tmp_path):
    # Before: comparing a scenario of a scenario and writing it replaced the study's
    # coverage.csv with scenario "a"'s figures (nursery 3 of 7 instead of 1 of 7) and dropped
    # its report, without saying so.
    added = lc.compare(result, _scenario(tmp_path, "a", facilities={"add": [
        {"category": "nursery", "points": [_point(1050, 0, name="临时点")]}]}), progress=False)
    again = lc.compare(added.scenario, _scenario(tmp_path, "b", facilities={"add": [
        {"category": "nursery", "points": [_point(1350, 0, name="另一点")]}]}), progress=False)
    out = tmp_path / "out"
    with pytest.raises(DataError, match="not the study's own run"):
        lc.write_comparison(again, out, progress=None)
    with pytest.raises(DataError, match="not the study's own run"):
        lc.write_outputs(added.scenario, out)
    assert not out.exists()
    assert added.scenario.recomputed and not result.recomputed


def test_missing_scenario_file(result, tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        lc.compare(result, tmp_path / "nope.yaml", progress=False)


def test_written_comparison(result, tmp_path):
    path = _scenario(tmp_path, "add2", facilities={"add": [
        {"category": "nursery", "points": [_point(1050, 0, name="=cmd|' /C calc'!A0")]}]})
    written = lc.write_comparison(lc.compare(result, path, progress=False), tmp_path / "out")
    folder = tmp_path / "out" / "scenarios" / "add2"
    assert {p.name for p in written} >= {"comparison.csv", "comparison.md", "comparison.xlsx",
                                         "changes_map.html", "changes.gpkg"}
    table = pd.read_csv(folder / "comparison.csv", encoding="utf-8-sig")
    assert {"area", "category", "population_share_change", "n_gained", "n_lost"} <= set(table)
    assert "'=cmd" in (folder / "facility_changes.csv").read_text(encoding="utf-8-sig")
    book = load_workbook(folder / "comparison.xlsx")
    assert book.sheetnames == ["对比 Comparison", "小区变化 Compound changes",
                               "设施变化 Facility changes", "说明 About"]
    cells = [c for row in book["设施变化 Facility changes"].iter_rows() for c in row]
    named = [c for c in cells if c.value == "=cmd|' /C calc'!A0"]
    assert named and all(c.data_type == "s" and c.quotePrefix for c in named)  # text, not formula
    assert not any(c.data_type == "f" for c in cells)
    markdown = (folder / "comparison.md").read_text(encoding="utf-8")
    assert "人口覆盖率变化 / Change in population share" in markdown
    page = (folder / "changes_map.html").read_text(encoding="utf-8")
    assert external_urls(page) == [] and "gains coverage" in page
    assert page.index("L.control.layers") > page.rindex("var geo_json_x")
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert summary["compound_changes"] == {"gained": 4}  # C, D, and both complete life circles


def test_comparison_tables_show_base_and_scenario_shares_as_percentages(result, tmp_path):
    from lifecircle.outputs.scenario_outputs import comparison_markdown

    path = _scenario(tmp_path, "pct", facilities={"add": [
        {"category": "nursery", "points": [_point(1050, 0, name="新点")]}]})
    comparison = lc.compare(result, path, progress=False)
    whole = comparison.by_area[(comparison.by_area["area"] == schema.ALL_AREAS)
                               & (comparison.by_area["category"] == "nursery")].iloc[0]
    markdown = comparison_markdown(comparison)
    for column in ("population_share_base", "population_share_scenario", "compound_share_base"):
        assert f" {whole[column]:.1%} |" in markdown  # right-aligned, as formatted
    assert f"{whole['population_share_change'] * 100:+.1f} pts" in markdown


def test_cli_compare(study, tmp_path):
    path = _scenario(tmp_path, "cli", facilities={"add": [
        {"category": "nursery", "points": [_point(1050, 0, name="CLI点")]}]})
    out = tmp_path / "out"
    outcome = CliRunner().invoke(app, ["compare", str(study), str(path), "--out", str(out)])
    assert outcome.exit_code == 0, outcome.output
    assert "+" in outcome.output and (out / "scenarios" / "cli" / "comparison.csv").is_file()
    assert (out / "coverage.csv").is_file()  # the run's own files, in the same set


@pytest.mark.realdata
def test_huangpu_round_trip_and_a_new_kindergarten(huangpu_result, tmp_path):
    nurseries = huangpu_result.facilities[huangpu_result.facilities["category"] == "nursery"]
    first = nurseries.iloc[0]
    copy = {"category": "nursery", "points": [{"name": "复制点", "x": first.geometry.x,
                                                "y": first.geometry.y}]}
    added = lc.compare(huangpu_result, _scenario(tmp_path, "h1", facilities={"add": [copy]}),
                       progress=False)
    # A second kindergarten where one already is: counts change, coverage does not.
    assert added.compound_changes.empty
    counts = "nursery_count"
    assert (added.scenario.compounds[counts] >= huangpu_result.compounds[counts]).all()
    back = lc.compare(added.scenario, _scenario(tmp_path, "h2", facilities={"remove": [
        {"category": "nursery", "name": "复制点"}]}), progress=False)
    pd.testing.assert_frame_equal(back.scenario.compounds, huangpu_result.compounds,
                                  check_exact=True)
    pd.testing.assert_frame_equal(back.scenario.coverage, huangpu_result.coverage,
                                  check_exact=True)
