"""Text from data and profiles made harmless for spreadsheets and Markdown.

Names of compounds, facilities and sub-districts come from files the planner did not write (map
services, scraped registers, OpenStreetMap). A name such as ``=HYPERLINK("http://…")`` must not
become a live formula when a CSV or workbook is opened in Excel or WPS, and ``<script>`` or
``[text](javascript:…)`` must not become markup when report.md is rendered.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

#: A text cell starting with one of these is read as a formula by Excel, WPS or LibreOffice
#: (OWASP "CSV injection"): tab and carriage return too, because some importers strip them.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

# Control characters XML 1.0 forbids (openpyxl refuses them); tab, LF and CR are allowed.
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# Markdown characters that start emphasis, code, links, tables or strike-through.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
# '&' only where it would start an HTML entity: "Theatres & cinemas" stays readable.
_ENTITY_START = re.compile(r"&(?=#?[A-Za-z0-9]+;)")


def is_formula_like(value: Any) -> bool:
    """True for text that a spreadsheet would evaluate as a formula."""
    return isinstance(value, str) and value.startswith(FORMULA_TRIGGERS)


def neutralise_text(value: Any) -> Any:
    """Prefix formula-like text with an apostrophe (the spreadsheet's "this is text" mark).

    Other values (numbers, missing values, harmless text) are returned unchanged.
    """
    return "'" + value if is_formula_like(value) else value


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells cannot become formulas in a spreadsheet.

    Parameters
    ----------
    frame : pandas.DataFrame
        Any table about to be written as CSV.

    Returns
    -------
    pandas.DataFrame
        The same table; text cells that start with ``=``, ``+``, ``-``, ``@``, tab or carriage
        return are prefixed with an apostrophe. Numeric columns are untouched.
    """
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        textual = values.dtype == object or isinstance(values.dtype, pd.StringDtype)
        if textual and values.map(is_formula_like).any():
            out[column] = values.map(neutralise_text).astype(object)
    return out


def xml_text(value: str) -> str:
    """Text without the control characters that a workbook (XML) cannot hold."""
    return _ILLEGAL_XML.sub("\ufffd", value)


def markdown_text(value: Any) -> str:
    """Text shown literally in Markdown: no markup, no links, no HTML, one line.

    Parameters
    ----------
    value : Any
        Usually a name or a note; other values are converted with ``str``.

    Returns
    -------
    str
        ``<`` and ``>`` as HTML entities (no tags, no autolinks), Markdown's special characters
        (``\\ ` * _ [ ] | ~``) backslash-escaped (no emphasis, links, images or table cells),
        line breaks as spaces.
    """
    text = "" if value is None else str(value)
    text = _ENTITY_START.sub("&amp;", text)
    text = text.replace("<", "&lt;").replace(">", "&gt;")
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    return " ".join(text.splitlines())
