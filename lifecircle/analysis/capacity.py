"""Supply and demand: facility capacity against the residents who need it (2SFCA and norms).

A kindergarten within 300 m that has no free places does not serve a compound. For categories
whose profile gives a ``capacity``, each facility's capacity (places, beds, m² of shelter) is
matched with the demand of the compounds within the category threshold by the two-step floating
catchment method (2SFCA; Luo & Wang 2003), over the same walking distances as the coverage:

1. each facility's ratio ``R_j = S_j / Σ_k D_k W(d_kj)`` over the compounds ``k`` within the
   threshold ``d0`` of it (``S`` capacity, ``D`` demand);
2. each compound's supply ``A_i = Σ_j R_j W(d_ij)`` over the facilities within ``d0``.

``W`` is 1 (plain 2SFCA) or Dai's (2010) Gaussian decay
``(exp(-½(d/d0)²) − exp(-½)) / (1 − exp(-½))``. ``A_i`` is capacity per person of the demand
group; divided by the norm per person it is the supply ratio (1 = the norm is met). Walks are
facility → compound, from the facility doors, exactly as in :mod:`lifecircle.analysis.access`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import sparse

from .. import schema, settings
from ..errors import DataError
from ..profile import Profile
from ..profile_supply import Capacity
from .access import AccessGraph
from .reach import walks_within

_HALF = math.exp(-0.5)


@dataclass(frozen=True)
class Pairs:
    """Facility → compound walks within a distance, as aligned arrays."""

    facility: np.ndarray
    """Position of the facility in its category's layer."""
    compound: np.ndarray
    """Position of the compound."""
    distance_m: np.ndarray
    """Walking distance, snap legs included."""


@dataclass(frozen=True)
class SupplyDemand:
    """A category's 2SFCA result.

    Attributes
    ----------
    compounds : pandas.DataFrame
        One row per compound: the columns of :func:`lifecircle.schema.supply_columns`.
    facilities : pandas.DataFrame
        One row per facility: ``capacity`` (as used), ``catchment_demand`` (weighted demand
        within the threshold) and ``ratio`` (capacity per person of it; NaN without demand).
    notes : list of str
        What was assumed (missing capacities) and what could not be measured.
    """

    compounds: pd.DataFrame
    facilities: pd.DataFrame
    notes: list[str]


def reachable_pairs(graph: AccessGraph, category: str, limit_m: float) -> Pairs:
    """Every facility → compound walk of a category within ``limit_m`` (inclusive).

    Bounded searches run from the facility doors (:func:`lifecircle.analysis.reach.walks_within`,
    as for :func:`lifecircle.analysis.access.facilities_within`), so the distances are the
    engine's and the cost follows the streets within reach.

    Parameters
    ----------
    graph : AccessGraph
        From :func:`lifecircle.analysis.access.build_access_graph`.
    category : str
        Category key.
    limit_m : float
        The walking threshold.

    Returns
    -------
    Pairs
    """
    doors = graph.facility_door[category]
    usable = np.flatnonzero(doors >= 0)
    on_net = np.flatnonzero(graph.compound_node >= 0)
    limit = limit_m + settings.threshold_tolerance_m
    source, target, distance = walks_within(
        graph.csr,
        doors[usable],
        graph.compound_node[on_net],
        limit,
        target_extra=graph.compound_snap_m[on_net],
    )
    return Pairs(usable[source], on_net[target], distance)


def decay_weight(distance_m: np.ndarray, threshold_m: float, method: str) -> np.ndarray:
    """Distance-decay weight of walks within the threshold.

    Parameters
    ----------
    distance_m : numpy.ndarray
        Walks (m), all within ``threshold_m``.
    threshold_m : float
        The catchment size ``d0``.
    method : {"2sfca", "gaussian"}
        ``2sfca``: 1 everywhere; ``gaussian``: Dai's (2010) Gaussian weight, 1 at 0 m and 0 at
        ``d0``.

    Returns
    -------
    numpy.ndarray
    """
    if method == "2sfca":
        return np.ones_like(distance_m, dtype=float)
    ratio = np.minimum(distance_m / threshold_m, 1.0)
    return (np.exp(-0.5 * ratio**2) - _HALF) / (1 - _HALF)


