"""The indicator report as Markdown (GitHub tables), with every data-derived string escaped."""

from __future__ import annotations

from urllib.parse import quote

from ..analysis.indicators import IndicatorReport
from ._safe import markdown_text
from .display import SAMPLE_WARNING, category_text
from .report_view import (
    DisplayTable,
    audit_view,
    categories_view,
    excluded_view,
    failing_view,
    indicators_view,
    sub_district_coverage_view,
    sub_district_facilities_view,
    summary_lines,
    supply_view,
    uncovered_view,
)

#: Compounds per category listed in the Markdown report (all of them are in the CSV and workbook).
MARKDOWN_TOP_COMPOUNDS = 10
#: Excluded register entries listed in the Markdown report.
MARKDOWN_TOP_EXCLUDED = 20
NONE_TEXT = "(none / 无)"


def markdown_table(table: DisplayTable) -> str:
    """A GitHub table: every cell (headers too) escaped, numbers right-aligned as formatted."""
    if table.frame.empty:
        return NONE_TEXT + "\n"
    text = table.text().map(markdown_text)
    text.columns = [markdown_text(c) for c in table.frame.columns]
    numeric = {str(c) for c in table.formats} | {"#"}
    align = ["right" if str(c) in numeric else "left" for c in table.frame.columns]
    return text.to_markdown(index=False, colalign=align, disable_numparse=True) + "\n"


def _map_lines(maps: list[tuple[str, str]]) -> list[str]:
    if not maps:
        return []
    lines = ["### 地图 / Maps", ""]
    for title, link in maps:
        lines.append(f"- [{markdown_text(title)}]({quote(link)})")
    return [*lines, ""]


def _caveat_lines(report: IndicatorReport) -> list[str]:
    lines = ["### 数据局限 / Caveats that can change a verdict", ""]
    if report.caveats.empty:
        return [*lines, NONE_TEXT, ""]
    for row in report.caveats.itertuples():
        title = markdown_text(f"{row.title_zh} / {row.title_en}")
        lines.append(
            f"- **{title}.** {markdown_text(row.effect_zh)} {markdown_text(row.effect_en)}"
        )
    return [*lines, ""]


def _failing_lines(report: IndicatorReport) -> list[str]:
    failing = report.failing_compounds
    lines = [
        "### 未达标小区 / Compounds beyond the threshold", "",
        f"The {MARKDOWN_TOP_COMPOUNDS} most populous per category; all of them are in "
        "failing_compounds.csv and report.xlsx (with a filter on every column).", "",
    ]
    if failing.empty:
        return [*lines, NONE_TEXT, ""]
    view = failing_view(report)
    for key, rows in failing.groupby("category", sort=False):
        near = int(rows["near_miss"].sum()) if "near_miss" in rows else 0
        title = markdown_text(category_text(str(key), report.category_labels))
        lines += [f"#### {title}: {len(rows):,} compound(s), {near:,} near miss(es) / 接近达标", ""]
        top = view.frame.loc[rows.index[:MARKDOWN_TOP_COMPOUNDS]]
        shown = DisplayTable(top.drop(columns=top.columns[0]), view.formats)
        lines.append(markdown_table(shown))
    return lines


def _supply_lines(report: IndicatorReport) -> list[str]:
    lines = []
    if not report.supply_demand.empty:
        lines += ["### 供需 / Supply and demand", "", markdown_table(supply_view(report))]
    if not report.facility_audit.empty:
        lines += ["### 设施数据审计 / Facility registers", "", markdown_table(audit_view(report))]
    excluded = report.excluded_facilities
    if not excluded.empty:
        view = excluded_view(report)
        shown = DisplayTable(view.frame.head(MARKDOWN_TOP_EXCLUDED), view.formats)
        listed = (
            f"; the first {MARKDOWN_TOP_EXCLUDED} are listed, all of them in "
            "excluded_facilities.csv and report.xlsx" if len(excluded) > MARKDOWN_TOP_EXCLUDED else ""
        )
        lines += ["### 排除条目 / Excluded register entries", "",
                  f"{len(excluded):,} entries excluded as closed or out of scope{listed}.", "",
                  markdown_table(shown)]
    return lines


def report_markdown(report: IndicatorReport, maps: list[tuple[str, str]] | None = None) -> str:
    """The report as Markdown: summary, maps, indicators, caveats, every table, credits.

    Parameters
    ----------
    report : IndicatorReport
        From :func:`indicator_report`.
    maps : list of (str, str), optional
        (title, path relative to the Markdown file) of the maps written with the report.

    Returns
    -------
    str
        Markdown text (GitHub tables). Every string from the data or the profile is escaped
        (no HTML, links or table breaks). The failing-compounds table lists the
        :data:`MARKDOWN_TOP_COMPOUNDS` largest compounds of each category; the CSV and the
        workbook list all of them.
    """
    title = markdown_text(f"{report.title.zh} / {report.title.en}")
    lines = [f"# {title}", "", "## 指标报告 / Indicator report", ""]
    if report.sample:
        lines += [f"> **{markdown_text(SAMPLE_WARNING)}**", ""]
    lines += [f"- **{markdown_text(k)}:** {markdown_text(v)}" for k, v in summary_lines(report)]
    lines += [""]
    lines += _map_lines(maps or [])
    lines += ["### 规划指标 / Plan indicators", "", markdown_table(indicators_view(report, compact=True))]
    lines += [f"{i}. {markdown_text(note)}" for i, note in enumerate(report.indicators["note"], 1)]
    lines += [""]
    lines += _caveat_lines(report)
    lines += ["### 设施类别与步行阈值 / Categories and walking thresholds", "",
              markdown_table(categories_view(report))]
    lines += ["### 分街道 / By sub-district", "", markdown_table(sub_district_coverage_view(report)),
              markdown_table(sub_district_facilities_view(report))]
    lines += ["### 未覆盖人口 / Uncovered residents", "", markdown_table(uncovered_view(report))]
    lines += _failing_lines(report)
    lines += _supply_lines(report)
    if report.notes:
        lines += ["### 说明 / Notes", ""] + [f"- {markdown_text(n)}" for n in report.notes] + [""]
    lines += ["### 数据来源 / Credits", ""]
    lines += [f"- {markdown_text(c)}" for c in report.credits] + [""]
    return "\n".join(lines)
