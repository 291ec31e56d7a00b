"""The indicator report as Markdown (GitHub tables)."""

from __future__ import annotations

import pandas as pd

from ..analysis.indicators import IndicatorReport
from .display import SAMPLE_WARNING, bilingual, indicator_display, number_pattern, summary_lines

#: Compounds per category listed in the Markdown report (all of them are in the CSV and workbook).
MARKDOWN_TOP_COMPOUNDS = 10


def _markdown_table(frame: pd.DataFrame, labels: dict[str, tuple[str, str]]) -> str:
    if frame.empty:
        return "(none / 无)\n"
    shown = frame.copy()
    for column in shown.columns:
        values = shown[column]
        pattern = number_pattern(column)
        if pattern is not None:
            shown[column] = [("" if pd.isna(v) else pattern.format(v)) for v in values]
    shown = bilingual(shown, labels)
    return _escape_pipes(shown).to_markdown(index=False) + "\n"


def _escape_pipes(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.map(lambda v: v.replace("|", "\\|") if isinstance(v, str) else v)




def report_markdown(report: IndicatorReport) -> str:
    """The report as Markdown: summary, every table, notes and credits.

    Parameters
    ----------
    report : IndicatorReport
        From :func:`indicator_report`.

    Returns
    -------
    str
        Markdown text (GitHub tables). The failing-compounds table lists the
        :data:`MARKDOWN_TOP_COMPOUNDS` largest compounds of each category; the CSV and the
        workbook list all of them.
    """
    labels = report.category_labels
    lines = [f"# {report.title.zh} / {report.title.en}", "", "## 指标报告 / Indicator report", ""]
    if report.sample:
        lines += [f"> **{SAMPLE_WARNING}**", ""]
    lines += [f"- **{k}:** {v}" for k, v in summary_lines(report)]
    lines += ["", "### 规划指标 / Plan indicators", "",
              _escape_pipes(indicator_display(report, notes=False)).to_markdown(index=False), ""]
    lines += [f"{i}. {note}" for i, note in enumerate(report.indicators["note"], start=1)]
    lines += [""]
    lines += ["### 设施类别与步行阈值 / Categories and walking thresholds", "",
              _markdown_table(report.categories, labels)]
    lines += ["### 分街道 / By sub-district", "", _markdown_table(report.by_sub_district, labels)]
    lines += ["### 未覆盖人口 / Uncovered residents", "",
              _markdown_table(report.uncovered_population, labels)]
    lines += [
        "### 未达标小区 / Compounds beyond the threshold", "",
        f"The {MARKDOWN_TOP_COMPOUNDS} most populous per category; all of them are in "
        "failing_compounds.csv and report.xlsx.", "",
    ]
    failing = report.failing_compounds
    for key, group in failing.groupby("category", sort=False):
        zh, en = labels.get(str(key), (str(key), str(key)))
        lines += [f"#### {zh} / {en}: {len(group):,} compound(s)", "",
                  _markdown_table(group.head(MARKDOWN_TOP_COMPOUNDS).drop(
                      columns=["category", "label_zh", "label_en"]), labels)]
    if failing.empty:
        lines += ["(none / 无)", ""]
    if report.notes:
        lines += ["### 说明 / Notes", ""] + [f"- {note}" for note in report.notes] + [""]
    lines += ["### 数据来源 / Credits", ""] + [f"- {credit}" for credit in report.credits] + [""]
    return "\n".join(lines)
