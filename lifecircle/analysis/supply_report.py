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
