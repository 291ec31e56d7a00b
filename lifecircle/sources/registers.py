"""Facility registers: exclude closed or out-of-scope entries, merge sources, audit completeness.

A category's facilities may come from several registers (OpenStreetMap tags, AMap or Baidu POI
exports, an official list). No register is complete and POI exports list closed venues and
mislabelled businesses, so before the analysis:

1. entries whose name or type matches a *closed* pattern (暂停营业, 装修中 …) or one of the
   category's *out-of-scope* patterns (e.g. KTV for culture) are excluded — and listed, never
   dropped silently;
2. entries of different registers that are the same facility (near each other, similar names;
   rapidfuzz) are merged into one, which keeps every register that lists it;
3. an audit counts, per register, its entries, exclusions, facilities, the facilities only it
   lists and those it shares with another register.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
from rapidfuzz import fuzz
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from .. import schema, settings
from ..errors import DataError
from . import count_columns

#: Columns of the audit table (one row per register of a category, then a merged row).
AUDIT_COLUMNS = [
    "category", "source", "entries", "excluded", "facilities", "unique", "shared", "merged_away",
]
#: Columns of the excluded-entries table.
EXCLUDED_COLUMNS = ["category", "source", "name", "reason", "pattern", "field", "lon", "lat"]
#: Label of the audit row that describes the merged register of a category.
MERGED_ROW = "(merged)"

_BRACKETS = re.compile(r"[(（\[【].*?[)）\]】]")
_NOT_WORD = re.compile(r"[\W_]+")


@dataclass
class Register:
    """A category's facilities after cleaning and merging, with what was done to them.

    Attributes
    ----------
    facilities : geopandas.GeoDataFrame
        EPSG:4326, one row per facility, with ``source`` (the register it was kept from),
        ``sources`` (every register listing it, ``;``-separated), ``source_number``,
        ``capacity`` and ``capacity_used`` (NaN when unknown) besides the layer's columns.
    audit : pandas.DataFrame
        :data:`AUDIT_COLUMNS`: per register ``entries`` (in the area), ``excluded``,
        ``facilities`` (entries kept), ``unique`` (facilities no other register lists),
        ``shared`` (facilities another register lists too) and ``merged_away`` (entries folded
        into another register's entry); the :data:`MERGED_ROW` row counts the merged register.
    excluded : pandas.DataFrame
        :data:`EXCLUDED_COLUMNS`: every excluded entry with the reason and matching pattern.
    """

    facilities: gpd.GeoDataFrame
    audit: pd.DataFrame
    excluded: pd.DataFrame


def register_part(
    layer: gpd.GeoDataFrame,
    label: str,
    number: int,
    *,
    capacity_field: str | None = None,
    used_field: str | None = None,
) -> gpd.GeoDataFrame:
    """One register's entries with the standard ``source`` and capacity columns.

    Parameters
    ----------
    layer : geopandas.GeoDataFrame
        The register's entries (any CRS), with ``name``.
    label : str
        The register's label in the audit.
    number : int
        Its position in the category's list of sources.
    capacity_field, used_field : str, optional
        Columns holding each entry's capacity and the part of it in use.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy with ``source``, ``source_number``, ``capacity`` and ``capacity_used``.

    Raises
    ------
    DataError
        When a named capacity column does not exist, or holds a negative value (the rows and
        facility names are given).

    Warns
    -----
    LifecircleWarning
        When capacities are text that is not clearly a number (with examples) or 0
        (:func:`lifecircle.sources.count_columns.counts`).
    """
    part = layer.copy()
    part[schema.SOURCE] = label
    part["source_number"] = number
    fields = (
        (schema.CAPACITY, capacity_field, "capacity_field", count_columns.FACILITY_CAPACITY),
        (schema.CAPACITY_USED, used_field, "used_field", count_columns.CAPACITY_IN_USE),
    )
    for column, field, setting, meaning in fields:
        if field is not None and field not in part.columns and len(part):
            raise DataError(
                f"register {label!r}: the column {field!r} (capacity_field/used_field) does not "
                f"exist; its columns are: {', '.join(map(str, part.columns.drop('geometry')))}"
            )
        if field is None or field not in part.columns:
            part[column] = np.nan
            continue
        # Text (1,200 / 约500 / N/A) is read or reported, negatives refused: never coerced.
        what = f"register {label!r}: {field} ({setting})"
        part[column] = count_columns.counts(layer, field, what, meaning).to_numpy(dtype=float)
    return part


def merge_registers(
    parts: Sequence[gpd.GeoDataFrame],
    category: str,
    *,
    closed_patterns: Sequence[str] = (),
    exclude_patterns: Sequence[str] = (),
    match_fields: Sequence[str] = ("name", "type"),
    max_distance_m: float = 100.0,
    min_name_similarity: float = 80.0,
    projected_crs: str = settings.default_projected_crs,
) -> Register:
    """Exclude closed and out-of-scope entries, merge duplicates across registers, audit.

    Parameters
    ----------
    parts : sequence of geopandas.GeoDataFrame
        One per register, from :func:`register_part` (EPSG:4326).
    category : str
        Category key (for the audit and exclusion tables).
    closed_patterns, exclude_patterns : sequence of str
        Regular expressions (case-insensitive) marking closed and out-of-scope entries.
    match_fields : sequence of str
        Columns searched for the patterns (those a register lacks are skipped).
    max_distance_m, min_name_similarity : float
        Two entries of different registers are the same facility when they lie within
        ``max_distance_m`` and their names score at least ``min_name_similarity`` (0–100) with
        :func:`name_similarity`.
    projected_crs : str
        Metric CRS for the distances.

    Returns
    -------
    Register
    """
    rules = [("closed", p) for p in closed_patterns] + [("out of scope", p) for p in exclude_patterns]
    kept_parts, excluded = [], []
    for part in parts:
        reason, pattern, field = _match_rules(part, rules, match_fields)
        hit = reason != ""
        excluded.append(_excluded_rows(part[hit], category, reason[hit], pattern[hit], field[hit]))
        kept_parts.append(part[~hit])
    entries = _concat(kept_parts, parts)
    group = duplicate_groups(entries, max_distance_m, min_name_similarity, projected_crs)
    facilities = _merged(entries, group)
    audit = _audit(parts, kept_parts, entries, group, category)
    excluded_table = pd.concat(excluded, ignore_index=True) if excluded else pd.DataFrame()
    return Register(facilities, audit, excluded_table.reindex(columns=EXCLUDED_COLUMNS))


def _match_rules(
    part: pd.DataFrame, rules: list[tuple[str, str]], fields: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per entry: the first rule it matches (reason, pattern, field), "" when none."""
    n = len(part)
    reason, pattern, field = (np.full(n, "", dtype=object) for _ in range(3))
    for column in [f for f in fields if f in part.columns]:
        text = part[column].map(lambda v: "" if pd.isna(v) else str(v)).to_numpy(dtype=object)
        for why, regex in rules:
            compiled = re.compile(regex, re.IGNORECASE)
            hit = (reason == "") & np.array([bool(compiled.search(t)) for t in text], dtype=bool)
            reason[hit], pattern[hit], field[hit] = why, regex, column
    return reason, pattern, field


def _excluded_rows(
    part: gpd.GeoDataFrame, category: str, reason: np.ndarray, pattern: np.ndarray, field: np.ndarray
) -> pd.DataFrame:
    points = part.geometry.representative_point().to_crs(settings.exchange_crs)
    return pd.DataFrame(
        {
            "category": category,
            "source": part[schema.SOURCE].to_numpy(dtype=object),
            "name": part["name"].to_numpy(dtype=object),
            "reason": reason,
            "pattern": pattern,
            "field": field,
            "lon": points.x.to_numpy(),
            "lat": points.y.to_numpy(),
        }
    )


def _concat(kept: list[gpd.GeoDataFrame], parts: Sequence[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    frames = [k for k in kept if len(k)] or list(kept[:1]) or list(parts[:1])
    if not frames:
        return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=settings.exchange_crs))
    joined = pd.concat([f.to_crs(settings.exchange_crs) for f in frames], ignore_index=True)
    return gpd.GeoDataFrame(joined, geometry="geometry", crs=settings.exchange_crs)


def normalised_name(name: str) -> str:
    """A name reduced for comparison: NFKC (full-width → half-width), lower case, no punctuation."""
    return _NOT_WORD.sub("", unicodedata.normalize("NFKC", str(name)).lower())


def name_similarity(a: str, b: str) -> float:
    """Similarity of two facility names, 0–100 (rapidfuzz ``fuzz.ratio``).

    The larger of the scores of the whole normalised names and of the names without bracketed
    parts, so that ``上海大剧院`` and ``上海大剧院(人民广场)`` match. Empty names score 0.
    """
    plain_a, plain_b = normalised_name(a), normalised_name(b)
    if not plain_a or not plain_b:
        return 0.0
    bare_a = normalised_name(_BRACKETS.sub("", str(a))) or plain_a
    bare_b = normalised_name(_BRACKETS.sub("", str(b))) or plain_b
    return max(fuzz.ratio(plain_a, plain_b), fuzz.ratio(bare_a, bare_b))


def duplicate_groups(
    entries: gpd.GeoDataFrame,
    max_distance_m: float,
    min_name_similarity: float,
    projected_crs: str = settings.default_projected_crs,
) -> np.ndarray:
    """Group entries of different registers that are the same facility.

    Parameters
    ----------
    entries : geopandas.GeoDataFrame
        With ``name`` and ``source_number``.
    max_distance_m, min_name_similarity : float
        See :func:`merge_registers`.
    projected_crs : str
        Metric CRS for the distances.

    Returns
    -------
    numpy.ndarray
        A group number per entry (connected components of the matching pairs); entries with
        no duplicate form a group of their own. Entries of one register never match each other
        directly.
    """
    n = len(entries)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    points = entries.geometry.representative_point().to_crs(projected_crs)
    left, right = points.sindex.query(points.to_numpy(), predicate="dwithin", distance=max_distance_m)
    part = entries["source_number"].to_numpy()
    pairs = (left < right) & (part[left] != part[right])
    left, right = left[pairs], right[pairs]
    names = entries["name"].to_numpy(dtype=object)
    similar = np.array(
        [name_similarity(names[i], names[j]) >= min_name_similarity for i, j in zip(left, right, strict=True)],
        dtype=bool,
    )
    left, right = left[similar], right[similar]
    graph = sparse.coo_array((np.ones(len(left)), (left, right)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _first_of_groups(entries: gpd.GeoDataFrame, group: np.ndarray) -> np.ndarray:
    """Position of each group's kept entry: the earliest register's, then the earliest row."""
    order = np.lexsort((np.arange(len(entries)), entries["source_number"].to_numpy(), group))
    return np.sort(order[np.r_[True, group[order][1:] != group[order][:-1]]])


def _merged(entries: gpd.GeoDataFrame, group: np.ndarray) -> gpd.GeoDataFrame:
    """One row per group: the entry of the earliest register, listing every register."""
    if len(entries) == 0:
        out = entries.copy()
        out[schema.SOURCES] = pd.Series(dtype=object)
        return out
    first = _first_of_groups(entries, group)
    frame = pd.DataFrame(
        {
            "group": group,
            "number": entries["source_number"].to_numpy(),
            schema.SOURCE: entries[schema.SOURCE].to_numpy(dtype=object),
            schema.CAPACITY: entries[schema.CAPACITY].to_numpy(dtype=float),
            schema.CAPACITY_USED: entries[schema.CAPACITY_USED].to_numpy(dtype=float),
        }
    ).sort_values(["group", "number"], kind="stable")
    by_group = frame.groupby("group", sort=True)
    kept = entries.iloc[first].copy()
    kept_group = group[first]
    sources = by_group[schema.SOURCE].agg(lambda s: ";".join(dict.fromkeys(s)))
    kept[schema.SOURCES] = sources.reindex(kept_group).to_numpy()
    # A merged facility keeps the first known capacity in register order.
    for column in (schema.CAPACITY, schema.CAPACITY_USED):
        kept[column] = by_group[column].first().reindex(kept_group).to_numpy(dtype=float)
    return kept.reset_index(drop=True)


def _audit(
    parts: Sequence[gpd.GeoDataFrame],
    kept_parts: list[gpd.GeoDataFrame],
    entries: gpd.GeoDataFrame,
    group: np.ndarray,
    category: str,
) -> pd.DataFrame:
    numbers = entries["source_number"].to_numpy(dtype=np.int64) if len(entries) else np.zeros(0, int)
    registers_per_group = pd.Series(numbers).groupby(group).nunique()
    shared_entry = registers_per_group.reindex(group).to_numpy() > 1
    kept_first = np.zeros(len(entries), dtype=bool)
    if len(entries):
        kept_first[_first_of_groups(entries, group)] = True
    rows = []
    for number, (part, kept) in enumerate(zip(parts, kept_parts, strict=True)):
        mine = numbers == number
        rows.append(
            {
                "category": category,
                "source": str(part[schema.SOURCE].iloc[0]) if len(part) else f"source {number + 1}",
                "entries": len(part),
                "excluded": len(part) - len(kept),
                "facilities": int(mine.sum()),
                "unique": int((mine & ~shared_entry).sum()),
                "shared": int((mine & shared_entry).sum()),
                "merged_away": int((mine & ~kept_first).sum()),
            }
        )
    n_groups = int(len(np.unique(group)))
    rows.append(
        {
            "category": category,
            "source": MERGED_ROW,
            "entries": sum(r["entries"] for r in rows),
            "excluded": sum(r["excluded"] for r in rows),
            "facilities": n_groups,
            "unique": int((registers_per_group == 1).sum()),
            "shared": int((registers_per_group > 1).sum()),
            "merged_away": int(len(entries) - n_groups),
        }
    )
    return pd.DataFrame(rows, columns=AUDIT_COLUMNS)
