"""Writing a what-if comparison: tables (CSV, Markdown, Excel), layers and a map of the changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import pandas as pd

from .. import schema, settings
from ..analysis.scenarios import ADDED, GAINED, LOST, NEW_COVERED, REMOVED, ScenarioComparison
from ..profile import Profile
from . import files, web_map
from ._overlays import point_layer
from ._safe import markdown_text
from .bundle import Progress, output_dir, write_outputs
from .display import NumberFormat, category_texts, column_format
from .excel import write_tables
from .html import save_map
from .labels import COVERED_COLOUR, UNCOVERED_COLOUR, credits_with_osm
from .markdown import markdown_table
from .report_view import DisplayTable
from .siting_outputs import table_writer, write_files

CHANGE_LABELS = {
    "gained": "新增覆盖 / gains coverage",
    "lost": "失去覆盖 / loses coverage",
    "new_covered": "新建小区（覆盖）/ new compound, covered",
    "new_uncovered": "新建小区（未覆盖）/ new compound, not covered",
    "added": "新增设施 / facility added",
    "removed": "移除设施 / facility removed",
}
HEADERS = {
    "area": "区域 / Area",
    "category": "类别 / Category",
    "n_compounds_base": "小区数（现状）/ Compounds (base)",
    "n_compounds_scenario": "小区数（情景）/ Compounds (scenario)",
    "n_covered_base": "覆盖小区（现状）/ Covered compounds (base)",
    "n_covered_scenario": "覆盖小区（情景）/ Covered compounds (scenario)",
    "n_covered_change": "覆盖小区变化 / Change in covered compounds",
    "compound_share_base": "小区覆盖率（现状）/ Compound share (base)",
    "compound_share_scenario": "小区覆盖率（情景）/ Compound share (scenario)",
    "compound_share_change": "小区覆盖率变化 / Change in compound share",
    "population_covered_base": "覆盖人口（现状）/ Residents covered (base)",
    "population_covered_scenario": "覆盖人口（情景）/ Residents covered (scenario)",
    "population_covered_change": "覆盖人口变化 / Change in residents covered",
    "population_share_base": "人口覆盖率（现状）/ Population share (base)",
    "population_share_scenario": "人口覆盖率（情景）/ Population share (scenario)",
    "population_share_change": "人口覆盖率变化 / Change in population share",
    "n_gained": "新增覆盖小区 / Compounds gaining",
    "n_lost": "失去覆盖小区 / Compounds losing",
    "population_gained": "新增覆盖人口 / Residents gaining",
    "population_lost": "失去覆盖人口 / Residents losing",
    "compound_id": "小区编号 / Compound ID",
    "name": "名称 / Name",
    "sub_district": "街道 / Sub-district",
    "population": "人口 / Population",
    "change": "变化 / Change",
    "dist_m_base": "步行距离（现状，米）/ Walk (base, m)",
    "dist_m_scenario": "步行距离（情景，米）/ Walk (scenario, m)",
    "lon": "经度 / Longitude",
    "lat": "纬度 / Latitude",
}
SHEETS = {
    "comparison": "对比 Comparison",
    "compound_changes": "小区变化 Compound changes",
    "facility_changes": "设施变化 Facility changes",
    "about": "说明 About",
}


def comparison_dir(profile: Profile, scenario: str, out: str | Path | None = None) -> Path:
    """``<out>/scenarios/<scenario>``; ``out`` defaults to the run's folder (:func:`output_dir`)."""
    return output_dir(profile, out) / "scenarios" / scenario


def display_table(frame: pd.DataFrame) -> pd.DataFrame:
    """A table as a planner reads it: bilingual headers, codes as bilingual labels."""
    shown = frame.copy()
    if "change" in shown:
        shown["change"] = shown["change"].map(CHANGE_LABELS).fillna(shown["change"])
    return shown.rename(columns={c: HEADERS.get(c, c) for c in shown.columns})


