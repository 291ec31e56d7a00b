"""Coverage rates: by compound and by population, per sub-district and for the whole area.

A compound is *covered* for a category when its walking distance to the nearest facility is
within the category's threshold. It has a *complete life circle* when every required category is
covered. Compounds that are not on the network (beyond the snap limit) are never covered; they
stay in the denominators and are counted in ``n_flagged`` so that no compound silently
disappears from the rates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from ..profile import Profile, Target
from ..schema import (
    ALL_AREAS,
    COMPLETE,
    COMPLETE_NEAR_MISS,
    STATUS_OK,
    category_columns,
    covered_column,
    near_miss_column,
)
from .access import representative_points


def compound_population(
    compounds: pd.DataFrame,
    households_field: str | None,
    population_field: str | None,
    persons_per_household: float,
) -> pd.Series:
    """Residents of each compound.

    Parameters
    ----------
    compounds : pandas.DataFrame
        The compound layer.
    households_field, population_field : str or None
        Column names; population wins when both are given.
    persons_per_household : float
        Used when only households are known.

    Returns
    -------
    pandas.Series
        Float residents per compound; ``NaN`` when neither column is given or a value is missing.
    """
    if population_field:
        return pd.to_numeric(compounds[population_field], errors="coerce").astype(float)
    if households_field:
        households = pd.to_numeric(compounds[households_field], errors="coerce")
        return (households * persons_per_household).astype(float)
    return pd.Series(np.nan, index=compounds.index, dtype=float)


def complete_life_circle(compounds: pd.DataFrame, required: Iterable[str]) -> pd.Series:
    """True where every required category is covered.

    Parameters
    ----------
    compounds : pandas.DataFrame
        With ``{category}_covered`` columns.
    required : iterable of str
        Category keys.

    Returns
    -------
    pandas.Series of bool
    """
    columns = [category_columns(c).covered for c in required]
    if not columns:
        return pd.Series(False, index=compounds.index)
    return compounds[columns].all(axis=1)


def near_misses(
    compounds: pd.DataFrame,
    thresholds: Mapping[str, float],
    share: float,
    required: Iterable[str],
) -> pd.DataFrame:
    """Near-miss flags: not covered, but within the threshold plus ``share`` of it.

    Parameters
    ----------
    compounds : pandas.DataFrame
        With ``{category}_dist_m``, ``{category}_covered`` and ``complete`` columns.
    thresholds : mapping of str to float
        Walking threshold (m) of each category.
    share : float
        The margin as a share of the threshold (0.1: up to 10% beyond it).
    required : iterable of str
        Categories of the complete life circle.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``compounds``: ``{category}_near_miss`` per category and
        ``complete_near_miss`` (no complete life circle, but every required category is covered
        or a near miss). Compounds off the network are never near misses.
    """
    flags = {}
    for key, threshold in thresholds.items():
        columns = category_columns(key)
        distance = pd.to_numeric(compounds[columns.dist_m], errors="coerce").to_numpy(float)
        within_margin = np.nan_to_num(distance, nan=np.inf) <= threshold * (1 + share) + 1e-6
        flags[columns.near_miss] = within_margin & ~compounds[columns.covered].astype(bool)
    frame = pd.DataFrame(flags, index=compounds.index)
    required = list(required)
    close = pd.Series(bool(required), index=compounds.index)
    for key in required:
        columns = category_columns(key)
        close &= compounds[columns.covered].astype(bool) | frame[columns.near_miss]
    frame[COMPLETE_NEAR_MISS] = close & ~compounds[COMPLETE].astype(bool)
    return frame


def assign_sub_districts(
    compounds: gpd.GeoDataFrame, sub_districts: gpd.GeoDataFrame | None
) -> pd.Series:
    """Name of the sub-district (街道/镇) each compound lies in.

    Parameters
    ----------
    compounds : geopandas.GeoDataFrame
        Points or polygons.
    sub_districts : geopandas.GeoDataFrame or None
        With a ``name`` column.

    Returns
    -------
    pandas.Series of str
        ``""`` for compounds outside every sub-district (or when none are given).
    """
    if sub_districts is None or sub_districts.empty:
        return pd.Series("", index=compounds.index, dtype=object)
    points = gpd.GeoDataFrame(
        geometry=representative_points(compounds).to_crs(sub_districts.crs), index=compounds.index
    )
    joined = gpd.sjoin(points, sub_districts[["name", "geometry"]], how="left", predicate="within")
    # A point on a shared border matches twice: keep the first sub-district by name.
    joined = joined.sort_values("name").groupby(level=0)["name"].first()
    return joined.reindex(compounds.index).fillna("").astype(object)


def coverage_table(
    compounds: pd.DataFrame,
    categories: Sequence[str],
    by: str | None = None,
) -> pd.DataFrame:
    """Coverage rates per category (and the complete life circle), overall and per group.

    Parameters
    ----------
    compounds : pandas.DataFrame
        Output of the access step with ``population``, ``access_status``,
        ``{category}_covered`` and ``complete`` columns.
    categories : sequence of str
        Category keys to report, in order; ``complete`` is appended.
    by : str, optional
        Column to group by (e.g. ``"sub_district"``); the whole area is always the first group,
        named :data:`ALL_AREAS`.

    Returns
    -------
    pandas.DataFrame
        One row per (area, category) with ``n_compounds``, ``n_covered``, ``compound_share``,
        ``population``, ``population_covered``, ``population_share`` (``NaN`` when population is
        unknown), ``n_flagged`` (compounds not on the main network), ``n_near_miss`` and
        ``population_near_miss`` (not covered but within the near-miss margin; 0 when the
        compounds carry no near-miss flags).
    """
    groups: list[tuple[str, pd.DataFrame]] = [(ALL_AREAS, compounds)]
    if by is not None and by in compounds:
        groups += [(str(k), g) for k, g in compounds.groupby(by, sort=True) if str(k)]
    rows = []
    for area, frame in groups:
        population = frame["population"].astype(float)
        known_population = population.notna().any()
        flagged = int((frame["access_status"] != STATUS_OK).sum())
        for category in [*categories, COMPLETE]:
            column = covered_column(category)
            covered = frame[column].astype(bool)
            total_pop = float(population.sum()) if known_population else np.nan
            covered_pop = float(population[covered].sum()) if known_population else np.nan
            near_column = near_miss_column(category)
            near = (
                frame[near_column].astype(bool)
                if near_column in frame
                else pd.Series(False, index=frame.index)
            )
            rows.append(
                {
                    "area": area,
                    "category": category,
                    "n_compounds": len(frame),
                    "n_covered": int(covered.sum()),
                    "compound_share": covered.mean() if len(frame) else np.nan,
                    "population": total_pop,
                    "population_covered": covered_pop,
                    "population_share": covered_pop / total_pop if total_pop else np.nan,
                    "n_flagged": flagged,
                    "n_near_miss": int(near.sum()),
                    "population_near_miss": (
                        float(population[near].sum()) if known_population else np.nan
                    ),
                }
            )
    return pd.DataFrame(rows)


def check_targets(table: pd.DataFrame, targets: Sequence[Target]) -> pd.DataFrame:
    """Compare whole-area coverage with the profile's targets.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`coverage_table`.
    targets : sequence of Target
        From the profile.

    Returns
    -------
    pandas.DataFrame
        One row per target: ``category``, ``measure``, ``label_zh``, ``label_en``, ``target``,
        ``measured``, ``met`` (bool, ``NaN`` when not measurable) and ``shortfall`` (target
        minus measured, 0 when met).
    """
    overall = table[table["area"] == ALL_AREAS].set_index("category")
    rows = []
    for target in targets:
        measured = (
            float(overall.loc[target.category, target.measure])
            if target.category in overall.index
            else np.nan
        )
        measurable = not np.isnan(measured)
        rows.append(
            {
                "category": target.category,
                "measure": target.measure,
                "label_zh": target.label.zh if target.label else "",
                "label_en": target.label.en if target.label else "",
                "target": target.minimum,
                "measured": measured,
                "met": bool(measured >= target.minimum) if measurable else np.nan,
                "shortfall": max(0.0, target.minimum - measured) if measurable else np.nan,
                "source": target.source or "",
            }
        )
    return pd.DataFrame(rows)


def required_categories(profile: Profile) -> list[str]:
    """Category keys that a complete life circle needs."""
    return [key for key, cat in profile.categories.items() if cat.required]
