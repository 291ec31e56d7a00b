"""The resident population behind per-capita indicators: census, raster or compounds."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .result import RunResult


@dataclass
class Population:
    """Residents for per-capita indicators: whole area and per sub-district."""

    total: float
    by_sub_district: dict[str, float]
    description: str
    notes: list[str]


def per_capita_population(result: RunResult) -> Population:
    """Residents for per-capita indicators, by the profile's ``population`` source.

    Parameters
    ----------
    result : RunResult
        From :func:`lifecircle.run`.

    Returns
    -------
    Population
        ``census`` totals from the profile, a population raster summed per area, or the
        compounds' residents (households × persons per household when only households are known).
    """
    profile = result.profile
    spec = profile.population
    compounds = result.compounds
    names = list(result.sub_districts["name"]) if result.sub_districts is not None else []
    if spec.source == "census":
        by_sub = {name: np.nan for name in names}
        notes = []
        given = spec.census_by_sub_district or {}
        for name, value in given.items():
            if name in by_sub:
                by_sub[name] = float(value)
        unknown = sorted(set(given) - set(names))
        if unknown:
            notes.append(
                f"population.census_by_sub_district names {', '.join(unknown)}, which match no "
                f"sub-district of the study area (known: {', '.join(names) or 'none'})"
            )
        source = spec.census_source or "population.census_total in the profile"
        return Population(float(spec.census_total), by_sub, f"census: {source}", notes)
    if spec.source == "raster":
        from ..sources.raster import zonal_population

        path = profile.resolve(spec.raster)
        total = float(zonal_population(path, result.study_area).sum(min_count=1))
        by_sub = {}
        if result.sub_districts is not None:
            sums = zonal_population(path, result.sub_districts)
            by_sub = dict(zip(names, sums.astype(float), strict=True))
        description = (
            f"population raster {path.name}, summed over the area (cells whose centre lies inside)"
        )
        return Population(total, by_sub, description, [])
    population = compounds["population"].astype(float)
    total = float(population.sum(min_count=1))
    by_sub = {
        name: float(population[compounds["sub_district"] == name].sum(min_count=1))
        for name in names
    }
    if profile.compounds.population_field:
        how = f"the compounds' population field '{profile.compounds.population_field}'"
    elif profile.compounds.households_field:
        how = (
            f"households × {profile.compounds.persons_per_household:g} persons per household"
        )
    else:
        description = (
            "unknown: the compounds have no population or households field (set "
            "compounds.population_field or households_field, or population.source)"
        )
        return Population(total, by_sub, description, [])
    notes = []
    missing = int(population.isna().sum())
    if missing and not math.isnan(total):
        notes.append(
            f"{missing:,} of {len(population):,} compounds have no population or households: "
            "they count as 0 residents in population shares"
        )
    return Population(total, by_sub, f"residents of the compounds ({how})", notes)
