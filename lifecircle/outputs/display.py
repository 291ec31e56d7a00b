"""Tables as planners read them: bilingual headers, Chinese-first codes, number formats."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ..analysis.indicators import IndicatorReport, pct

SAMPLE_WARNING = (
    "示例数据 / SAMPLE DATA — these results come from the bundled OpenStreetMap sample, not from "
    "your study area; they only show what a complete run produces."
)
MET_TEXT = {True: "达标 met", False: "未达标 not met"}
NOT_MEASURABLE = "无法测量 n/a"

# Bilingual headers of the fixed columns (the snake_case names stay in CSV files and in code).
HEADERS = {
    "key": "代码 / Key",
    "indicator": "指标 / Indicator",
    "target": "目标 / Target",
    "measured": "实测 / Measured",
    "met": "结果 / Result",
    "shortfall": "差距 / Shortfall",
    "note": "说明 / Note",
    "area": "区域 / Area",
    "residents": "居民 / Residents",
    "n_compounds": "小区数 / Compounds",
    "childcare_facilities": "托育点 / Childcare points",
    "culture_venues": "文化设施 / Cultural venues",
    "culture_population": "人口(人均指标) / Population (per-capita)",
    "culture_per_100k": "每10万人文化设施 / Cultural venues per 100k",
    "category": "类别代码 / Category key",
    "label_zh": "类别 / Category (中文)",
    "label_en": "类别 / Category (English)",
    "compound_id": "小区编号 / Compound ID",
    "name": "名称 / Name",
    "sub_district": "街道 / Sub-district",
    "households": "户数 / Households",
    "population": "人口 / Population",
    "dist_m": "步行距离(米) / Walk (m)",
    "minutes": "步行时间(分钟) / Walk (min)",
    "threshold_m": "阈值(米) / Threshold (m)",
    "access_status": "路网状态 / Network status",
    "gap_reason": "原因 / Reason",
    "nearest": "最近设施 / Nearest facility",
    "n_uncovered": "未覆盖小区 / Uncovered compounds",
    "n_uncovered_off_network": "其中不在路网 / of which off the network",
    "uncovered_population": "未覆盖人口 / Uncovered residents",
    "uncovered_share": "未覆盖比例 / Uncovered share",
    "threshold_min": "阈值(分钟) / Threshold (min)",
    "level": "生活圈层级 / Life-circle level",
    "required": "完整生活圈必需 / Required",
    "threshold_source": "阈值依据 / Threshold source",
    "facilities_in_buffer": "设施(含周边) / Facilities (with surroundings)",
    "facilities_inside": "区内设施 / Facilities inside",
}




def met_text(value: Any) -> str:
    if value is pd.NA or value is None or (isinstance(value, float) and math.isnan(value)):
        return NOT_MEASURABLE
    return MET_TEXT[bool(value)]


def shortfall_text(unit: str, value: float) -> str:
    if value is None or math.isnan(value):
        return ""
    if unit == "share":
        return f"{value * 100:.1f} pts" if value else "0"
    if unit == "sub_districts":
        return f"{value:.0f} 街道/镇" if value else "0"
    return f"{value:.1f} per 100k" if value else "0"


def indicator_display(report: IndicatorReport, *, notes: bool = True) -> pd.DataFrame:
    """The indicators as a planner reads them: bilingual headers, text values.

    Without ``notes`` the note column is replaced by a number pointing at a list of notes.
    """
    table = report.indicators
    display = pd.DataFrame(
        {
            "#": range(1, len(table) + 1),
            HEADERS["indicator"]: table["indicator_zh"] + " / " + table["indicator_en"],
            HEADERS["target"]: table["target"],
            HEADERS["measured"]: table["measured"].replace("", "—"),
            HEADERS["met"]: [met_text(v) for v in table["met"]],
            HEADERS["shortfall"]: [
                shortfall_text(u, v) for u, v in zip(table["unit"], table["shortfall"], strict=True)
            ],
            HEADERS["note"]: table["note"],
        }
    )
    return display.drop(columns=["#"]) if notes else display.drop(columns=[HEADERS["note"]])


def header(column: str, labels: dict[str, tuple[str, str]]) -> str:
    if column in HEADERS:
        return HEADERS[column]
    for key, (zh, en) in labels.items():
        for measure, measure_zh, measure_en in (
            ("compound_share", "小区覆盖率", "compound share"),
            ("population_share", "人口覆盖率", "population share"),
        ):
            if column == f"{key}_{measure}":
                return f"{zh}{measure_zh} / {en} {measure_en}"
    return column


def bilingual(frame: pd.DataFrame, labels: dict[str, tuple[str, str]]) -> pd.DataFrame:
    return frame.rename(columns={c: header(c, labels) for c in frame.columns})


_WHOLE_NUMBER_COLUMNS = frozenset(
    {"residents", "population", "uncovered_population", "culture_population", "households",
     "dist_m", "threshold_m"}
)
_ONE_DECIMAL_COLUMNS = frozenset({"minutes", "threshold_min", "culture_per_100k"})
EXCEL_FORMATS = {"{:.1%}": "0.0%", "{:,.0f}": "#,##0", "{:.1f}": "0.0"}


def number_pattern(column: str) -> str | None:
    """How a numeric column is shown (a str.format pattern), or None to leave it as is."""
    if column.endswith("_share"):
        return "{:.1%}"
    if column in _WHOLE_NUMBER_COLUMNS:
        return "{:,.0f}"
    if column in _ONE_DECIMAL_COLUMNS:
        return "{:.1f}"
    return None




def summary_lines(report: IndicatorReport) -> list[tuple[str, str]]:
    population = (
        "unknown" if math.isnan(report.population_total) else f"{report.population_total:,.0f}"
    )
    return [
        ("研究 / Study", f"{report.title.zh} / {report.title.en} ({report.profile_name})"),
        ("示例数据 / Sample data", "是 yes" if report.sample else "否 no"),
        (
            "阈值标准 / Threshold preset",
            f"{report.preset}: {report.preset_label.zh} / {report.preset_label.en} — "
            f"{report.preset_source} (categories with a life-circle level use it; the others "
            "give their own threshold and source)",
        ),
        (
            "基本覆盖 / 'Basically full' coverage",
            f"≥ {pct(report.full_coverage_share)} of residents (indicators.full_coverage_share)",
        ),
        (
            "步行速度 / Walking speed",
            f"{report.walking_speed_m_per_min:.0f} m/min ({report.walking_speed_m_per_min * 0.06:g} km/h)",
        ),
        ("人口 / Population (per-capita indicators)", f"{population} — {report.population_source}"),
    ]
