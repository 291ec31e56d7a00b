"""Private helpers of :mod:`lifecircle.sources.tables`: numbers written as text, text encodings.

Spreadsheets from planning offices write counts as ``1,200``, ``1 200`` or in full-width digits
(``１２００``), and mark unknown values with ``N/A``, ``-`` or ``不详``; a CSV saved on a Chinese
Windows is GBK, and one from Taiwan or Hong Kong is Big5, which GBK decoding turns into plausible-
looking nonsense rather than an error. These helpers read what is clearly a number, count the
rest, and tell likely text from garbled text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# Thousands separated by a comma, an apostrophe or a (thin, no-break) space: 1,200  1 200  1'200.
_GROUPED = re.compile(r"^[+-]?\d{1,3}(?:([,'\s])\d{3})(?:\1\d{3})*(?:\.\d+)?$")
_PLAIN = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
#: Texts that mean "no value" (compared lower-case, after trimming).
MISSING_WORDS = frozenset(
    {"", "na", "n/a", "nan", "null", "none", "-", "--", "—", "/", "?", "无", "不详", "未知", "暂无"}
)


@dataclass
class ParsedNumbers:
    """Numbers read from a column, and what could not be read.

    Attributes
    ----------
    values : pandas.Series
        Floats; NaN where empty or unreadable.
    unreadable : pandas.Series of bool
        Text that is not clearly a number (``约500户``, ``500+``): NaN in ``values``.
    blank : pandas.Series of bool
        Empty cells and the usual words for "unknown" (``N/A``, ``-``, ``不详``).
    """

    values: pd.Series
    unreadable: pd.Series
    blank: pd.Series = field(repr=False)


def parse_numbers(column: pd.Series) -> ParsedNumbers:
    """Read a column of counts: numbers, thousands separators, full-width digits.

    Parameters
    ----------
    column : pandas.Series
        Numbers or text.

    Returns
    -------
    ParsedNumbers
        Negative numbers are kept (the caller decides); text that is not clearly one number is
        marked unreadable rather than guessed.
    """
    values, unreadable, blank = [], [], []
    for value in column.tolist():
        number, is_blank = _number(value)
        values.append(number)
        blank.append(is_blank)
        unreadable.append(not is_blank and np.isnan(number))
    index = column.index
    return ParsedNumbers(
        pd.Series(values, index=index, dtype=float),
        pd.Series(unreadable, index=index, dtype=bool),
        pd.Series(blank, index=index, dtype=bool),
    )


def _number(value: object) -> tuple[float, bool]:
    """(number or NaN, whether the cell is blank)."""
    if value is None or value is pd.NA:
        return np.nan, True
    if isinstance(value, bool):
        return np.nan, False
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
        return number, bool(np.isnan(number))
    text = unicodedata.normalize("NFKC", str(value)).strip()  # full-width digits → ASCII
    if text.lower() in MISSING_WORDS:
        return np.nan, True
    if _PLAIN.fullmatch(text):
        return float(text), False
    if _GROUPED.fullmatch(text):
        return float(re.sub(r"[,'\s]", "", text)), False
    return np.nan, False


# --- encodings --------------------------------------------------------------------------------

#: Below this share of likely characters, text decoded as GBK is taken for garbled.
PLAUSIBLE_SHARE = 0.8
_MIN_CHARACTERS = 10
_PUNCTUATION = set("，。、：；（）《》“”‘’！？【】·—…～　")


def likely_chinese_share(text: str) -> tuple[float, int]:
    """Share of the non-ASCII characters of ``text`` that are common in Chinese text.

    Common: the 6,763 characters of GB 2312 (simplified Chinese as everyone writes it), CJK
    punctuation and full-width forms. Big5 or another encoding decoded as GBK gives rare
    characters, Japanese kana and symbols instead.

    Returns
    -------
    tuple of (float, int)
        The share (1.0 when there is no non-ASCII character) and the number of non-ASCII
        characters it is measured on.
    """
    others = [c for c in text if ord(c) > 127]
    if not others:
        return 1.0, 0
    likely = sum(_common(c) for c in others)
    return likely / len(others), len(others)


def _common(character: str) -> bool:
    if character in _PUNCTUATION or 0xFF01 <= ord(character) <= 0xFF5E:
        return True
    try:
        encoded = character.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return len(encoded) == 2 and encoded[0] >= 0xB0  # the hanzi rows of GB 2312


def implausible_gbk(raw: bytes, text: str) -> str | None:
    """When ``text`` (``raw`` decoded as GBK/GB18030) looks garbled, the likely encoding.

    Returns
    -------
    str or None
        None when the text reads as Chinese; else the encoding charset-normalizer finds for
        ``raw`` (e.g. ``"BIG5"``), or ``"another encoding"``.
    """
    share, count = likely_chinese_share(text)
    if count < _MIN_CHARACTERS or share >= PLAUSIBLE_SHARE:
        return None
    from charset_normalizer import from_bytes  # installed with requests

    best = from_bytes(raw[:200_000]).best()
    guess = best.encoding.upper() if best is not None else ""
    return guess if guess and not guess.startswith(("GB", "UTF")) else "another encoding"
