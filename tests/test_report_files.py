"""Briefing-ready report files: numbers stored as numbers, print set-up on every sheet, rounded
and labelled CSVs, caveats with known answers, reproducible bytes, and no data-derived text that
becomes a formula (CSV, Excel) or markup (Markdown)."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import time
import zipfile
from datetime import datetime

import pandas as pd
import pytest
import yaml
from markdown_it import MarkdownIt
from openpyxl import load_workbook

import lifecircle as lc
from lifecircle.analysis import caveats
from lifecircle.outputs import excel
from lifecircle.outputs._safe import FORMULA_TRIGGERS, markdown_text, neutralise_formulas
from lifecircle.profile import Indicators

from ._report_study import PPH, write_study

# Static maps draw the hostile names too; matplotlib has no glyph for the tab in them.
pytestmark = pytest.mark.filterwarnings("ignore:Glyph .* missing from font")


def _cells(book):
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.value is not None:
                    yield sheet, cell


# --- Excel -------------------------------------------------------------------------------------

NUMBER_AS_TEXT = re.compile(r"^[-+]?[\d,]+(\.\d+)?\s*%?$")


def test_workbook_holds_numbers_with_formats(report_built, tmp_path):
    lc.write_report(report_built, tmp_path)
    book = load_workbook(tmp_path / "report.xlsx")
    numeric = [c for _, c in _cells(book) if c.data_type == "n"]
    texts = [c.value for _, c in _cells(book) if c.data_type == "s"]
    assert len(numeric) > 100
    assert not [t for t in texts if NUMBER_AS_TEXT.match(t)]  # no "66.7%" or "1,748" as text
    indicators = book[excel.SHEET_NAMES["indicators"]]
    header = [c.value for c in indicators[1]]
    measured = indicators.cell(row=2, column=header.index("实测 / Measured") + 1)
    assert measured.value == pytest.approx(300 / 450) and measured.number_format == "0.0%"
    childcare = indicators.cell(row=4, column=header.index("实测 / Measured") + 1)
    assert childcare.value == 1 and childcare.number_format == '0" / 2"'  # shows "1 / 2"
    districts = book[excel.SHEET_NAMES["by_sub_district"]]
    header = [c.value for c in districts[1]]
    residents = districts.cell(row=2, column=header.index("居民 / Residents") + 1)
    assert residents.value == pytest.approx(450 * PPH) and residents.number_format == "#,##0"
    near = header.index("养老接近达标小区 / Elderly care near-miss compounds") + 1
    assert [districts.cell(row=r, column=near).value for r in (2, 3, 4)] == [1, 0, 1]
    failing = book[excel.SHEET_NAMES["failing_compounds"]]
    values = [[c.value for c in row] for row in failing.iter_rows()]
    reasons = {v for row in values[1:] for v in row if isinstance(v, str) and "/" in v}
    assert "距路网过远 / too far from the network" in reasons
    assert any(v.startswith("接近达标") for v in reasons)
    for code in ("ok", "beyond_threshold", "beyond_snap_limit", "True", "False", "(all)"):
        assert code not in texts, code


def test_every_sheet_is_filtered_and_print_ready(report_built, tmp_path):
    lc.write_report(report_built, tmp_path)
    book = load_workbook(tmp_path / "report.xlsx")
    for sheet in book.worksheets:
        assert sheet.auto_filter.ref == sheet.dimensions, sheet.title
        assert sheet.freeze_panes == "A2"
        assert sheet.page_setup.orientation == "landscape"
        assert int(sheet.page_setup.paperSize) == int(sheet.PAPERSIZE_A4) == 9
        assert int(sheet.page_setup.fitToWidth) == 1 and int(sheet.page_setup.fitToHeight) == 0
        assert sheet.sheet_properties.pageSetUpPr.fitToPage
        assert sheet.print_title_rows == "$1:$1"
        assert all(cell.font.b for cell in sheet[1])


def test_workbook_bytes_are_reproducible(report_built, tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    first = lc.write_report(report_built, tmp_path / "a")
    time.sleep(1.1)  # a clock-stamped file would differ now
    second = lc.write_report(report_built, tmp_path / "b")
    for one, two in zip(first, second, strict=True):
        assert one.read_bytes() == two.read_bytes(), one.name
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # 2023-11-14 22:13:20 UTC
    lc.write_report(report_built, tmp_path / "c")
    book = load_workbook(tmp_path / "c" / "report.xlsx")
    assert book.properties.created == book.properties.modified == datetime(2023, 11, 14, 22, 13, 20)
    with zipfile.ZipFile(tmp_path / "c" / "report.xlsx") as archive:
        assert {m.date_time for m in archive.infolist()} == {(2023, 11, 14, 22, 13, 20)}


# --- CSV ---------------------------------------------------------------------------------------


def _csv_rows(path):
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def _decimals(text):
    return len(text.split(".")[1]) if re.fullmatch(r"-?\d+\.\d+", text) else 0


def test_csv_files_are_rounded_and_labelled(report_result, report_built, tmp_path):
    lc.write_outputs(report_result, tmp_path)
    lc.write_report(report_built, tmp_path / "report")
    paths = [tmp_path / "coverage.csv", tmp_path / "targets.csv",
             *sorted((tmp_path / "report").glob("*.csv"))]
    for path in paths:
        header, *rows = _csv_rows(path)
        for row in rows:
            for column, value in zip(header, row, strict=True):
                limit = 1 if column.endswith(("_m", "population", "minutes", "residents")) else 4
                assert _decimals(value) <= limit, (path.name, column, value)
    coverage = pd.read_csv(tmp_path / "coverage.csv", encoding="utf-8-sig")
    elderly = coverage[(coverage["area"] == "(all)") & (coverage["category"] == "elderly_care")]
    assert elderly[["label_zh", "n_near_miss", "population_near_miss"]].iloc[0].tolist() == [
        "养老", 1, 100 * PPH]
    assert elderly["compound_share"].iloc[0] == 0.3333
    targets = pd.read_csv(tmp_path / "targets.csv", encoding="utf-8-sig")
    assert targets[["measure_label", "result", "source"]].iloc[0].tolist() == [
        "按小区 / share of compounds", "未达标 not met", "profile target (本研究设定)"]
    failing = pd.read_csv(tmp_path / "report" / "failing_compounds.csv", encoding="utf-8-sig")
    by_name = failing[failing["category"] == "elderly_care"].set_index("name")
    assert by_name.loc["A小区", "gap_reason"] == "beyond_threshold"  # machine column kept
    assert by_name.loc["A小区", "gap_reason_label"].startswith("接近达标")
    assert by_name.loc["A小区", "dist_m"] == pytest.approx(545.0, abs=0.05)
    assert by_name.loc["C小区", "access_status_label"] == "距路网过远 / too far from the network"
    indicators = pd.read_csv(tmp_path / "report" / "indicators.csv", encoding="utf-8-sig")
    assert set(indicators["result"]) == {"达标 met", "未达标 not met"}


# --- caveats -----------------------------------------------------------------------------------


def test_caveats_state_what_can_turn_a_verdict(report_built):
    table = report_built.caveats.set_index("key")
    assert list(table.index) == ["no_footways", "off_network", "population_estimate"]
    # Streets only; A misses elderly care by 45 m of 500 m: the one complete-life-circle near miss.
    assert "1 compound(s) (250 residents) miss the complete life circle" in table.loc[
        "no_footways", "effect_en"]
    # C (50 households) is beyond the snap limit: with it, at most (750 + 125) / 1,125 residents.
    assert "(1 too far from any street)" in table.loc["off_network", "effect_en"]
    assert "1 个距路网过远" in table.loc["off_network", "effect_zh"]
    assert "at most 77.8% of residents" in table.loc["off_network", "effect_en"]
    # 2 venues per 1,125 residents = 177.8 per 100,000; it falls to 15.5 at 2.5 × 177.8 / 15.5.
    turning = PPH * (2 / (450 * PPH) * 1e5) / 15.5
    assert f"would fail above {turning:.2f} persons per household" in table.loc[
        "population_estimate", "effect_en"]
    assert all(table["title_zh"].str.len() > 0) and all(table["effect_zh"].str.len() > 0)


def test_caveats_follow_the_data(report_result):
    # One edge merging a street and a footway (osmnx lists the classes of merged ways).
    edges = report_result.network.edges.copy()
    edges["highway"] = [["residential", "footway"], *edges["highway"].tolist()[1:]]
    walkable = dataclasses.replace(report_result, network=dataclasses.replace(report_result.network, edges=edges))
    assert caveats.network_has_footways(walkable) and not caveats.network_has_footways(report_result)
    profile = report_result.profile.model_copy(update={
        "indicators": Indicators(shelter_category="refuge"), "sample": True, "sub_districts": None})
    changed = dataclasses.replace(walkable, profile=profile, sub_districts=None)
    table = lc.indicator_report(changed).caveats.set_index("key")
    assert list(table.index) == ["sample", "missing_categories", "off_network",
                                 "population_estimate", "no_sub_districts"]
    assert "本研究没有应急避难场所（refuge）图层" in table.loc["missing_categories", "effect_zh"]


# --- hostile text ------------------------------------------------------------------------------

#: Formula starts (each field gets one) and markup (every field gets all).
FORMULAS = ('=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(1,1)", "\t=1+1",
            "=cmd|' /C calc'!A0")
MARKUP = '<script>alert(1)</script>|[click](javascript:alert(1))![i](http://evil.example/i.png)'


def _hostile(text, number):
    return f"{FORMULAS[number % len(FORMULAS)]}{text}{MARKUP}"


def write_hostile_study(folder):
    """The report study with a formula start and markup in every text field."""
    profile_path = write_study(folder)
    counter = iter(range(1000))
    for name in ("nursery", "culture", "elderly", "shelter", "compounds"):
        path = folder / f"{name}.csv"
        frame = pd.read_csv(path)
        frame["name"] = [_hostile(v, next(counter)) for v in frame["name"]]
        frame.to_csv(path, index=False)
    jiedao = json.loads((folder / "jiedao.geojson").read_text(encoding="utf-8"))
    for feature in jiedao["features"]:
        feature["properties"]["name"] = _hostile(feature["properties"]["name"], next(counter))
    (folder / "jiedao.geojson").write_text(json.dumps(jiedao, ensure_ascii=False), encoding="utf-8")
    profile = yaml.safe_load(profile_path.read_text(encoding="utf-8"))
    profile["title"] = {k: _hostile(v, next(counter)) for k, v in profile["title"].items()}
    for category in profile["categories"].values():
        category["label"] = {k: _hostile(v, next(counter)) for k, v in category["label"].items()}
        category["threshold_source"] = _hostile(category["threshold_source"], next(counter))
        category["source"]["credit"] = _hostile("credit", next(counter))
    for target in profile["targets"]:
        target["label"] = {"zh": _hostile("目标", next(counter)), "en": _hostile("t", next(counter))}
        target["source"] = _hostile("source", next(counter))
    profile["indicators"] = {"source": _hostile("plan", next(counter))}
    profile_path.write_text(yaml.safe_dump(profile, allow_unicode=True), encoding="utf-8")
    return profile_path


@pytest.fixture(scope="module")
def hostile_outputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    result = lc.run(write_hostile_study(folder), progress=False)
    written = lc.write_outputs(result, folder / "out", report=True)
    return folder / "out", written


def test_no_csv_cell_becomes_a_formula(hostile_outputs):
    out, written = hostile_outputs
    csvs = [p for p in written if p.suffix == ".csv"]
    assert {p.name for p in csvs} >= {"coverage.csv", "targets.csv", "failing_compounds.csv",
                                      "by_sub_district.csv", "categories.csv", "indicators.csv"}
    neutralised = 0
    for path in csvs:
        for row in _csv_rows(path):
            for value in row:
                if value.startswith(FORMULA_TRIGGERS):
                    float(value)  # only numbers may start with a sign
                neutralised += value.startswith(("'=", "'+", "'-", "'@", "'\t"))
    assert neutralised > 20  # names, sub-districts and labels were there, made harmless


def test_no_workbook_cell_becomes_a_formula(hostile_outputs):
    out, _ = hostile_outputs
    book = load_workbook(out / "report" / "report.xlsx")
    cells = list(_cells(book))
    assert not [c.coordinate for _, c in cells if c.data_type == "f"]
    hostile = [c for _, c in cells if isinstance(c.value, str) and c.value.startswith(FORMULA_TRIGGERS)]
    assert len(hostile) > 20 and all(c.data_type == "s" and c.quotePrefix for c in hostile)
    assert any(c.value.startswith("=HYPERLINK") for c in hostile)  # kept as the data's text


def test_markdown_report_renders_no_markup(hostile_outputs):
    out, _ = hostile_outputs
    text = (out / "report" / "report.md").read_text(encoding="utf-8")
    html = MarkdownIt("commonmark").enable("table").render(text)
    assert "<script" not in html and "<img" not in html
    assert 'href="javascript' not in html and 'href="http://evil' not in html
    assert html.count("&lt;script&gt;") > 10  # the names are shown, as text
    links = re.findall(r'href="([^"]+)"', html)
    assert links and all(link.endswith((".html", ".png")) for link in links)  # only the maps
    for table in re.findall(r"<table>.*?</table>", html, flags=re.S):
        widths = {row.count("<td") + row.count("<th") for row in re.findall(r"<tr>.*?</tr>", table, flags=re.S)}
        assert len(widths) == 1  # no '|' in a name split a row


def test_formula_neutralisation_keeps_numbers():
    frame = pd.DataFrame({"name": ["=1+1", "ok", "-x", None], "n": [-1.5, 2.0, 3.0, 4.0]})
    safe = neutralise_formulas(frame)
    assert safe["name"].tolist()[:3] == ["'=1+1", "ok", "'-x"] and pd.isna(safe["name"][3])
    assert safe["n"].tolist() == [-1.5, 2.0, 3.0, 4.0] and frame["name"][0] == "=1+1"
    assert markdown_text("a|b <i>[x](y)</i>\nz") == r"a\|b &lt;i&gt;\[x\](y)&lt;/i&gt; z"