def two_step_fca(
    pairs: Pairs,
    supply: np.ndarray,
    demand: np.ndarray,
    threshold_m: float,
    method: str = "2sfca",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The two steps of the floating catchment method over precomputed walks.

    Parameters
    ----------
    pairs : Pairs
        Facility → compound walks within the threshold (:func:`reachable_pairs`).
    supply : numpy.ndarray
        Capacity of each facility.
    demand : numpy.ndarray
        Demand of each compound (residents of the group; NaN counts as 0).
    threshold_m : float
        Catchment size.
    method : {"2sfca", "gaussian"}
        Distance-decay weight (:func:`decay_weight`).

    Returns
    -------
    access : numpy.ndarray
        Per compound, capacity within reach per person of demand (0 when none is in reach).
    ratio : numpy.ndarray
        Per facility, capacity per person of its weighted catchment demand (NaN without demand).
    catchment : numpy.ndarray
        Per facility, its weighted catchment demand.
    """
    weight = decay_weight(pairs.distance_m, threshold_m, method)
    demand = np.nan_to_num(np.asarray(demand, dtype=float), nan=0.0)
    n_facilities, n_compounds = len(supply), len(demand)
    shape = (n_facilities, n_compounds)
    weighted = sparse.csr_array((weight, (pairs.facility, pairs.compound)), shape=shape)
    catchment = weighted @ demand
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(catchment > 0, np.asarray(supply, dtype=float) / catchment, np.nan)
    access = weighted.T @ np.nan_to_num(ratio, nan=0.0)
    return access, ratio, catchment


def facility_capacity(
    layer: pd.DataFrame, spec: Capacity, label: str
) -> tuple[np.ndarray, list[str]]:
    """Capacity of each facility, with missing values handled by the profile's rule.

    Parameters
    ----------
    layer : pandas.DataFrame
        The category's facilities with a ``capacity`` column (NaN when unknown).
    spec : Capacity
        The category's capacity settings (``missing``: ``zero`` or ``median``).
    label : str
        The category's name for the notes.

    Returns
    -------
    capacity : numpy.ndarray
    notes : list of str
        How many facilities had no capacity and what was assumed.
    """
    capacity = capacity_figures(layer, schema.CAPACITY, label)
    negative = capacity < 0
    if negative.any():
        names = layer["name"].astype(str)[negative].head(3).tolist() if "name" in layer else []
        raise DataError(
            f"{label}: {int(negative.sum()):,} facilities have a negative capacity "
            f"({', '.join(map(repr, names)) or 'unnamed'}), which no facility can have: correct "
            "them in the register"
        )
    missing = ~np.isfinite(capacity)
    notes = []
    if missing.all() and len(capacity):
        notes.append(
            f"{label}: no facility has a capacity ({spec.unit.zh} / {spec.unit.en}); set "
            "capacity_field on the category's sources: supply and demand not measured"
        )
        return np.full(len(capacity), np.nan), notes
    if missing.any():
        if spec.missing == "median":
            fill = float(np.median(capacity[~missing]))
            how = f"given the median capacity of the others ({fill:g})"
        else:
            fill = 0.0
            how = "counted with no capacity (capacity.missing: zero; 'median' fills them)"
        capacity[missing] = fill
        notes.append(f"{label}: {int(missing.sum()):,} of {len(capacity):,} facilities have no "
                     f"capacity: {how}")
    return capacity, notes


def capacity_figures(layer: pd.DataFrame, column: str, label: str) -> np.ndarray:
    """A capacity column as floats (NaN when unknown or absent), never coerced silently.

    The sources layer reads capacities written as text (``1,200``) and reports what it cannot
    read (:func:`lifecircle.sources.registers.register_part`); text reaching the analysis means a
    layer skipped that step, which is an error rather than a silent NaN.

    Raises
    ------
    DataError
        When the column holds text that is not a number.
    """
    if column not in layer:
        return np.full(len(layer), np.nan)
    try:
        return pd.to_numeric(layer[column], errors="raise").to_numpy(dtype=float, copy=True)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"{label}: the {column} column holds text that is not a number ({exc}); give "
            "capacities as numbers, or read the layer with capacity_field in the profile, "
            "which reads 1,200 and reports what it cannot read"
        ) from None


def at_capacity(layer: pd.DataFrame) -> np.ndarray:
    """Facilities with no free places: capacity in use ≥ capacity, or a capacity of 0.

    Parameters
    ----------
    layer : pandas.DataFrame
        With ``capacity`` and ``capacity_used`` columns (NaN when unknown).

    Returns
    -------
    numpy.ndarray of bool
        False where either figure is unknown (a facility is never assumed full).
    """
    capacity = capacity_figures(layer, schema.CAPACITY, "facilities")
    used = capacity_figures(layer, schema.CAPACITY_USED, "facilities")
    full = (capacity <= 0) | (np.isfinite(used) & (used >= capacity))
    return np.isfinite(capacity) & full


def without_full_facilities(graph: AccessGraph, category: str, full: np.ndarray) -> AccessGraph:
    """The access graph with a category's full facilities closed: they stop counting.

    Parameters
    ----------
    graph : AccessGraph
        From :func:`lifecircle.analysis.access.build_access_graph`.
    category : str
        Category key.
    full : numpy.ndarray of bool
        Per facility of the category (:func:`at_capacity`).

    Returns
    -------
    AccessGraph
        Same graph; the category's full facilities have no door (``-1``), so distances, counts
        and nearest names skip them.
    """
    doors = graph.facility_door[category].copy()
    doors[np.asarray(full, dtype=bool)] = -1
    return replace(graph, facility_door={**graph.facility_door, category: doors})


def supply_demand(
    graph: AccessGraph,
    category: str,
    spec: Capacity,
    layer: pd.DataFrame,
    demand: np.ndarray,
    threshold_m: float,
    label: str,
) -> SupplyDemand:
    """A category's 2SFCA supply per compound and its ratio to the norm.

    Parameters
    ----------
    graph : AccessGraph
        The run's access graph (all facilities open: 2SFCA shares every facility's capacity).
    category : str
        Category key.
    spec : Capacity
        The category's capacity settings.
    layer : pandas.DataFrame
        The category's facilities, with ``capacity``.
    demand : numpy.ndarray
        Residents of the norm's demand group per compound.
    threshold_m : float
        The category threshold (the catchment).
    label : str
        The category's name for the notes.

    Returns
    -------
    SupplyDemand
    """
    columns = schema.supply_columns(category)
    capacity, notes = facility_capacity(layer, spec, label)
    n = len(graph.compound_node)
    demand = np.asarray(demand, dtype=float)
    if np.isnan(capacity).all() or np.isnan(demand).all():
        if len(capacity) and np.isnan(demand).all():
            notes.append(f"{label}: the compounds have no residents of the demand group: "
                         "supply and demand not measured")
        nan = np.full(n, np.nan)
        frame = pd.DataFrame({columns.supply: nan, columns.ratio: nan, columns.enough: False})
        facilities = pd.DataFrame({"capacity": capacity, "catchment_demand": np.nan, "ratio": np.nan})
        return SupplyDemand(frame, facilities, notes)
    pairs = reachable_pairs(graph, category, threshold_m)
    access, ratio, catchment = two_step_fca(pairs, capacity, demand, threshold_m, spec.method)
    supply_ratio = access / spec.norm.per_person if spec.norm is not None else np.full(n, np.nan)
    frame = pd.DataFrame(
        {
            columns.supply: access,
            columns.ratio: supply_ratio,
            columns.enough: np.nan_to_num(supply_ratio, nan=0.0) >= 1 - 1e-12,
        }
    )
    facilities = pd.DataFrame({"capacity": capacity, "catchment_demand": catchment, "ratio": ratio})
    return SupplyDemand(frame, facilities, notes)


def norm_group(profile: Profile, category: str) -> str:
    """The demand group a category's capacity is matched with: the norm's, else the category's."""
    item = profile.categories[category]
    norm = item.capacity.norm if item.capacity is not None else None
    return norm.population if norm is not None and norm.population else item.demand_group


