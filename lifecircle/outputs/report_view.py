"""The indicator report's tables as a planner reads them, shared by the Markdown and Excel files.

Each view keeps numbers as numbers (Excel stores them with a number format; Markdown prints them
with the same format) and replaces every code with its Chinese-first label.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..analysis.indicators import IndicatorReport, pct
from ..analysis.report_tables import DISTRICT_MEASURES, district_column
from ..profile_supply import ALL_RESIDENTS
from ..sources.registers import MERGED_ROW
from .display import (
    ALL_RESIDENTS_LABEL,
    EXCLUSION_LABELS,
    HEADERS,
    MERGED_LABEL,
    METHOD_LABELS,
    SAMPLE_WARNING,
    UNIT_FORMATS,
    NumberFormat,
    access_label,
    area_label,
    category_text,
    column_format,
    formatted,
    gap_reason_label,
    header,
    level_label,
    met_text,
    yes_no,
)


@dataclass
class DisplayTable:
    """A table ready to show: bilingual headers, labelled codes, numbers with their formats.

    Attributes
    ----------
    frame : pandas.DataFrame
        Columns are the bilingual headers; numeric cells stay numbers.
    formats : dict
        Header → :class:`NumberFormat`, or a list of them (one per row) when the rows differ.
    """

    frame: pd.DataFrame
    formats: dict[str, NumberFormat | list[NumberFormat | None]] = field(default_factory=dict)

    def text(self) -> pd.DataFrame:
        """Every cell as the text a reader sees."""
        return formatted(self.frame, self.formats)


def _relabel(
    table: pd.DataFrame,
    labels: dict[str, tuple[str, str]],
    relabel: dict[str, Callable[[Any], Any]],
    drop: tuple[str, ...] = (),
) -> DisplayTable:
    frame = table.drop(columns=[c for c in drop if c in table.columns]).copy()
    for column, function in relabel.items():
        if column in frame.columns:
            frame[column] = [function(v) for v in frame[column]]
    formats = {header(c, labels): column_format(c) for c in frame.columns if c not in relabel}
    frame = frame.rename(columns={c: header(c, labels) for c in frame.columns})
    return DisplayTable(frame, {k: v for k, v in formats.items() if v is not None})


def _sub_district_format(target: float) -> NumberFormat:
    n = "?" if math.isnan(target) else f"{target:.0f}"
    return NumberFormat("{:.0f} / " + n, f'0" / {n}"')


def _row_formats(table: pd.DataFrame) -> list[NumberFormat]:
    return [
        _sub_district_format(t) if unit == "sub_districts" else UNIT_FORMATS[unit]
        for unit, t in zip(table["unit"], table["target_value"], strict=True)
    ]


def indicators_view(report: IndicatorReport, *, compact: bool = False) -> DisplayTable:
    """The plan's indicators: target, measured value, result, shortfall, source and note.

    ``compact`` (Markdown, terminal) numbers the rows and leaves out the target value and the
    note, which are listed below the table instead.
    """
    table = report.indicators
    row_formats = _row_formats(table)
    frame = pd.DataFrame(
        {
            "#": range(1, len(table) + 1),
            HEADERS["indicator"]: table["indicator_zh"] + " / " + table["indicator_en"],
            HEADERS["target"]: table["target"],
            HEADERS["target_value"]: table["target_value"],
            HEADERS["value"]: table["value"],
            HEADERS["met"]: [met_text(v) for v in table["met"]],
            HEADERS["shortfall"]: table["shortfall"],
            HEADERS["target_source"]: table["source"],
            HEADERS["caveat"]: table.get("caveat", ""),
            HEADERS["note"]: table["note"],
        }
    )
    formats: dict[str, Any] = {
        HEADERS[c]: row_formats for c in ("target_value", "value", "shortfall")
    }
    if compact:
        frame = frame.drop(columns=[HEADERS["target_value"], HEADERS["caveat"], HEADERS["note"]])
    else:
        frame = frame.drop(columns=["#"])
    return DisplayTable(frame, formats)


def sub_district_view(report: IndicatorReport) -> DisplayTable:
    """Per sub-district (wide): residents, coverage and near misses per category, facilities."""
    return _relabel(report.by_sub_district, report.category_labels, {"area": area_label})


def sub_district_coverage_view(report: IndicatorReport) -> DisplayTable:
    """Per sub-district and category (long): shares and near misses, one row per pair."""
    wide = report.by_sub_district
    rows = []
    for _, row in wide.iterrows():
        for key in [*report.category_labels]:
            if district_column(key, "compound_share") not in wide.columns:
                continue
            entry = {"area": row["area"], "category": key}
            for measure in DISTRICT_MEASURES:
                entry[measure] = row[district_column(key, measure)]
            rows.append(entry)
    long = pd.DataFrame(rows)
    long = long.rename(columns={"near_miss_compounds": "n_near_miss",
                                "near_miss_population": "population_near_miss"})
    return _relabel(long, report.category_labels,
                    {"area": area_label,
                     "category": lambda k: category_text(k, report.category_labels)})


def sub_district_facilities_view(report: IndicatorReport) -> DisplayTable:
    """Per sub-district: residents, compounds and the facility counts of the indicators."""
    wide = report.by_sub_district
    keep = [c for c in ("area", "residents", "n_compounds", "childcare_facilities",
                        "culture_venues", "culture_population", "culture_per_100k")
            if c in wide.columns]
    return _relabel(wide[keep], report.category_labels, {"area": area_label})


def failing_view(report: IndicatorReport) -> DisplayTable:
    """Compounds beyond each threshold, with readable status and reason."""
    table = report.failing_compounds.copy()
    margin = report.near_miss_share
    near = table["near_miss"] if "near_miss" in table else pd.Series(False, index=table.index)
    table["gap_reason"] = [
        gap_reason_label(r, bool(n), margin) for r, n in zip(table["gap_reason"], near, strict=True)
    ]
    labels = report.category_labels
    return _relabel(
        table, labels,
        {"category": lambda k: category_text(k, labels), "access_status": access_label,
         "gap_reason": str, "near_miss": lambda v: "接近达标 near miss" if v else ""},
        drop=("label_zh", "label_en"),
    )


def uncovered_view(report: IndicatorReport) -> DisplayTable:
    """Uncovered compounds and residents per area and category, with near misses."""
    labels = report.category_labels
    return _relabel(
        report.uncovered_population, labels,
        {"area": area_label, "category": lambda k: category_text(k, labels)},
        drop=("label_zh", "label_en"),
    )


def categories_view(report: IndicatorReport) -> DisplayTable:
    """The categories: label, key, threshold, level, facilities and the threshold's source."""
    table = report.categories.copy()
    labels = report.category_labels
    table.insert(1, "category_key", table["category"])
    return _relabel(
        table, labels,
        {"category": lambda k: category_text(k, labels), "category_key": str,
         "level": level_label, "required": yes_no},
        drop=("label_zh", "label_en"),
    )