def _about(comparison: ScenarioComparison) -> pd.DataFrame:
    profile = comparison.scenario.profile
    rows = [("情景 / Scenario", comparison.name), ("研究 / Study", str(profile.title))]
    rows += [
        (f"阈值 / Threshold: {key}", f"{cat.threshold_m:g} m — {cat.threshold_source}")
        for key, cat in profile.categories.items()
    ]
    rows += [("说明 / Note", note) for note in comparison.notes]
    rows += [("数据来源 / Credit", c) for c in credits_with_osm(comparison.base.credits)]
    return pd.DataFrame(rows, columns=["项目 / Item", "内容 / Value"])


def comparison_markdown(comparison: ScenarioComparison) -> str:
    """The comparison as Markdown: per area and category, then the facility changes."""
    def table(frame: pd.DataFrame) -> str:
        shown = frame.copy()
        for column in shown.columns:
            if column.endswith("_share_change"):  # percentage points, which no NumberFormat says
                shown[column] = [("" if pd.isna(v) else f"{v * 100:+.1f} pts") for v in shown[column]]
        return markdown_table(_sheet(shown))

    profile = comparison.scenario.profile
    columns = ["area", "category", "population_share_base", "population_share_scenario",
               "population_share_change", "n_gained", "n_lost", "compound_share_base",
               "compound_share_scenario", "compound_share_change"]
    lines = [f"# 情景对比 / Scenario comparison: {markdown_text(comparison.name)}", "",
             markdown_text(f"{profile.title.zh} / {profile.title.en}"), "",
             "## 覆盖率变化 / Coverage change", "", table(comparison.by_area[columns]),
             "## 设施变化 / Facility changes", "", table(comparison.facility_changes)]
    lines += [f"- {markdown_text(note)}" for note in comparison.notes]
    lines += ["", "## 数据来源 / Credits", ""]
    lines += [f"- {markdown_text(c)}" for c in credits_with_osm(comparison.base.credits)] + [""]
    return "\n".join(lines)


def _column_format(column: str) -> NumberFormat | None:
    # A base or scenario column reads like the run's column it comes from (shares as %).
    return column_format(column.removesuffix("_base").removesuffix("_scenario"))


def _sheet(frame: pd.DataFrame) -> DisplayTable:
    formats = {HEADERS.get(c, c): _column_format(c) for c in frame.columns if _column_format(c)}
    return DisplayTable(display_table(frame), formats)


def _write_workbook(path: Path, comparison: ScenarioComparison) -> None:
    profile = comparison.scenario.profile
    about = _about(comparison)
    write_tables(
        path,
        {
            SHEETS["comparison"]: _sheet(comparison.by_area),
            SHEETS["compound_changes"]: _sheet(comparison.compound_changes),
            SHEETS["facility_changes"]: _sheet(comparison.facility_changes),
            SHEETS["about"]: DisplayTable(about),
        },
        f"{profile.title.zh} / {profile.title.en} — {comparison.name}",
    )


def changes_layers(comparison: ScenarioComparison) -> dict[str, gpd.GeoDataFrame]:
    """GeoPackage layers: compounds whose coverage changes, and the facilities added/removed."""
    compounds = comparison.scenario.compounds.to_crs(settings.exchange_crs)
    located = compounds.set_index(schema.COMPOUND_ID)[["geometry"]]
    changed = comparison.compound_changes.join(located, on=schema.COMPOUND_ID)
    facilities = comparison.facility_changes
    return {
        "compound_changes": gpd.GeoDataFrame(changed, geometry="geometry",
                                             crs=settings.exchange_crs),
        "facility_changes": gpd.GeoDataFrame(
            facilities, geometry=gpd.points_from_xy(facilities["lon"], facilities["lat"]),
            crs=settings.exchange_crs,
        ),
        "study_area": comparison.base.study_area,
    }