def supply_table(
    compounds: pd.DataFrame,
    facilities: dict[str, pd.DataFrame],
    profile: Profile,
    areas: list[str],
) -> pd.DataFrame:
    """Supply against demand per area for every category with a capacity.

    Parameters
    ----------
    compounds : pandas.DataFrame
        The run's compounds with ``sub_district``, the demand-group columns and the 2SFCA
        columns (:func:`lifecircle.schema.supply_columns`).
    facilities : dict of str to pandas.DataFrame
        Per category, its facilities *inside* the study area with ``capacity`` and
        ``sub_district``.
    profile : Profile
        The run's profile.
    areas : list of str
        :data:`lifecircle.schema.ALL_AREAS` and the sub-district names.

    Returns
    -------
    pandas.DataFrame
        One row per (area, category): the demand group and its residents (``demand``), the
        facilities inside the area and their capacity (``capacity_inside``; facilities without
        a capacity are counted apart), the capacity the norm asks for (``capacity_required``),
        their ratio (``container_ratio``), the demand-weighted mean 2SFCA supply per person
        (``supply_per_person``) and its ratio to the norm (``supply_ratio``), the share of the
        demand whose own supply ratio reaches the norm (``demand_share_enough``), the norm, its
        source and the method.
    """
    rows = []
    for key, category in profile.categories.items():
        spec = category.capacity
        if spec is None:
            continue
        group = norm_group(profile, key)
        columns = schema.supply_columns(key)
        per_person = spec.norm.per_person if spec.norm is not None else np.nan
        inside = facilities.get(key, pd.DataFrame(columns=[schema.CAPACITY, schema.SUB_DISTRICT]))
        for area in areas:
            here = compounds if area == schema.ALL_AREAS else (
                compounds[compounds[schema.SUB_DISTRICT] == area]
            )
            venues = inside if area == schema.ALL_AREAS else (
                inside[inside[schema.SUB_DISTRICT] == area]
            )
            rows.append(_supply_row(area, key, group, here, venues, columns, per_person, spec))
    return pd.DataFrame(rows)


