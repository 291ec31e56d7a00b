"""Columns of counts (households, residents, capacity) read as numbers, every doubt reported.

Planning offices write counts as ``1,200``, ``1 200`` or ``１２００`` and mark unknown values with
``N/A`` or ``不详`` (:mod:`lifecircle.sources._text` reads them). What is clearly a number is read;
other text is counted and reported with examples, zeros are reported, and negative values are
refused with the rows named: none of them silently becomes a missing or a wrong number.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError, LifecircleWarning
from . import _text


@dataclass(frozen=True)
class CountMeaning:
    """What the values of a count column are, and what an unknown or zero value does (messages).

    Attributes
    ----------
    noun : str
        What one value is, after "which ... cannot be" (``"a count"``, ``"a capacity"``).
    unknown : str
        What an unknown value does to the results.
    zero : str or None
        What a zero does; None: zeros are normal and not reported.
    report_blank : bool
        Whether empty cells are reported too (False when the analysis reports them itself).
    """

    noun: str = "a count"
    unknown: str = "no residents in the population shares"
    zero: str | None = (
        "those count in the compound shares but add no residents to the population shares"
    )
    report_blank: bool = True


#: Households and residents of compounds.
RESIDENT_COUNTS = CountMeaning()


def counts(
    layer: pd.DataFrame, column: str, what: str, meaning: CountMeaning = RESIDENT_COUNTS
) -> pd.Series:
    """A column of counts (households, residents, places) as numbers, with every doubt reported.

    Clear numbers are read, also as text (``1,200``, ``1 200``, full-width ``１２００``);
    empty cells and ``N/A``, ``-``, ``不详`` are missing; other text (``约500户``) is missing too
    and reported with examples; zeros are reported; negatives are refused.

    Parameters
    ----------
    layer : pandas.DataFrame
        The layer as read (its index numbers the file's rows from 0; a ``name`` column names
        them in messages).
    column : str
        The column to read.
    what : str
        The layer and field for messages, e.g. ``"compounds.csv: households"``.
    meaning : CountMeaning
        What the values are, for the messages (default: households and residents).

    Returns
    -------
    pandas.Series
        Floats indexed like ``layer``; NaN where missing.

    Raises
    ------
    DataError
        When a value is negative, naming the rows.

    Warns
    -----
    LifecircleWarning
        With the number and examples of unreadable, empty and zero values.
    """
    parsed = _text.parse_numbers(layer[column])
    names = layer.get("name", None)
    negative = (parsed.values < 0).to_numpy()
    if negative.any():
        raise DataError(
            f"{what}: {int(negative.sum())} value(s) are negative, which {meaning.noun} cannot "
            f"be: {_rows(layer[column], negative, names)}. Correct them in the file"
        )
    _warn_unknown(layer[column], parsed, names, what, meaning)
    zero = (parsed.values == 0).to_numpy()
    if zero.any() and meaning.zero is not None:
        warnings.warn(
            f"{what}: {int(zero.sum()):,} of {len(layer):,} values are 0 "
            f"({_rows(layer[column], zero, names)}): {meaning.zero}",
            LifecircleWarning,
            stacklevel=2,
        )
    return parsed.values


def _warn_unknown(
    values: pd.Series,
    parsed: _text.ParsedNumbers,
    names: pd.Series | None,
    what: str,
    meaning: CountMeaning,
) -> None:
    unreadable = parsed.unreadable.to_numpy()
    blank = parsed.blank.to_numpy() & meaning.report_blank
    if not (unreadable.any() or blank.any()):
        return
    parts = []
    if unreadable.any():
        parts.append(
            f"{int(unreadable.sum()):,} are not plain numbers ({_rows(values, unreadable, names)})"
        )
    if blank.any():
        parts.append(f"{int(blank.sum()):,} are empty or 'unknown'")
    warnings.warn(
        f"{what}: of {len(values):,} values, {' and '.join(parts)}; they count as unknown "
        f"({meaning.unknown}). Write plain numbers such as 1200 or 1,200",
        LifecircleWarning,
        stacklevel=3,
    )


def _rows(values: pd.Series, mask: np.ndarray, names: pd.Series | None, limit: int = 3) -> str:
    shown = []
    for label in values.index[mask][:limit]:
        row = f"row {label + 1}" if isinstance(label, int | np.integer) else f"row {label}"
        name = f" ({names[label]})" if names is not None and str(names[label]) else ""
        value = values[label]
        shown.append(
            f"{row}{name}: {value!r}" if isinstance(value, str) else f"{row}{name}: {value}"
        )
    more = int(mask.sum()) - len(shown)
    return "; ".join(shown) + (f"; and {more:,} more" if more > 0 else "")


#: Capacity of facilities (places, beds, m² of shelter); the analysis reports the empty ones.
FACILITY_CAPACITY = CountMeaning(
    noun="a capacity",
    unknown="the category's capacity.missing rule fills them: no capacity, or the median of "
    "the others",
    zero="those facilities have no places: they add nothing to the supply and count as full "
    "under capacity.require_capacity",
    report_blank=False,
)
#: The part of a facility's capacity in use (0 is usual: not reported).
CAPACITY_IN_USE = CountMeaning(
    noun="a capacity in use",
    unknown="such a facility is never taken for full",
    zero=None,
    report_blank=False,
)
