"""Text cells that a spreadsheet would run as formulas are neutralised before they are written."""

from __future__ import annotations

from typing import TypeVar

import pandas as pd

_Frame = TypeVar("_Frame", bound=pd.DataFrame)
#: A cell starting with one of these is a formula (or DDE payload) in Excel and LibreOffice.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """``value`` with a leading apostrophe when it is text that a spreadsheet would evaluate."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def spreadsheet_safe(frame: _Frame) -> _Frame:
    """A copy of ``frame`` whose text cells (and column names) cannot become formulas."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column].dtype):
            out[column] = out[column].map(safe_cell)
    return out.rename(columns={c: safe_cell(c) for c in out.columns if isinstance(c, str)})