def changes_map(comparison: ScenarioComparison, *, tiles: bool = False) -> folium.Map:
    """The scenario's coverage map with layers of compounds that gain or lose coverage."""
    scenario = comparison.scenario
    profile = scenario.profile
    fmap = web_map.coverage_map(scenario, tiles=tiles)
    located = scenario.compounds.set_index(schema.COMPOUND_ID).geometry
    labels = category_texts(profile)
    for key, group in comparison.compound_changes.groupby("category", sort=False):
        what = labels.get(key, key)
        for change, colour in ((GAINED, COVERED_COLOUR), (LOST, UNCOVERED_COLOUR),
                               (NEW_COVERED, "#2166ac")):
            rows = group[group["change"].isin([change, "new_uncovered"] if change == NEW_COVERED
                                              else [change])]
            if rows.empty:
                continue
            points = gpd.GeoDataFrame(rows, geometry=located.loc[rows[schema.COMPOUND_ID]].to_numpy(),
                                      crs=scenario.compounds.crs)
            texts = [{"name": f"{r.name} — {CHANGE_LABELS[r.change]}"} for r in rows.itertuples()]
            point_layer(fmap, points, texts, f"{what}: {CHANGE_LABELS[change]} ({len(rows):,})",
                        folium.CircleMarker(radius=8, fill=False, color=colour, weight=3),
                        show=key != schema.COMPLETE)
    facilities = comparison.facility_changes
    for change, fill in ((ADDED, "#c51b7d"), (REMOVED, "#ffffff")):
        rows = facilities[facilities["change"] == change]
        if rows.empty:
            continue
        points = gpd.GeoDataFrame(rows, geometry=gpd.points_from_xy(rows["lon"], rows["lat"]),
                                  crs=settings.exchange_crs)
        texts = [{"name": f"{r.name} ({r.category})"} for r in rows.itertuples()]
        point_layer(fmap, points, texts, f"{CHANGE_LABELS[change]} ({len(rows)})",
                    folium.CircleMarker(radius=7, fill=True, fill_opacity=0.9, color="#000000",
                                        weight=2, fill_color=fill))
    return fmap


def write_comparison(
    comparison: ScenarioComparison,
    out: str | Path | None = None,
    *,
    self_contained_map: bool = True,
    progress: Progress | None = None,
) -> list[Path]:
    """Write the run's output set with a scenario comparison in ``<out>/scenarios/<name>/``.

    The base run's outputs are written again with the comparison, as one whole set
    (:func:`lifecircle.write_outputs`).

    Returns
    -------
    list of Path
        The run's files, then ``comparison.csv`` (per area and category: base, scenario,
        change, gains and losses), ``compound_changes.csv``, ``facility_changes.csv``,
        ``coverage_scenario.csv``, ``targets_scenario.csv``, ``comparison.md``,
        ``comparison.xlsx``, ``changes.gpkg``, ``changes_map.html`` and ``summary.json``.
    """
    folder = comparison_dir(comparison.base.profile, comparison.name, out)
    fmap = changes_map(comparison, tiles=not self_contained_map)
    layers = changes_layers(comparison)
    tables = {
        "comparison.csv": comparison.by_area,
        "compound_changes.csv": comparison.compound_changes,
        "facility_changes.csv": comparison.facility_changes,
        "coverage_scenario.csv": comparison.scenario.coverage,
        "targets_scenario.csv": comparison.scenario.targets,
    }
    summary = _summary(comparison)
    writers = {name: table_writer(table) for name, table in tables.items()}
    writers |= {
        "comparison.md": lambda path: files.write_text(path, comparison_markdown(comparison)),
        "comparison.xlsx": lambda path: _write_workbook(path, comparison),
        "changes.gpkg": lambda path: files.write_geopackage_layers(path, layers),
        "changes_map.html": lambda path: save_map(fmap, path, self_contained=self_contained_map),
        "summary.json": lambda path: files.write_json(path, summary),
    }
    return write_outputs(
        comparison.base, out, self_contained_map=self_contained_map, progress=progress,
        extra=lambda stage: write_files(stage, folder, writers),
    )


def _summary(comparison: ScenarioComparison) -> dict[str, Any]:
    overall = comparison.by_area[comparison.by_area["area"] == schema.ALL_AREAS]
    return {
        "scenario": comparison.name,
        "profile": comparison.base.profile.name,
        "overall": overall.to_dict("records"),
        "facility_changes": len(comparison.facility_changes),
        "compound_changes": comparison.compound_changes["change"].value_counts().to_dict(),
        "notes": comparison.notes,
        "credits": credits_with_osm(comparison.base.credits),
        "versions": files.package_versions(),
    }