def _supply_row(
    area: str,
    key: str,
    group: str,
    here: pd.DataFrame,
    venues: pd.DataFrame,
    columns: schema.SupplyColumns,
    per_person: float,
    spec: Capacity,
) -> dict:
    demand = here[schema.demand_column(group)].astype(float)
    total = float(demand.sum(min_count=1)) if len(demand) else np.nan
    capacity = pd.Series(capacity_figures(venues, schema.CAPACITY, key), index=venues.index)
    capacity_inside = float(capacity.sum(min_count=1)) if len(capacity) else 0.0
    required = total * per_person
    weighted = float((demand * here[columns.supply].astype(float)).sum(min_count=1))
    supply = weighted / total if total else np.nan
    enough = here[columns.enough].astype(bool)
    norm = spec.norm
    return {
        "area": area,
        "category": key,
        "demand_group": group,
        "demand": total,
        "facilities_inside": len(venues),
        "facilities_without_capacity": int(capacity.isna().sum()),
        "capacity_inside": capacity_inside,
        "capacity_required": required,
        "container_ratio": capacity_inside / required if required else np.nan,
        "supply_per_person": supply,
        "supply_ratio": supply / per_person if per_person and not math.isnan(supply) else np.nan,
        "demand_share_enough": float(demand[enough].sum() / total) if total and norm else np.nan,
        "unit": f"{spec.unit.zh} / {spec.unit.en}",
        "norm": f"{norm.value:g} per {norm.per:g} ({group})" if norm else "",
        "norm_source": norm.source if norm else "",
        "method": spec.method,
    }
