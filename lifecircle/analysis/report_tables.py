"""The indicator report's tables: per sub-district, failing compounds, uncovered residents,
categories, credits.

Each function takes a :class:`RunResult` and returns a plain table in machine form (snake_case
columns, codes, unrounded numbers); :mod:`lifecircle.outputs.display` turns them into what a
planner reads.
"""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from .. import settings
from ..profile import Profile
from ..schema import ALL_AREAS, COMPLETE, COMPOUND_ID, near_miss_column
from . import gaps
from .facilities import facilities_inside
from .population import Population
from .result import RunResult

#: Per-category measures of the by-sub-district table: column suffix → coverage-table column.
DISTRICT_MEASURES = {
    "compound_share": "compound_share",
    "population_share": "population_share",
    "near_miss_compounds": "n_near_miss",
    "near_miss_population": "population_near_miss",
}


def district_column(category: str, measure: str) -> str:
    """Column of the by-sub-district table holding ``measure`` (a DISTRICT_MEASURES key)."""
    if measure not in DISTRICT_MEASURES:
        raise KeyError(f"unknown by-sub-district measure {measure!r}")
    return f"{category}_{measure}"


def indicator_category(profile: Profile, category_field: str) -> str | None:
    """The profile's category that answers an indicator, or None when it has none."""
    key = getattr(profile.indicators, category_field)
    return key if key is not None and key in profile.categories else None


def by_sub_district(result: RunResult, population: Population) -> pd.DataFrame:
    """Coverage, near misses and facility counts for the whole area and per sub-district.

    Returns
    -------
    pandas.DataFrame
        One row per area (the whole area first, named ``"(all)"``): ``area``, ``residents``,
        ``n_compounds``, for every category and ``complete`` the columns named by
        :func:`district_column` (compound and population share, near-miss compounds and
        residents), and, when the profile names them, ``childcare_facilities``,
        ``culture_venues``, ``culture_population`` and ``culture_per_100k``.
    """
    profile = result.profile
    areas = [ALL_AREAS]
    if result.sub_districts is not None:
        areas += list(result.sub_districts["name"])
    childcare = indicator_category(profile, "childcare_category")
    culture = indicator_category(profile, "culture_category")
    childcare_at = facilities_inside(result, childcare) if childcare else None
    culture_at = facilities_inside(result, culture) if culture else None
    rows = []
    for area in areas:
        frame = result.compounds if area == ALL_AREAS else (
            result.compounds[result.compounds["sub_district"] == area]
        )
        row: dict[str, Any] = {
            "area": area,
            "residents": frame["population"].astype(float).sum(min_count=1),
            "n_compounds": len(frame),
        }
        row |= _coverage_columns(result, area)
        if childcare_at is not None:
            row["childcare_facilities"] = _count_in(childcare_at, area)
        if culture_at is not None:
            venues = _count_in(culture_at, area)
            people = population.total if area == ALL_AREAS else population.by_sub_district.get(
                area, np.nan
            )
            row["culture_venues"] = venues
            row["culture_population"] = people
            row["culture_per_100k"] = (
                venues / people * 1e5 if people and not math.isnan(people) else np.nan
            )
        rows.append(row)
    table = pd.DataFrame(rows)
    for key in [*profile.categories, COMPLETE]:
        column = district_column(key, "near_miss_compounds")
        table[column] = table[column].astype("Int64")
    return table


def _coverage_columns(result: RunResult, area: str) -> dict[str, float]:
    coverage = result.coverage
    table = coverage[coverage["area"] == area].set_index("category")
    row = {}
    for key in [*result.profile.categories, COMPLETE]:
        for measure, source in DISTRICT_MEASURES.items():
            known = key in table.index and source in table.columns
            row[district_column(key, measure)] = float(table.loc[key, source]) if known else np.nan
    return row


def _count_in(facilities: gpd.GeoDataFrame, area: str) -> int:
    if area == ALL_AREAS:
        return len(facilities)
    return int((facilities["sub_district"] == area).sum())


#: Columns of the failing-compounds table, in order.
FAILING_COLUMNS = [
    "category", "label_zh", "label_en", "compound_id", "name", "sub_district", "households",
    "population", "dist_m", "minutes", "threshold_m", "access_status", "gap_reason",
    "near_miss", "nearest",
]


def failing_compounds(result: RunResult) -> pd.DataFrame:
    """Long table: one row per compound and category beyond the threshold.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`FAILING_COLUMNS` (those the compounds have): the compound, its walk,
        the threshold, ``access_status``, ``gap_reason`` (from
        :func:`lifecircle.analysis.gaps.uncovered_compounds`) and ``near_miss`` (within the
        profile's near-miss margin beyond the threshold). Largest population first per category.
    """
    frames = []
    near = result.compounds.set_index(COMPOUND_ID)
    for key in result.profile.categories:
        layer = gaps.uncovered_compounds(result, key)
        frame = pd.DataFrame(layer.drop(columns="geometry"))
        frame["label_zh"], frame["label_en"] = gaps.category_label(result, key)
        column = near_miss_column(key)
        flags = near[column] if column in near else pd.Series(False, index=near.index)
        frame["near_miss"] = flags.reindex(frame[COMPOUND_ID]).fillna(False).astype(bool).to_numpy()
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=FAILING_COLUMNS)
    out = pd.concat(frames, ignore_index=True)
    return out[[c for c in FAILING_COLUMNS if c in out.columns]]


def uncovered_population(result: RunResult) -> pd.DataFrame:
    """Uncovered compounds and residents per area and category, with their near misses.

    Returns
    -------
    pandas.DataFrame
        :func:`lifecircle.analysis.gaps.uncovered_population` with ``n_near_miss`` and
        ``population_near_miss`` (of the uncovered, those within the near-miss margin) after
        ``n_uncovered_off_network``.
    """
    table = gaps.uncovered_population(result)
    near = result.coverage.set_index(["area", "category"])
    keys = pd.MultiIndex.from_arrays([table["area"], table["category"]])
    position = table.columns.get_loc("n_uncovered_off_network") + 1
    for offset, column in enumerate(("n_near_miss", "population_near_miss")):
        values = near[column].reindex(keys).to_numpy() if column in near else np.nan
        table.insert(position + offset, column, values)
    table["n_near_miss"] = table["n_near_miss"].fillna(0).astype(int)
    return table


def categories_table(result: RunResult) -> pd.DataFrame:
    """The profile's categories: labels, thresholds, facility counts and threshold sources."""
    profile = result.profile
    rows = []
    counts = result.facilities["category"].value_counts()
    for key, category in profile.categories.items():
        rows.append(
            {
                "category": key,
                "label_zh": category.label.zh,
                "label_en": category.label.en,
                "threshold_m": category.threshold_m,
                "threshold_min": category.threshold_m / profile.walking_speed_m_per_min,
                "level": category.level or "",
                "required": category.required,
                "facilities_in_buffer": int(counts.get(key, 0)),
                "facilities_inside": len(facilities_inside(result, key)),
                "threshold_source": category.threshold_source,
            }
        )
    return pd.DataFrame(rows)


def credits(result: RunResult) -> list[str]:
    """Data credits of a run, OpenStreetMap first."""
    return list(dict.fromkeys([settings.osm_attribution, *result.credits]))
