"""The indicator report as an Excel workbook: one sheet per table, bilingual headers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..analysis.indicators import IndicatorReport
from .display import (
    EXCEL_FORMATS,
    SAMPLE_WARNING,
    bilingual,
    indicator_display,
    number_pattern,
    summary_lines,
)

SHEET_NAMES = {
    "indicators": "指标 Indicators",
    "by_sub_district": "分街道 By sub-district",
    "failing_compounds": "未达标小区 Failing compounds",
    "uncovered_population": "未覆盖人口 Uncovered population",
    "categories": "类别与阈值 Categories",
    "about": "说明 About",
}
#: Markdown and workbook files written by :func:`write_report` (besides one CSV per table).


def write_workbook(path: Path, report: IndicatorReport) -> None:
    """Write the report's tables to an ``.xlsx`` workbook at ``path`` (not atomic: see bundle)."""
    from openpyxl.styles import Alignment, Font

    labels = report.category_labels
    about = pd.DataFrame(
        [*summary_lines(report), *[("说明 / Note", n) for n in report.notes],
         *[("数据来源 / Credit", c) for c in report.credits]],
        columns=["项目 / Item", "内容 / Value"],
    )
    if report.sample:
        about = pd.concat(
            [pd.DataFrame([("示例数据 / SAMPLE DATA", SAMPLE_WARNING)], columns=about.columns), about],
            ignore_index=True,
        )
    sheets = {
        SHEET_NAMES["indicators"]: (indicator_display(report), []),
        SHEET_NAMES["by_sub_district"]: (bilingual(report.by_sub_district, labels),
                                          list(report.by_sub_district.columns)),
        SHEET_NAMES["failing_compounds"]: (bilingual(report.failing_compounds, labels),
                                            list(report.failing_compounds.columns)),
        SHEET_NAMES["uncovered_population"]: (bilingual(report.uncovered_population, labels),
                                               list(report.uncovered_population.columns)),
        SHEET_NAMES["categories"]: (bilingual(report.categories, labels),
                                     list(report.categories.columns)),
        SHEET_NAMES["about"]: (about, []),
    }
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, (frame, raw_columns) in sheets.items():
            frame.to_excel(writer, sheet_name=name, index=False)
            sheet = writer.sheets[name]
            for position, column in enumerate(raw_columns, start=1):
                number_format = EXCEL_FORMATS.get(number_pattern(column) or "")
                if number_format:
                    for (cell,) in sheet.iter_rows(min_row=2, min_col=position, max_col=position):
                        cell.number_format = number_format
            for cell in sheet[1]:
                cell.font = Font(bold=True)
                cell.alignment = Alignment(wrap_text=True, vertical="top")
            for letter_cells in sheet.columns:
                width = max(len(str(c.value or "")) for c in letter_cells[:50])
                sheet.column_dimensions[letter_cells[0].column_letter].width = min(
                    max(10, width * 1.2), 60
                )
            sheet.freeze_panes = "A2"
