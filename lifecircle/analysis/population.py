"""The resident population behind per-capita indicators: census, raster or compounds.

Compound residents are counted (a population field), estimated (households × persons per
household) or, when the profile gives census totals, the census apportioned to the compounds by
households. Which one was used is kept per compound (``population_basis``), and a verdict that
rests on an estimate says so (:func:`population_caveat`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import schema
from ..errors import DataError
from ..profile import Profile
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


def scale_to_census(compounds: pd.DataFrame, profile: Profile) -> tuple[pd.DataFrame, list[str]]:
    """Compound residents, scaled to the profile's census totals when it gives them.

    The census total of each sub-district named in ``population.census_by_sub_district`` is
    apportioned to its compounds by households (by the population field when households are
    unknown); what remains of ``population.census_total`` goes to the other compounds the same
    way. Without census totals (or with ``population.scale_compounds: false``) the compounds'
    own figures are kept.

    Parameters
    ----------
    compounds : pandas.DataFrame
        With ``population`` (the compound layer's figures), ``households`` and ``sub_district``.
    profile : Profile
        Its ``population`` and ``compounds`` settings.

    Returns
    -------
    frame : pandas.DataFrame
        Indexed like ``compounds``: ``population`` (scaled where possible),
        ``population_estimate`` (the compound layer's figure) and ``population_basis``
        (``field``, ``households_estimate``, ``census_scaled`` or ``unknown``).
    notes : list of str
        What was scaled, by which factor, and what could not be.
    """
    estimate = compounds[schema.POPULATION].astype(float)
    known = estimate.notna().to_numpy()
    basis = np.where(
        known,
        schema.BASIS_FIELD if profile.compounds.population_field else schema.BASIS_HOUSEHOLDS,
        schema.BASIS_UNKNOWN,
    ).astype(object)
    population = estimate.to_numpy(dtype=float).copy()
    spec = profile.population
    targets = _census_targets(compounds, spec.census_total, spec.census_by_sub_district or {})
    notes: list[str] = []
    if targets and spec.scale_compounds:
        weights = pd.to_numeric(compounds[schema.HOUSEHOLDS], errors="coerce").to_numpy(float)
        weights = np.where(np.isfinite(weights), weights, estimate.to_numpy(float))
        for label, members, total in targets:
            share = members & np.isfinite(weights)
            if not share.any() or np.nansum(weights[share]) <= 0:
                notes.append(
                    f"the census {label} ({total:,.0f}) is not apportioned to compounds: they "
                    "have no households or population figures (compounds.households_field or "
                    "population_field), so population shares cannot be measured"
                )
                continue
            before = float(np.nansum(estimate.to_numpy(float)[share]))
            population[share] = total * weights[share] / weights[share].sum()
            basis[share] = schema.BASIS_CENSUS
            factor = f" (× {total / before:.2f} the compounds' own figures)" if before > 0 else ""
            notes.append(f"compound residents scaled to the census {label}: {total:,.0f}{factor}, "
                         "apportioned by households")
    frame = pd.DataFrame(
        {
            schema.POPULATION: population,
            schema.POPULATION_ESTIMATE: estimate.to_numpy(float),
            schema.POPULATION_BASIS: basis,
        },
        index=compounds.index,
    )
    return frame, notes


def _census_targets(
    compounds: pd.DataFrame, total: float | None, by_sub_district: dict[str, float]
) -> list[tuple[str, np.ndarray, float]]:
    """(label, compounds, census total) to apportion: named sub-districts, then the rest."""
    sub = compounds[schema.SUB_DISTRICT].astype(str).to_numpy() if schema.SUB_DISTRICT in compounds else None
    targets = []
    named = np.zeros(len(compounds), dtype=bool)
    if sub is not None:
        for name, value in by_sub_district.items():
            members = sub == name
            if members.any():
                targets.append((f"of {name}", members, float(value)))
                named |= members
    if total is not None:
        given = sum(t for _, _, t in targets)
        rest = float(total) - given
        if rest > 0 and (~named).any():
            label = "total" if not targets else "total less the named sub-districts"
            targets.append((label, ~named, rest))
    return targets


@dataclass
class PopulationCaveat:
    """Whether per-capita figures and population shares rest on an estimated population."""

    estimated: bool
    """Some compound residents are households × persons per household (not counted)."""
    text: str
    """The caveat to print beside every verdict that depends on the population ("" if none)."""
    census_ratio: float
    """Census total ÷ the compounds' estimated residents (NaN when either is unknown)."""


def population_caveat(result: RunResult) -> PopulationCaveat:
    """The caveat of a run's population figures.

    Parameters
    ----------
    result : RunResult
        From :func:`lifecircle.run`.

    Returns
    -------
    PopulationCaveat
        ``estimated`` when any compound's residents are households × persons per household
        and were not scaled to a census total; the text names the factor and, when the profile
        gives a census total, the ratio between census and estimate.
    """
    compounds = result.compounds
    profile = result.profile
    if schema.POPULATION_BASIS not in compounds:
        return PopulationCaveat(False, "", np.nan)
    basis = compounds[schema.POPULATION_BASIS]
    estimated = bool((basis == schema.BASIS_HOUSEHOLDS).any())
    estimate = float(compounds[schema.POPULATION_ESTIMATE].sum(min_count=1))
    census = profile.population.census_total
    ratio = census / estimate if census and estimate and not math.isnan(estimate) else np.nan
    if not estimated:
        return PopulationCaveat(False, "", ratio)
    pph = profile.compounds.persons_per_household
    text = (
        f"居民数为估算 / population is an estimate: compound residents are households × {pph:g} "
        f"persons per household ({estimate:,.0f} in the study area), not a count"
    )
    if not math.isnan(ratio):
        text += f"; the census total ({census:,.0f}) is {ratio:.2f} × this estimate"
    else:
        text += "; give population.census_total (with census_source) to scale it to the census"
    return PopulationCaveat(True, text, ratio)


def demand_groups(compounds: pd.DataFrame, profile: Profile) -> pd.DataFrame:
    """Residents of every demand group of the profile, per compound.

    Parameters
    ----------
    compounds : pandas.DataFrame
        With ``population`` (after any census scaling) and the compound layer's columns.
    profile : Profile
        Its ``demand_groups``: a share of the residents, or a compound-layer field.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``compounds``, one column per group
        (:func:`lifecircle.schema.demand_column`); NaN where unknown.

    Raises
    ------
    DataError
        When a group's field is not a column of the compound layer.
    """
    population = compounds[schema.POPULATION].astype(float)
    columns = {}
    for key, group in profile.demand_groups.items():
        if group.field is not None:
            if group.field not in compounds:
                raise DataError(
                    f"demand group {key!r}: the compound layer has no column {group.field!r} "
                    f"(demand_groups.{key}.field); its columns are: "
                    f"{', '.join(map(str, compounds.columns.drop('geometry', errors='ignore')))}"
                )
            columns[schema.demand_column(key)] = pd.to_numeric(compounds[group.field], errors="coerce")
        else:
            columns[schema.demand_column(key)] = population * float(group.share or 0)
    return pd.DataFrame(columns, index=compounds.index, dtype=float)
