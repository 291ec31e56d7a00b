"""The supply-and-demand parts of the indicator report: population caveats, capacity tables."""

from __future__ import annotations

import pandas as pd

from .. import schema
from ..schema import ALL_AREAS
from .capacity import supply_table
from .facilities import facilities_inside
from .population import Population
from .result import RunResult

#: Indicators whose measured value depends on the number of residents (their verdict carries
#: the population caveat when the residents are an estimate).
POPULATION_DEPENDENT = frozenset({"life_circle_population", "culture_per_100k", "elderly_population"})


def population_notes(result: RunResult, caveat: str) -> list[str]:
    """The caveat of an estimated population, or how compound residents were scaled to a census."""
    basis = result.compounds.get(schema.POPULATION_BASIS)
    notes = [caveat] if caveat else []
    if basis is not None and (basis == schema.BASIS_CENSUS).any():
        source = result.profile.population.census_source or "population.census_total"
        notes.append(
            f"居民数按普查分配 / compound residents are census totals ({source}) apportioned to "
            f"{int((basis == schema.BASIS_CENSUS).sum()):,} compounds by households"
        )
    return notes


def indicator_caveats(indicators: pd.DataFrame, population: Population, caveat: str) -> list[str]:
    """Per indicator, the population caveat when its measured value rests on the estimate."""
    out = []
    for key, met in zip(indicators["key"], indicators["met"], strict=True):
        measured = met is not pd.NA
        uses_compounds = key != "culture_per_100k" or population.description.startswith("residents")
        out.append(caveat if caveat and measured and key in POPULATION_DEPENDENT and uses_compounds else "")
    return out


def supply_demand(result: RunResult) -> pd.DataFrame:
    """Supply against demand per area for the categories with a capacity."""
    profile = result.profile
    keys = [key for key, category in profile.categories.items() if category.capacity is not None]
    if not keys:
        return pd.DataFrame()
    areas = [ALL_AREAS] + (list(result.sub_districts["name"]) if result.sub_districts is not None else [])
    inside = {key: facilities_inside(result, key) for key in keys}
    return supply_table(result.compounds, inside, profile, areas)


def group_overall(result: RunResult, category: str) -> pd.Series | None:
    """Whole-area coverage of a category counted over its demand group (None for all residents).

    Returns
    -------
    pandas.Series or None
        Like a whole-area row of :func:`lifecircle.analysis.coverage.coverage_table`, with
        ``population`` and ``population_covered`` counting the category's demand group; named
        after the group (e.g. "counted over 60岁及以上 / Aged 60+").
    """
    profile = result.profile
    group = profile.categories[category].demand_group
    if group == schema.ALL_RESIDENTS:
        return None
    compounds = result.compounds
    demand = compounds[schema.demand_column(group)].astype(float)
    covered = compounds[schema.category_columns(category).covered].astype(bool)
    total = float(demand.sum(min_count=1))
    within = float(demand[covered].sum()) if not pd.isna(total) else float("nan")
    label = profile.demand_groups[group].label
    return pd.Series(
        {
            "n_compounds": len(compounds),
            "n_covered": int(covered.sum()),
            "population": total,
            "population_covered": within,
            "population_share": within / total if total else float("nan"),
            "compound_share": covered.mean() if len(compounds) else float("nan"),
            "n_flagged": int((compounds[schema.ACCESS_STATUS] != schema.STATUS_OK).sum()),
        },
        name=f"counted over {label.zh} / {label.en}",
    )
