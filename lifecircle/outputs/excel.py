"""The indicator report as an Excel workbook, ready to print and hand on.

One sheet per table with bilingual headers; numbers stored as numbers with percentage and
thousands formats; a filter on every column, the header row frozen and repeated on every printed
page, A4 landscape fitted to the page width. Text from the data is stored as text, never as a
formula. The file is reproducible: the same report gives the same bytes (fixed document and zip
timestamps, see :mod:`lifecircle.outputs._reproducible`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..analysis.indicators import IndicatorReport
from ._reproducible import save_workbook
from ._safe import is_formula_like, xml_text
from .display import NumberFormat
from .report_view import (
    DisplayTable,
    about_view,
    audit_view,
    categories_view,
    caveats_view,
    excluded_view,
    failing_view,
    indicators_view,
    sub_district_view,
    supply_view,
    uncovered_view,
)

SHEET_NAMES = {
    "indicators": "指标 Indicators",
    "caveats": "数据局限 Caveats",
    "by_sub_district": "分街道 By sub-district",
    "failing_compounds": "未达标小区 Failing compounds",
    "uncovered_population": "未覆盖人口 Uncovered population",
    "categories": "类别与阈值 Categories",
    "supply_demand": "供需 Supply and demand",
    "facility_audit": "设施数据审计 Facility audit",
    "excluded_facilities": "排除条目 Excluded entries",
    "about": "说明 About",
}
#: Widest column (characters) and the width of a CJK character in Excel's units.
_MAX_WIDTH = 60
_CJK_WIDTH = 2.0


def report_sheets(
    report: IndicatorReport, maps: list[tuple[str, str]] | None = None
) -> dict[str, DisplayTable]:
    """The workbook's sheets by name, in order (supply and demand only when measured)."""
    views = {
        "indicators": indicators_view(report),
        "caveats": caveats_view(report),
        "by_sub_district": sub_district_view(report),
        "failing_compounds": failing_view(report),
        "uncovered_population": uncovered_view(report),
        "categories": categories_view(report),
        "supply_demand": supply_view(report),
        "facility_audit": audit_view(report),
        "excluded_facilities": excluded_view(report),
        "about": about_view(report, maps),
    }
    if report.supply_demand.empty:
        del views["supply_demand"]
    return {SHEET_NAMES[key]: view for key, view in views.items()}


def write_workbook(
    path: Path, report: IndicatorReport, maps: list[tuple[str, str]] | None = None
) -> None:
    """Write the report's tables to an ``.xlsx`` workbook at ``path`` (not atomic: see bundle).

    Parameters
    ----------
    path : Path
        Destination file.
    report : IndicatorReport
        From :func:`lifecircle.indicator_report`.
    maps : list of (str, str), optional
        (title, relative path) of the maps written with the report, listed on the About sheet.
    """
    write_tables(path, report_sheets(report, maps), f"{report.title.zh} / {report.title.en}")


def write_tables(path: Path, sheets: dict[str, DisplayTable], title: str) -> None:
    """Write display tables as the sheets of a workbook at ``path`` (not atomic: see bundle).

    Every sheet gets the report workbook's layout: numbers as numbers with their formats, text
    never a formula, filter, frozen header, A4 landscape print set-up with ``title`` on top.
    """
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for name, table in sheets.items():
        sheet = book.create_sheet(name)
        _fill(sheet, table)
        _finish(sheet, title)
    save_workbook(book, path)


def _fill(sheet: Any, table: DisplayTable) -> None:
    from openpyxl.styles import Alignment, Font

    columns = list(table.frame.columns)
    for col, name in enumerate(columns, start=1):
        cell = sheet.cell(row=1, column=col)
        _set(cell, str(name))
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for col, name in enumerate(columns, start=1):
        fmt = table.formats.get(name)
        per_row = fmt if isinstance(fmt, list) else [fmt] * len(table.frame)
        for row, (value, number_format) in enumerate(
            zip(table.frame[name], per_row, strict=True), start=2
        ):
            _set(sheet.cell(row=row, column=col), value, number_format)
    _widths(sheet, table)


def _set(cell: Any, value: Any, number_format: NumberFormat | None = None) -> None:
    """Store a value: numbers as numbers (with their format), text always as text."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return
    if isinstance(value, bool | np.bool_):
        value = "是 yes" if value else "否 no"
    if isinstance(value, np.integer | np.floating):
        value = value.item()
    if isinstance(value, int | float):
        cell.value = value
        if number_format is not None:
            cell.number_format = number_format.excel
        return
    text = xml_text(str(value))
    if not text:
        return
    cell.value = text
    # openpyxl turns text starting with '=' into a formula: store it as a string instead, and
    # mark it like a typed apostrophe so that editing the cell in Excel keeps it text.
    cell.data_type = "s"
    if is_formula_like(text):
        cell.quotePrefix = True


def _widths(sheet: Any, table: DisplayTable) -> None:
    from openpyxl.styles import Alignment
    from openpyxl.utils import get_column_letter

    text = table.text().head(200)
    for col, name in enumerate(table.frame.columns, start=1):
        header_width = _display_width(str(name)) / 2  # headers wrap onto two lines
        width = max([10.0, header_width, *(_display_width(v) for v in text[name])]) * 1.1
        sheet.column_dimensions[get_column_letter(col)].width = min(width, _MAX_WIDTH)
        if width > _MAX_WIDTH:  # long notes: wrap inside the column
            for (cell,) in sheet.iter_rows(min_row=2, min_col=col, max_col=col):
                cell.alignment = Alignment(wrap_text=True, vertical="top")


def _display_width(text: str) -> float:
    return sum(_CJK_WIDTH if ord(ch) > 0x2E7F else 1.0 for ch in text)


def _finish(sheet: Any, title: str) -> None:
    """Filter, frozen header, print set-up (A4 landscape, fit to width, header row repeated)."""
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    setup = sheet.page_setup
    setup.orientation = "landscape"
    setup.paperSize = sheet.PAPERSIZE_A4
    setup.fitToWidth = 1
    setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_title_rows = "1:1"
    sheet.print_options.gridLines = True
    # '&' starts a header/footer code: double it in text from the profile.
    sheet.oddHeader.center.text = xml_text(title[:120]).replace("&", "&&")
    sheet.oddFooter.left.text = xml_text(sheet.title).replace("&", "&&")
    sheet.oddFooter.right.text = "&P / &N"
