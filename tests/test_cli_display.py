"""The command line keeps the user informed: readable summaries that fit 80 columns, progress on
every step that can take seconds, --version, and `lifecircle init` for a new study."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
import yaml
from rich.cells import cell_len
from rich.console import Console
from typer.testing import CliRunner

import lifecircle as lc
from lifecircle import cli, starter
from lifecircle._progress import Reporter

from ._handbuilt import lonlat, write_boxes


def _render(function, *args, width=80):
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    function(*args, console)
    return console.export_text()


def test_summary_and_indicators_fit_80_columns(report_result, report_built):
    text = _render(cli.print_summary, report_result) + _render(cli.print_indicators, report_built)
    lines = text.splitlines()
    assert max(cell_len(line) for line in lines) <= 80
    assert "…" not in text  # nothing cut off
    # Whole words of every label survive (on their own line when needed).
    for label in ("Elderly care", "养老", "Complete life circle", "完整生活圈", "Near miss"):
        assert label in text, label
    # Elderly care: A (250 residents) is the one near miss; C is beyond the snap limit.
    elderly = next(i for i, line in enumerate(lines) if "│ 养老" in line)
    assert "1 小区" in lines[elderly] and "250 人" in lines[elderly + 1]
    assert "2  已接入路网 / on the walking network" in text
    assert "1  距路网过远 / too far from the network" in text
    assert "{" not in text and "access status" not in text  # no raw dict
    assert "差 " in text and "short by" in text  # the elderly-care target's shortfall
    assert "数据局限 / Caveats" in text and "路网不含人行道和小路" in text


def test_summary_escapes_markup_from_data(report_result):
    profile = report_result.profile.model_copy(
        update={"title": lc.profile.Label(zh="[bold]标题[/bold]", en="[red]x")})
    import dataclasses

    text = _render(cli.print_summary, dataclasses.replace(report_result, profile=profile))
    assert "[bold]标题[/bold] / [red]x" in text


def test_reporter_steps_and_waits_print_plain_lines():
    console = Console(file=io.StringIO(), width=100, color_system=None)
    reporter = Reporter(console=console)
    with reporter.working("reading [a].csv"):
        pass
    with reporter.steps() as announce:
        announce("building the map")
        announce("writing report.xlsx")
    reporter.info("[bold]not markup")
    lines = console.file.getvalue().splitlines()
    assert [line.split(" (")[0].strip() for line in lines[:3]] == [
        "reading [a].csv", "building the map", "writing report.xlsx"]
    assert all(line.endswith(" s)") for line in lines[:3])
    assert lines[3].strip() == "[bold]not markup"
    silent = Console(file=io.StringIO())
    with Reporter(enabled=False, console=silent).steps() as announce:
        announce("x")
    assert silent.file.getvalue() == ""


def test_cli_version_and_progress(report_study, tmp_path):
    runner = CliRunner()
    outcome = runner.invoke(cli.app, ["--version"])
    assert outcome.exit_code == 0 and outcome.output.strip() == f"lifecircle {cli.package_version()}"
    outcome = runner.invoke(cli.app, ["run", str(report_study), "--out", str(tmp_path / "out")],
                            env={"COLUMNS": "80"})
    assert outcome.exit_code == 0, outcome.output
    assert max(cell_len(line) for line in outcome.output.splitlines()) <= 80
    for step in ("reading streets.osm", "building the walking graph", "reading nursery: nursery.csv",
                 "reading compounds: compounds.csv", "building the interactive map",
                 "writing coverage.csv", "writing reportstudy.html", "writing manifest.json"):
        assert step in outcome.output, step


@pytest.mark.parametrize("command", ["run", "report", "site", "compare", "init", "batch"])
def test_help_shows_what_to_type_not_python_types(command):
    # Typer labels options with Python types (<bool>, <list[str]>, <int range> [x>=1]):
    # every option of ours names what the planner types instead (FILE, FOLDER, N ...).
    outcome = CliRunner().invoke(cli.app, [command, "--help"], env={"COLUMNS": "120"})
    assert outcome.exit_code == 0, outcome.output
    options = [line for line in outcome.output.splitlines() if "--" in line and "--help" not in line]
    assert options
    for jargon in ("<bool>", "<str>", "<path>", "<int", "<float>", "list[str]"):
        assert not any(jargon in line for line in options), (jargon, outcome.output)


# --- lifecircle init ---------------------------------------------------------------------------


@pytest.fixture
def data_files(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    lon, lat = lonlat(0, 0)
    pd.DataFrame({"小区名称": ["甲", "乙"], "lng": [lon, lon + 0.01], "lat": [lat, lat],
                  "户数": [100, 200]}).to_csv(data / "compounds_bd09.csv", index=False)
    pd.DataFrame({"name": ["幼儿园A"], "经度": [lon], "纬度": [lat]}).to_csv(
        data / "kindergartens_amap.csv", index=False, encoding="gb18030")
    pd.DataFrame({"title": ["馆"], "x": [lon], "y": [lat]}).to_csv(data / "venues.csv", index=False)
    pd.DataFrame({"name": ["x"], "lon": [lon], "lat": [lat]}).to_csv(
        data / "pois_amap_wgs84.csv", index=False)
    write_boxes(data / "jiedao.geojson", {"西街道": (0, 0, 100, 100)})
    return data


def test_init_writes_a_commented_profile_that_validates(data_files, tmp_path):
    out = tmp_path / "studies" / "my_study.yaml"
    args = ["init", "my_study", "--district", "长宁区",
            "--compounds", str(data_files / "compounds_bd09.csv"),
            "--facility", f"nursery={data_files / 'kindergartens_amap.csv'}",
            "--facility", f"tea_house={data_files / 'venues.csv'}",
            "--sub-districts", str(data_files / "jiedao.geojson"), "--out", str(out)]
    outcome = CliRunner().invoke(cli.app, args)
    assert outcome.exit_code == 0, outcome.output
    text = out.read_text(encoding="utf-8")
    profile = lc.load_profile(out)
    assert profile.study_area.district == "上海市长宁区" and profile.projected_crs == "EPSG:32651"
    compounds = profile.compounds
    assert (compounds.source.crs, compounds.source.x, compounds.source.y) == ("bd09", "lng", "lat")
    assert compounds.source.name_field == "小区名称" and compounds.households_field == "户数"
    assert profile.resolve(compounds.source.file) == (data_files / "compounds_bd09.csv").resolve()
    nursery = profile.categories["nursery"]
    assert (nursery.sources[0].crs, nursery.sources[0].x) == ("gcj02", "经度")  # 'amap' in the name
    assert nursery.level == "5min" and "GB 50180-2018" in nursery.threshold_source
    # An unknown category and a file that says nothing of its coordinates are flagged.
    venues = profile.categories["tea_house"]
    assert venues.sources[0].crs == "wgs84" and venues.sources[0].name_field == "title"
    assert text.count("# CHECK") >= 3 and "nothing says which" in text
    assert profile.sub_districts.file.name == "jiedao.geojson"
    assert profile.targets[0].source == "长宁区社区治理规划（2021–2025）"
    # Never overwrites: a second init fails and leaves the file as it was.
    again = CliRunner().invoke(cli.app, args)
    assert again.exit_code == 4 and "already exists" in again.output  # 4: output not written
    assert out.read_text(encoding="utf-8") == text


def test_init_errors_are_one_line(data_files, tmp_path):
    runner = CliRunner()
    unknown = runner.invoke(cli.app, ["init", "x", "--district", "火星区", "--out",
                                      str(tmp_path / "x.yaml")])
    assert unknown.exit_code == 1 and "火星区" in unknown.output and "Traceback" not in unknown.output
    missing = runner.invoke(cli.app, ["init", "x", "--facility", "nursery=gone.csv", "--out",
                                      str(tmp_path / "x.yaml")])
    assert missing.exit_code == 1 and "gone.csv" in missing.output
    bad = runner.invoke(cli.app, ["init", "x", "--facility", "nursery", "--out",
                                  str(tmp_path / "x.yaml")])
    assert bad.exit_code == 2 and "CATEGORY=FILE" in bad.output
    # a Chinese study name (as a planner would type first) is refused with why and an example
    chinese = runner.invoke(cli.app, ["init", "我的研究", "--out", str(tmp_path / "x.yaml")])
    assert chinese.exit_code == 1 and "Traceback" not in chinese.output
    assert "data/processed/<name>" in chinese.output and "title:" in chinese.output
    assert not (tmp_path / "x.yaml").exists()


def test_init_refuses_a_built_in_name_and_a_file_without_rows(data_files, tmp_path):
    # A study named like a built-in profile wrote into (and later lost) that profile's
    # data/processed/<name>; a header-only CSV gave a profile "0 rows … CHECK: not lon/lat".
    runner = CliRunner()
    clash = runner.invoke(cli.app, ["init", "huangpu", "--out", str(tmp_path / "h.yaml")])
    assert clash.exit_code == 1 and "built-in profile" in clash.output
    (tmp_path / "header.csv").write_text("name,lon,lat\n", encoding="utf-8")
    empty = runner.invoke(cli.app, ["init", "x", "--compounds", str(tmp_path / "header.csv"),
                                    "--out", str(tmp_path / "x.yaml")])
    assert empty.exit_code == 1 and "no rows" in empty.output, empty.output
    assert not (tmp_path / "h.yaml").exists() and not (tmp_path / "x.yaml").exists()


def test_init_without_files_uses_openstreetmap_categories(tmp_path):
    text, hints = starter.profile_text("osm_study", tmp_path, district="310105")
    data = yaml.safe_load(text)
    assert hints == [] and data["network"] == {"source": "osm_online"}
    assert set(data["categories"]) == {"nursery", "elderly_care", "culture", "shelter"}
    assert data["categories"]["nursery"]["source"]["osm_tags"] == {"amenity": ["kindergarten", "childcare"]}
    assert data["compounds"]["source"] == {"osm_tags": {"landuse": ["residential"]}}
    assert json.loads(json.dumps(data))  # plain data, nothing exotic


def test_inspect_guesses_the_coordinate_system_from_names(data_files):
    # A system named outright beats the provider: AMap points already converted to WGS84.
    converted = starter.inspect_layer(data_files / "pois_amap_wgs84.csv")
    assert (converted.crs, converted.crs_certain) == ("wgs84", True)
    amap = starter.inspect_layer(data_files / "kindergartens_amap.csv")  # GB18030 text
    assert (amap.crs, amap.x, amap.y, amap.name_field) == ("gcj02", "经度", "纬度", "name")


def test_inspect_geo_file_reports_its_crs(data_files):
    hints = starter.inspect_layer(data_files / "jiedao.geojson")
    assert hints.crs == "wgs84" and not hints.crs_certain and "GCJ-02" in hints.crs_reason
    assert hints.name_field == "name" and hints.x is None and hints.rows == 1