def audit_view(report: IndicatorReport) -> DisplayTable:
    """The facility registers' completeness: entries, exclusions, merges per category."""
    labels = report.category_labels
    return _relabel(
        report.facility_audit, labels,
        {"category": lambda k: category_text(k, labels),
         "source": lambda s: MERGED_LABEL if s == MERGED_ROW else s},
    )


def excluded_view(report: IndicatorReport) -> DisplayTable:
    """Register entries excluded as closed or out of scope, with the matching rule."""
    labels = report.category_labels
    return _relabel(
        report.excluded_facilities, labels,
        {"category": lambda k: category_text(k, labels),
         "reason": lambda r: EXCLUSION_LABELS.get(str(r), str(r)),
         "inside_study_area": yes_no},
    )


def supply_view(report: IndicatorReport) -> DisplayTable:
    """Capacity against demand per area and category (categories with a capacity)."""
    labels = report.category_labels
    return _relabel(
        report.supply_demand, labels,
        {"area": area_label, "category": lambda k: category_text(k, labels),
         "method": lambda m: METHOD_LABELS.get(str(m), str(m)),
         "demand_group": lambda g: ALL_RESIDENTS_LABEL if g == ALL_RESIDENTS else g},
    )


def caveats_view(report: IndicatorReport) -> DisplayTable:
    """The data caveats that can change a verdict."""
    table = report.caveats
    frame = pd.DataFrame(
        {
            HEADERS["caveat"]: table["title_zh"] + " / " + table["title_en"],
            HEADERS["effect_zh"]: table["effect_zh"],
            HEADERS["effect_en"]: table["effect_en"],
        }
    )
    return DisplayTable(frame)


def summary_lines(report: IndicatorReport) -> list[tuple[str, str]]:
    """(item, value) lines describing how the report was measured."""
    population = (
        "unknown" if math.isnan(report.population_total) else f"{report.population_total:,.0f}"
    )
    margin = f"{report.near_miss_share:.0%}"
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
            "接近达标 / Near miss",
            f"not covered, but within {margin} beyond the walking threshold "
            f"(未覆盖，但超出阈值不足{margin}); profile setting near_miss_share",
        ),
        (
            "步行速度 / Walking speed",
            f"{report.walking_speed_m_per_min:.0f} m/min ({report.walking_speed_m_per_min * 0.06:g} km/h)",
        ),
        ("人口 / Population (per-capita indicators)", f"{population} — {report.population_source}"),
    ]


def about_view(report: IndicatorReport, maps: list[tuple[str, str]] | None = None) -> DisplayTable:
    """How the report was made: summary lines, maps, notes and credits."""
    lines = list(summary_lines(report))
    if report.sample:
        lines.insert(0, ("示例数据 / SAMPLE DATA", SAMPLE_WARNING))
    lines += [("地图 / Map", f"{title}: {link}") for title, link in (maps or [])]
    lines += [("说明 / Note", n) for n in report.notes]
    lines += [("数据来源 / Credit", c) for c in report.credits]
    return DisplayTable(pd.DataFrame(lines, columns=["项目 / Item", "内容 / Value"]))
